"""Prometheus metrics scraped from a real `gridgate run` process reading a camera of passes."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import tomli_w
from gpiozero.pins.mock import MockFactory
from prometheus_client.parser import text_string_to_metric_families

from edge.app import GateApp
from edge.settings import load_settings
from gate.errors import GridgateError
from tests.edge.test_run_process import _gate, _gridgate
from tests.fixtures.broker import free_port


def scrape(port: int) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Every sample by name and labels."""
    response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    response.raise_for_status()
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            key = tuple(sorted(sample.labels.items()))
            samples.setdefault(sample.name, {})[key] = sample.value
    return samples


def with_metrics(config: Path, port: int) -> None:
    import tomllib

    data = tomllib.loads(config.read_text())
    data["metrics"] = {"enabled": True, "port": port}
    config.write_text(tomli_w.dumps(data))


def test_metrics_while_the_gate_runs(tmp_path: Path) -> None:
    config = _gate(tmp_path, loop=True)
    port = free_port()
    with_metrics(config, port)
    process = subprocess.Popen(_gridgate("run", "--config", str(config), "--mock-gpio", "--json"),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
        while time.monotonic() < deadline:
            try:
                samples = scrape(port)
            except httpx.HTTPError:
                samples = {}
            granted = samples.get("gridgate_decisions_total", {}).get(
                (("reader", "out-cam"), ("result", "granted"), ("rule", "green.out")), 0)
            decoded = samples.get("gridgate_reader_decode_seconds_count", {}).get(
                (("reader", "out-cam"),), 0)
            if granted >= 3 and decoded >= 6:  # each counter at its own pace: wait for both
                break
            time.sleep(0.3)
        else:
            pytest.fail(f"no 3 decisions and 6 frames scraped in 60 s: {sorted(samples)}")
        reader = (("reader", "out-cam"),)
        print("scraped:", {k: v for k, v in samples.items() if k.startswith("gridgate_reader")})
        assert samples["gridgate_reader_frames_per_second"][reader] > 1
        assert samples["gridgate_reader_camera_up"][reader] == 1
        assert samples["gridgate_reader_decode_seconds_count"][reader] >= 6
        assert 0 < samples["gridgate_reader_decode_seconds_sum"][reader] < 60
        latency = samples["gridgate_decision_latency_seconds_count"][reader]
        assert latency >= 3
        assert 0 < samples["gridgate_decision_latency_seconds_sum"][reader] < 10 * latency
        assert samples["gridgate_decision_latency_seconds_bucket"][
            (("le", "+Inf"), ("reader", "out-cam"))] == latency
        assert samples["gridgate_journal_bytes"][()] > 0
        assert samples["gridgate_disk_free_bytes"][()] > 0
        assert samples["gridgate_face_encoder"][(("engine", "none"),)] == 1
        [(labels, value)] = samples["gridgate_info"].items()
        assert dict(labels)["gate"] == "gate-test" and dict(labels)["version"] and value == 1
        assert "gridgate_outbox_waiting" not in samples  # no platform link configured
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert f"metrics: http://127.0.0.1:{port}/metrics" in err


def test_metrics_with_the_platform_link_and_a_taken_port(tmp_path: Path) -> None:
    config = _gate(tmp_path, loop=False)
    port = free_port()
    with_metrics(config, port)
    import tomllib

    data = tomllib.loads(config.read_text())
    data["mqtt"] = {"enabled": True, "host": "127.0.0.1", "port": free_port(),
                    "reconnect_min_s": 5}
    config.write_text(tomli_w.dumps(data))
    settings = load_settings(config)
    with GateApp(settings, pin_factory=MockFactory()) as app:
        samples = scrape(port)
        assert samples["gridgate_broker_connected"][()] == 0  # nothing listens on that port
        assert samples["gridgate_outbox_waiting"][()] == 0
        assert samples["gridgate_outbox_oldest_age_seconds"][()] == 0
        assert "gridgate_decisions_total" not in samples  # no decision yet: no series
        assert app.metrics_port == port
        # A second gate on the same port: a clear error, and its doors were locked again.
        with pytest.raises(GridgateError, match=f"cannot serve metrics on 127.0.0.1:{port}"):
            GateApp(settings.model_copy(update={"storage": settings.storage.model_copy(
                update={"state_dir": tmp_path / "other"})}), pin_factory=MockFactory())
    with pytest.raises(httpx.HTTPError):
        scrape(port)  # closed with the gate

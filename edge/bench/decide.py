"""`gridgate bench decide`: from the camera's capture to the relay pin, as a resident waits.

The scenario videos are played as cameras deliver them: each frame is captured when it is due
at the configured fps (vision/sources.py stamps it then, before decoding), a thread keeps only
the newest frame for the reader (vision/newest.py), and the gate runs as `gridgate run` runs it
(GateApp's reader threads) on gpiozero's MockFactory. A grant's latency runs from the capture
of the frame it was decided on to the relay pin's change as the mock pin records it; the
journal's commit comes after, and is reported apart. With `--peer-rate`, a stand-in peer gate's
signed passages are applied at that rate meanwhile (the compound link at work).
"""

from __future__ import annotations

import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import numpy as np
from gpiozero.pins.mock import MockFactory, MockPin

from edge.app import GateApp
from edge.cli.output import emit_json
from edge.demo.scenario import build_scenario, write_config
from edge.settings import load_settings
from gate.checkpoint import Outcome
from gate.clock import SystemClock
from gate.passes import TrustList, generate_signing_key
from gate.passes.keys import write_signing_key
from gate.store import gate_key_path
from sync.peer_feed import PeerFeed
from sync.topics import Topics

RESOLUTIONS = ((640, 480), (1280, 720))
FRAME_RATES = (15, 30)
PEER_GATE = "gate-north"


def _percentiles(values: list[float], name: str) -> dict[str, float | None]:
    if not values:
        return {f"{name}_p50_ms": None, f"{name}_p95_ms": None}
    array = np.array(values) * 1000
    return {f"{name}_p50_ms": round(float(np.percentile(array, 50)), 2),
            f"{name}_p95_ms": round(float(np.percentile(array, 95)), 2)}


class RelayWatch:
    """When each relay pin last went on, read from the mock pin's own record of its states
    (times between changes), counted from when the record was cleared."""

    def __init__(self, pins: dict[str, MockPin]) -> None:
        self.pins = pins
        self.cleared: dict[str, float] = {}
        self.seen: dict[str, int] = {}
        for reader, pin in pins.items():
            self.cleared[reader] = time.monotonic()
            pin.clear_states()
            self.seen[reader] = 1

    def new_release(self, reader: str) -> float | None:
        """The time the reader's relay went on since last asked; None when it did not change
        (it was still released from the grant before)."""
        states = list(self.pins[reader].states)
        at = self.cleared[reader]
        found = None
        for index, state in enumerate(states):
            at += state.timestamp
            if index >= self.seen[reader] and state.state:
                found = at
        self.seen[reader] = len(states)
        return found


@dataclass
class Samples:
    """What one configuration measured."""

    capture_to_relay: list[float] = field(default_factory=list)
    capture_to_decision: list[float] = field(default_factory=list)
    relay_to_journaled: list[float] = field(default_factory=list)
    frame_age: list[float] = field(default_factory=list)
    relay_still_released: int = 0
    frames: int = 0
    dropped: int = 0
    decode_s: float = 0.0
    peer_passages: int = 0


def _scenario(root: Path, width: int, height: int, fps: int, peer_rate: float) -> Path:
    """The demo scenario at this size and fps, short door times (each grant moves the relay),
    and, for peer traffic, a gate key and a trust list that knows the stand-in peer gate."""
    scenario = build_scenario(root, width=width, height=height, fps=fps)
    sections: dict[str, Any] = {"door": {"open_seconds": 0.3}}
    if peer_rate:
        # A broker nobody runs: the gate's link keeps trying while peers arrive by hand.
        sections["mqtt"] = {"enabled": True, "host": "127.0.0.1", "port": 9,
                            "reconnect_min_s": 1.0, "reconnect_max_s": 5.0}
        state = root / "state"
        if not gate_key_path(state).exists():
            write_signing_key(generate_signing_key(), gate_key_path(state))
    write_config(scenario, sections=sections)
    return scenario.config_path


def play(config: Path, fps: int, rounds: int, peer_rate: float) -> Samples:
    """Play the scenario `rounds` times through a running gate and collect its timings."""
    settings = load_settings(config)
    peer_key = generate_signing_key()
    if peer_rate:
        trust = TrustList.load(Path(settings.passes.trust_list))
        trust.add(peer_key.key_id, peer_key.public_key, "gate", gate_id=PEER_GATE)
        trust.save(Path(settings.passes.trust_list))
    samples = Samples()
    for _ in range(rounds):
        # A fresh journal each round, so the same residents get the same decisions again.
        for f in Path(settings.storage.state_dir).glob("gridgate.db*"):
            f.unlink()
        with GateApp(settings, clock=SystemClock(), pin_factory=MockFactory()) as app:
            _round(app, fps, peer_rate, peer_key, samples)
    return samples


def _round(app: GateApp, fps: int, peer_rate: float, peer_key: Any, samples: Samples) -> None:
    readers = [r.reader_id for r in app.settings.readers]
    relays = RelayWatch({r: app.doors[r].relay.pin for r in readers})
    decided_at: dict[int, float] = {}

    def first(outcome: Outcome) -> None:  # the reader's thread, right after the relay
        reader = outcome.observation.reader.reader_id
        captured = outcome.observation.captured
        if captured is None:
            return
        samples.capture_to_decision.append(outcome.acted_at - captured)
        samples.frame_age.append(app.pipelines[reader].stats.frame_age_s)
        if not outcome.released:
            return
        relay_at = relays.new_release(reader)
        if relay_at is None:
            samples.relay_still_released += 1
            return
        samples.capture_to_relay.append(relay_at - captured)
        decided_at[id(outcome.observation)] = relay_at

    def journaled(outcome: Outcome) -> None:  # after the passage's transaction committed
        relay_at = decided_at.pop(id(outcome.observation), None)
        if relay_at is not None and outcome.events:
            samples.relay_to_journaled.append(time.monotonic() - relay_at)

    app.checkpoint.add_listener(first, before_record=True)
    app.add_outcome_listener(journaled)
    ended: set[str] = set()
    done = threading.Event()

    def on_ended(reader: str) -> None:
        ended.add(reader)
        if ended >= set(readers):
            done.set()

    stop_peers = threading.Event()
    feeder = None
    sent: list[int] = []
    if peer_rate and app.sync is not None and app.sync.peers is not None:
        link = app.sync.peers
        feed = PeerFeed(peer_key, Topics(app.settings.mqtt.prefix, app.settings.gate.compound_id,
                                         PEER_GATE), SystemClock())
        feeder = threading.Thread(target=lambda: sent.append(
            feed.deliver(peer_rate, link.process, stop_peers)), daemon=True)
    app.start_readers(realtime=True, on_ended=on_ended,
                      on_error=lambda reader, exc: on_ended(reader))
    if feeder is not None:
        feeder.start()
    done.wait(timeout=600)
    stop_peers.set()
    if feeder is not None:
        feeder.join(5)
        samples.peer_passages += sum(sent)
    app.wait(5)
    for reader in readers:
        stats = app.pipelines[reader].stats
        samples.frames += stats.frames
        samples.dropped += stats.dropped
        samples.decode_s += stats.decode_seconds


def summary(samples: Samples, fps: int, peer_rate: float) -> dict[str, Any]:
    """The figures of one configuration."""
    result: dict[str, Any] = {
        "fps": fps,
        **_percentiles(samples.capture_to_relay, "capture_to_relay"),
        **_percentiles(samples.capture_to_decision, "capture_to_decision"),
        **_percentiles(samples.relay_to_journaled, "relay_to_journaled"),
        **_percentiles(samples.frame_age, "frame_age_at_decision"),
        "grants": len(samples.capture_to_relay),
        "decisions": len(samples.capture_to_decision),
        "relay_still_released": samples.relay_still_released,
        "frames": samples.frames, "frames_dropped": samples.dropped,
        "decode_ms_mean": round(samples.decode_s / max(1, samples.frames) * 1000, 2),
    }
    if peer_rate:
        result["peer_rate_per_s"] = peer_rate
        result["peer_passages"] = samples.peer_passages
    return result


def measure(width: int, height: int, fps: int, rounds: int, workdir: Path,
            peer_rate: float = 0.0) -> dict[str, Any]:
    """One resolution at one frame rate, `rounds` plays of the scenario."""
    config = _scenario(workdir / f"{width}x{height}-{fps}", width, height, fps, peer_rate)
    return summary(play(config, fps, rounds, peer_rate), fps, peer_rate)


@click.command("decide")
@click.option("--rounds", type=click.IntRange(1, 50), default=3, show_default=True,
              help="How many times to play the scenario per resolution and frame rate.")
@click.option("--fps", "rates", type=click.IntRange(1, 60), multiple=True,
              help="Frame rates to configure (repeatable; default 15 and 30).")
@click.option("--resolution", "sizes", type=click.Choice([f"{w}x{h}" for w, h in RESOLUTIONS]),
              multiple=True, help="Resolutions to play (repeatable; default all).")
@click.option("--peer-rate", type=click.FloatRange(0, 2000), default=0.0, show_default=True,
              help="Also play each with a peer gate's passages arriving at this rate a second.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (the default output anyway).")
def bench_decide(rounds: int, rates: tuple[int, ...], sizes: tuple[str, ...], peer_rate: float,
                 as_json: bool) -> None:
    """Time from the camera's capture to the relay pin (p50, p95) at 15 and 30 fps, the
    journal's commit after it, and the age of the frames decided on."""
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="gridgate-bench-") as tmp:
        for width, height in RESOLUTIONS:
            size = f"{width}x{height}"
            if sizes and size not in sizes:
                continue
            entry: dict[str, Any] = {}
            for fps in rates or FRAME_RATES:
                entry[f"{fps}fps"] = measure(width, height, fps, rounds, Path(tmp))
                if peer_rate:
                    entry[f"{fps}fps_peers"] = measure(width, height, fps, rounds, Path(tmp),
                                                       peer_rate)
            # The headline: the highest frame rate played.
            top = entry[f"{max(rates or FRAME_RATES)}fps"]
            entry["capture_to_relay_p95_ms"] = top["capture_to_relay_p95_ms"]
            result[size] = entry
    emit_json(result)

"""`gridgate run` as the real process: decisions out, doors locked on exit, a kill loses nothing."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
import tomli_w

from gate.model import Colour
from gate.passes import PassClaims, encode_pass, qr_matrix, write_key_pair
from gate.passes.keys import load_signing_key

COMPOUND = "wenjiang-01"


def _frame_with(text: str | None) -> np.ndarray:
    frame = np.full((480, 640, 3), 190, np.uint8)
    if text is not None:
        modules = np.pad(qr_matrix(text), 4, constant_values=False)
        code = np.where(modules, 0, 255).astype(np.uint8)
        code = cv2.resize(code, None, fx=5, fy=5, interpolation=cv2.INTER_NEAREST)
        h, w = code.shape
        frame[40:40 + h, 120:120 + w] = cv2.cvtColor(code, cv2.COLOR_GRAY2BGR)
    return frame


def _gate(tmp_path: Path, *, loop: bool, people: int = 3) -> Path:
    """A gate whose one 'out' camera is a folder: each resident's pass, then an empty scene."""
    write_key_pair(tmp_path / "keys")
    key = load_signing_key(tmp_path / "keys" / "signing.key")
    now = datetime.now(UTC)
    frames = tmp_path / "camera"
    frames.mkdir()
    for i in range(people):
        claims = PassClaims(pass_id=f"pass-{i}", person_id=f"p-{i}", household_id=f"h-{i}",
                            compound_id=COMPOUND, colour=Colour.GREEN, issued_at=now,
                            not_before=now - timedelta(hours=1),
                            expires_at=now + timedelta(days=1))
        cv2.imwrite(str(frames / f"{i:03d}a.png"), _frame_with(encode_pass(claims, key)))
        cv2.imwrite(str(frames / f"{i:03d}b.png"), _frame_with(None))
    config = {
        "gate": {"gate_id": "gate-test", "compound_id": COMPOUND},
        "readers": [{"reader_id": "out-cam", "direction": "out", "camera": str(frames),
                     "loop": loop, "fps": 20, "relay_pin": 18}],
        "door": {"open_seconds": 0.2},
        "storage": {"state_dir": str(tmp_path / "state")},
        "passes": {"trust_list": str(tmp_path / "keys" / "signing.pub")},
    }
    path = tmp_path / "gridgate.toml"
    path.write_text(tomli_w.dumps(config))
    return path


def _gridgate(*args: str) -> list[str]:
    return [sys.executable, "-m", "edge.cli.main", *args]


def _passages(tmp_path: Path) -> list[tuple[str, int]]:
    with sqlite3.connect(tmp_path / "state" / "gridgate.db") as db:
        return db.execute("SELECT person_id, granted FROM passages ORDER BY id").fetchall()


def test_run_decides_every_pass_then_ends_with_the_camera(tmp_path: Path) -> None:
    config = _gate(tmp_path, loop=False)
    done = subprocess.run(_gridgate("run", "--config", str(config), "--mock-gpio", "--json"),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(r["person"], r["granted"], r["rule"]) for r in records] == [
        (f"p-{i}", True, "green.out") for i in range(3)]
    assert _passages(tmp_path) == [("p-0", 1), ("p-1", 1), ("p-2", 1)]


def test_sigterm_stops_cleanly_and_sigkill_loses_no_committed_passage(tmp_path: Path) -> None:
    config = _gate(tmp_path, loop=True, people=2)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(_gridgate("run", "--config", str(config), "--mock-gpio", "--json"),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert process.stdout is not None
    first = json.loads(process.stdout.readline())  # blocks until the first decision
    assert first["granted"] is True
    process.send_signal(signal.SIGTERM)
    assert process.wait(20) == 0
    recorded = _passages(tmp_path)
    assert recorded and recorded[0] == ("p-0", 1)

    # Killed without warning while deciding: every decision it printed is in the journal, and
    # the database opens cleanly afterwards.
    process = subprocess.Popen(_gridgate("run", "--config", str(config), "--mock-gpio", "--json"),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert process.stdout is not None
    printed = [json.loads(process.stdout.readline()) for _ in range(2)]
    time.sleep(0.1)
    process.kill()
    process.wait(10)
    with sqlite3.connect(tmp_path / "state" / "gridgate.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert len(_passages(tmp_path)) >= len(recorded) + len(printed)


def test_a_broken_config_names_the_key_and_opens_nothing(tmp_path: Path) -> None:
    config = _gate(tmp_path, loop=False)
    config.write_text(config.read_text().replace("relay_pin = 18", "relay_pin = 99"))
    done = subprocess.run(_gridgate("run", "--config", str(config), "--mock-gpio"),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "relay_pin" in done.stderr and "99" in done.stderr
    assert not (tmp_path / "state" / "gridgate.db").exists()


@pytest.mark.parametrize("content", ["[gate\n", ""])
def test_unparsable_or_empty_config(tmp_path: Path, content: str) -> None:
    config = tmp_path / "gridgate.toml"
    config.write_text(content)
    done = subprocess.run(_gridgate("run", "--config", str(config), "--mock-gpio"),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and str(config) in done.stderr
    assert "Traceback" not in done.stderr

"""Two real `gridgate run` processes of one compound on one Mosquitto: a yellow exit at gate-a
uses up the household's quota at gate-b, which joins later with a fresh state and catches up;
a partition (the broker stopped) ends with the same passages at both and one quota conflict."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import pytest
import tomli_w

from gate.model import Colour
from gate.passes import PassClaims, encode_pass
from gate.passes.keys import write_signing_key
from gate.store import gate_key_path
from tests.edge.test_run_process import _frame_with
from tests.fixtures.broker import Broker
from tests.sync.peer_gate import GATE_KEYS, compound_trust
from tests.sync.support import COMPOUND, PLATFORM_KEY, PREFIX, wait_until

pytestmark = [pytest.mark.broker, pytest.mark.slow]
FPS = 10


def _gate(root: Path, gate: str, broker: Broker,
          frames: list[str | None] | None = None) -> Path:
    """A gate whose one 'out' camera is a folder of frames (a pass text, or nothing), or
    without `frames` a `Camera` the test points at passes while the gate runs."""
    home = root / gate
    camera = home / "camera"
    camera.mkdir(parents=True)
    for i, text in enumerate(frames or [None]):
        cv2.imwrite(str(camera / f"{i:04d}.png"), _frame_with(text))
    compound_trust().save(home / "trust.json")
    write_signing_key(GATE_KEYS[gate], gate_key_path(home / "state"))
    config = {
        "gate": {"gate_id": gate, "compound_id": COMPOUND},
        "readers": [{"reader_id": "out-cam", "direction": "out", "camera": str(camera),
                     "loop": frames is None, "fps": FPS, "relay_pin": 18}],
        "door": {"open_seconds": 0.2},
        "storage": {"state_dir": str(home / "state")},
        "passes": {"trust_list": str(home / "trust.json")},
        "mqtt": {"enabled": True, "host": broker.host, "port": broker.port, "prefix": PREFIX,
                 "client_id": f"process-{gate}", "reconnect_min_s": 0.1,
                 "reconnect_max_s": 0.5},
    }
    path = home / "gridgate.toml"
    path.write_text(tomli_w.dumps(config))
    return path


def _pass(person: str, household: str = "h-7", colour: Colour = Colour.YELLOW) -> str:
    now = datetime.now(UTC)
    return encode_pass(PassClaims(
        pass_id=f"pass-{person}", person_id=person, household_id=household,
        compound_id=COMPOUND, colour=colour, issued_at=now, not_before=now - timedelta(hours=1),
        expires_at=now + timedelta(days=1), grid_id="grid-7"), PLATFORM_KEY)


def _run(config: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "edge.cli.main", "run", "--config",
                             str(config), "--mock-gpio", "--json"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


def _rows(config: Path, sql: str) -> list[tuple[object, ...]]:
    db_path = config.parent / "state" / "gridgate.db"
    if not db_path.exists():
        return []
    with sqlite3.connect(db_path, timeout=10) as db:
        try:
            return db.execute(sql).fetchall()
        except sqlite3.OperationalError:
            return []  # not created yet


def test_two_gridgate_run_processes_share_a_household_s_quota(own_broker: Broker,
                                                               tmp_path: Path) -> None:
    # gate-a: y1 of h-7 leaves at once; the gate keeps running a while (empty frames).
    a_config = _gate(tmp_path, "gate-a", own_broker,
                     [None, _pass("y1"), *[None] * (12 * FPS)])
    # gate-b, started later with a fresh state: y2 of h-7 comes after 4 s of empty frames.
    b_config = _gate(tmp_path, "gate-b", own_broker,
                     [*[None] * (4 * FPS), _pass("y2"), *[None] * FPS])
    a = _run(a_config)
    b: subprocess.Popen[str] | None = None
    try:
        assert a.stdout is not None
        first = json.loads(a.stdout.readline())
        assert (first["person"], first["granted"], first["rule"]) == ("y1", True, "yellow.exit")
        wait_until(lambda: _rows(a_config, "SELECT count(*) FROM outbox WHERE sink = 'peer'")
                   == [(0,)], timeout=20, what="gate-a's passage at the broker")
        b = _run(b_config)
        assert b.stdout is not None
        decided = json.loads(b.stdout.readline())
        # gate-b never saw y1 itself: it asked gate-a on connecting, and counted y1's exit.
        assert (decided["person"], decided["granted"], decided["rule"]) == (
            "y2", False, "yellow.household_quota")
        assert b.wait(30) == 0, b.stderr.read() if b.stderr else ""
        assert _rows(b_config, "SELECT person_id, gate_id, origin_seq IS NOT NULL FROM passages "
                     "ORDER BY order_at") == [("y1", "gate-a", 1), ("y2", "gate-b", 0)]
        # gate-a, still running, hears gate-b's refused attempt too (the compound's trajectory).
        wait_until(lambda: ("y2",) in _rows(a_config, "SELECT person_id FROM passages"),
                   timeout=10, what="gate-b's passage at gate-a")
    finally:
        for process in (a, b):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(20)


class LiveGate:
    """A `gridgate run` process whose camera (a folder of one image, read again at every
    frame) the test points at a pass for a moment; its decisions from its --json output."""

    def __init__(self, config: Path) -> None:
        self.config = config
        self.frame = config.parent / "camera" / "0000.png"
        self.decisions: list[dict[str, object]] = []
        self.process = _run(config)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.decisions.append(json.loads(line))

    def _show(self, text: str | None) -> None:
        ok, png = cv2.imencode(".png", _frame_with(text))
        assert ok
        spare = self.frame.with_suffix(".next")  # not an image name: the folder's one stays
        spare.write_bytes(png.tobytes())
        os.replace(spare, self.frame)

    def show(self, person: str, **kinds: object) -> dict[str, object]:
        """`person`'s pass in front of the camera until the gate decided; the decision."""
        self._show(_pass(person, **kinds))  # type: ignore[arg-type]
        try:
            wait_until(lambda: any(d["person"] == person for d in self.decisions),
                       timeout=15, what=f"{person}'s decision at {self.config.parent.name}")
        finally:
            self._show(None)
        return next(d for d in self.decisions if d["person"] == person)

    def rows(self, sql: str) -> list[tuple[object, ...]]:
        return _rows(self.config, sql)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(20)


def test_a_partition_between_two_gridgate_run_processes_heals_with_one_quota_conflict(
        own_broker: Broker, tmp_path: Path) -> None:
    a = LiveGate(_gate(tmp_path, "gate-a", own_broker))
    b = LiveGate(_gate(tmp_path, "gate-b", own_broker))
    everything = "SELECT event_id, gate_id, person_id FROM passages"
    try:
        wait_until(lambda: a.rows("SELECT online FROM peer_states") == [(1,)]
                   and b.rows("SELECT online FROM peer_states") == [(1,)], timeout=30,
                   what="each gate hearing the other online")
        a.show("g1", household="h-1", colour=Colour.GREEN)
        wait_until(lambda: len(b.rows(everything)) == 1, timeout=10, what="g1 at gate-b")

        own_broker.stop()  # the partition: neither hears the other
        time.sleep(0.5)
        y1 = a.show("y1")
        y2 = b.show("y2")
        g2 = b.show("g2", household="h-2", colour=Colour.GREEN)
        # Neither gate could know of the other's exit: both let a member of h-7 out.
        assert (y1["granted"], y1["rule"]) == (True, "yellow.exit")
        assert (y2["granted"], y2["rule"]) == (True, "yellow.exit")
        assert g2["granted"] is True

        own_broker.start()  # healed (a broker without persistence: sessions forgotten)
        expected = {("gate-a", "g1"), ("gate-a", "y1"), ("gate-b", "y2"), ("gate-b", "g2")}
        wait_until(lambda: {(g, p) for _, g, p in a.rows(everything)} == expected
                   and {(g, p) for _, g, p in b.rows(everything)} == expected, timeout=30,
                   what="both journals holding every passage")
        conflicts = ("SELECT gate_id, household_id, message_en FROM alerts "
                     "WHERE kind = 'quota_conflict'")
        wait_until(lambda: len(a.rows(conflicts) + b.rows(conflicts)) == 1, timeout=15,
                   what="the quota conflict")
        time.sleep(2.0)  # catch-up answers and redeliveries settle: still one, nothing doubled
        assert len(a.rows(conflicts) + b.rows(conflicts)) == 1
        ((gate, household, message),) = a.rows(conflicts) + b.rows(conflicts)
        assert (gate, household) == ("gate-b", "h-7")  # its exit was the latest
        assert "y1@gate-a" in str(message) and "y2@gate-b" in str(message)
        assert sorted(a.rows(everything)) == sorted(b.rows(everything))  # same event ids
        assert len(a.rows(everything)) == len(expected)  # no passage twice
        assert len(a.decisions) == 2 and len(b.decisions) == 2  # nothing decided twice
    finally:
        a.stop()
        b.stop()

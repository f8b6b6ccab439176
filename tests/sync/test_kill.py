"""A gate process SIGKILLed at random points while publishing, 50 times, loses nothing."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gate.store import open_database
from tests.sync.support import TOPICS, Subscriber, start_broker, wait_until

pytestmark = [pytest.mark.broker, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
KILLS = 50


class Zygote:
    """The forking helper of tests/sync/gate_process.py, driven line by line."""

    def __init__(self, db: Path, port: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.sync.gate_process", str(db), str(port)],
            cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)

    def start(self, command: str, name: str) -> int:
        """Fork a gate; returns its pid once it says it is running."""
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(f"{command} {name}\n")
        self.process.stdin.flush()
        pid = None
        ready = False
        while pid is None or not ready:
            line = self.process.stdout.readline().split()
            assert line, "the zygote died"
            if line[:2] == ["pid", name]:
                pid = int(line[2])
            elif line[:2] == ["ready", name]:
                ready = True
        return pid

    def read_until(self, word: str) -> list[str]:
        assert self.process.stdout
        while True:
            line = self.process.stdout.readline().split()
            assert line, "the zygote died"
            if line[0] == word:
                return line

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        self.process.wait(10)


def test_a_gate_killed_50_times_while_publishing_loses_nothing(tmp_path: Path) -> None:
    broker = start_broker(tmp_path / "broker")
    sub = Subscriber(broker, client_id="kill-sub")
    db_path = tmp_path / "gate.db"
    zygote = Zygote(db_path, broker.port)
    rng = random.Random(20200213)
    try:
        for k in range(KILLS):
            pid = zygote.start("run", f"r{k}")
            time.sleep(rng.uniform(0.0, 0.1))
            os.kill(pid, signal.SIGKILL)
        zygote.start("drain", "final")
        assert zygote.read_until("drained")[2] == "0"
    finally:
        zygote.close()
    db = open_database(db_path)
    recorded = [r[0] for r in db.execute("SELECT event_id FROM door_events ORDER BY id")]
    db.close()
    assert len(recorded) > KILLS * 5, "the gates barely ran; the test proves nothing"
    wait_until(lambda: {e.event_id for e in sub.events()} >= set(recorded), timeout=20,
               what="every recorded event at the subscriber")
    events = sub.events()
    assert len(events) > len(recorded) + 5, "no kill hit a message in flight"  # resent ones
    seqs = sorted({e.seq for e in events})
    assert seqs == list(range(1, len(seqs) + 1))  # no sequence number missing either
    firsts: dict[str, int] = {}
    for e in events:
        firsts.setdefault(e.event_id, e.seq)
    assert [firsts[i] for i in recorded] == sorted(firsts[i] for i in recorded)
    # The broker told the platform each time the gate vanished (Last Will on the state topic).
    offline = [s for s in sub.on(TOPICS.state) if s["online"] is False]
    assert len(offline) >= KILLS // 2
    sub.close()
    broker.stop()

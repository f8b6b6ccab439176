"""The stand-in peer gate of benchmarks (sync/peer_feed.py): its passages are what a real gate
publishes, so a gate of the compound keeps every one, at the rate asked for."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from gpiozero.pins.mock import MockFactory

from edge.app import GateApp
from gate.clock import SystemClock
from sync.peer_feed import PeerFeed
from sync.topics import Topics
from tests.sync.peer_gate import GATE_KEYS, peer_settings, peers
from tests.sync.support import COMPOUND, PREFIX


def test_a_peer_feed_is_applied_whole_at_its_rate(tmp_path: Path) -> None:
    with GateApp(peer_settings(tmp_path, "gate-a", None), pin_factory=MockFactory()) as a:
        feed = PeerFeed(GATE_KEYS["gate-b"], Topics(PREFIX, COMPOUND, "gate-b"), SystemClock())
        stop = threading.Event()
        outcomes: list[str] = []
        sent: list[int] = []
        worker = threading.Thread(target=lambda: sent.append(feed.deliver(
            200.0, lambda topic, payload: outcomes.append(peers(a).process(topic, payload)),
            stop)))
        started = time.monotonic()
        worker.start()
        time.sleep(0.5)
        stop.set()
        worker.join(5)
        elapsed = time.monotonic() - started
        print(f"\npeer feed: {sent[0]} passages in {elapsed:.2f} s (asked 200/s)")
        assert 0.3 * 200 * elapsed <= sent[0] <= 200 * elapsed + 1
        assert outcomes == ["peer_applied"] * sent[0]
        rows = a.db.execute("SELECT count(*), min(origin_seq), max(origin_seq) FROM passages "
                            "WHERE gate_id = 'gate-b'").fetchone()
        assert rows == (sent[0], 1, sent[0])
        assert peers(a).high_water()["gate-b"].seq == sent[0]

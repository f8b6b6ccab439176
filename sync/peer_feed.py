"""Signed passages of a stand-in peer gate, at a steady rate: peer traffic for benchmarks (the
decision path with peer passages arriving) and tests. Each is what a real gate publishes on its
`peers/passages` topic, signed by the gate key given (which the receiving gate's trust list must
hold with scope "gate" and that gate id).

    feed = PeerFeed(GATE_KEY, Topics(prefix, compound, "gate-x"), clock)
    stop = threading.Event()
    threading.Thread(target=feed.deliver, args=(100.0, link.process, stop)).start()

`deliver(rate, send, stop)` calls `send(topic, payload)` (e.g. `PeerLink.process`, or a paho
client's `publish`) `rate` times a second until `stop` is set.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from gate.clock import Clock
from gate.journal.queries import utc_text
from gate.passes import SigningKey
from sync.peer_messages import passage_message
from sync.signing import sign_payload
from sync.topics import Topics


class PeerFeed:
    """Passages of the gate of `topics`: green residents coming in, one seq after another."""

    def __init__(self, key: SigningKey, topics: Topics, clock: Clock) -> None:
        self.key = key
        self.topics = topics
        self.clock = clock
        self.epoch = uuid.uuid4().hex
        self.seq = 0

    def next(self) -> tuple[str, bytes]:
        """The next passage: its topic and signed payload."""
        self.seq += 1
        at = utc_text(self.clock.now())
        row: dict[str, Any] = {
            "id": self.seq, "event_id": uuid.uuid4().hex, "at": at, "order_at": at,
            "gate_id": self.topics.gate_id, "reader_id": "in-cam", "direction": "in",
            "person_id": f"peer-{self.seq}", "household_id": f"peer-h-{self.seq % 500}",
            "grid_id": "grid-1", "pass_id": f"pass-peer-{self.seq}", "method": "pass",
            "colour": "green", "granted": True, "rule": "green.in", "reason_zh": "绿码通行",
            "reason_en": "green permit", "face_distance": None, "faces_in_view": 0,
            "actor": None}
        message = passage_message(row, compound_id=self.topics.compound_id, epoch=self.epoch)
        return self.topics.peer_passages, sign_payload(message, self.key)

    def deliver(self, rate: float, send: Callable[[str, bytes], object],
                stop: threading.Event) -> int:
        """Send `rate` passages a second (on a fixed schedule, not drifting) until `stop`;
        returns how many were sent."""
        interval = 1.0 / rate
        due = time.monotonic()
        sent = 0
        while not stop.is_set():
            send(*self.next())
            sent += 1
            due += interval
            stop.wait(max(0.0, due - time.monotonic()))
        return sent

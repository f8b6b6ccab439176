"""The platform side of the event stream: drop duplicates by event id, notice sequence gaps.

QoS 1 means at least once: after a reconnect or a crash the gate may send an event again.
Consumers keep the ids they have seen; the per-gate sequence tells them what is missing.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from sync.messages import EventMessage


@dataclass
class _GateStream:
    next_seq: int  # every seq below this was seen (or was before the consumer started)
    ahead: set[int] = field(default_factory=set)


@dataclass(frozen=True)
class Accepted:
    """What one event meant: new or a duplicate, and sequence numbers now known missing."""

    new: bool
    missing: tuple[tuple[int, int], ...] = ()  # inclusive ranges

    @property
    def duplicate(self) -> bool:
        return not self.new


class Deduper:
    """Remembers recent event ids (bounded) and each gate's sequence."""

    def __init__(self, memory: int = 500_000) -> None:
        self.memory = memory
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._streams: dict[tuple[str, str], _GateStream] = {}
        self.duplicates = 0

    def accept(self, message: EventMessage) -> Accepted:
        """Register one event message."""
        if message.event_id in self._seen:
            self.duplicates += 1
            return Accepted(False)
        self._seen[message.event_id] = None
        if len(self._seen) > self.memory:
            self._seen.popitem(last=False)
        key = (message.compound_id, message.gate_id)
        stream = self._streams.get(key)
        if stream is None:
            self._streams[key] = _GateStream(message.seq + 1)
            return Accepted(True)
        missing: tuple[tuple[int, int], ...] = ()
        if message.seq > stream.next_seq and not stream.ahead:
            missing = ((stream.next_seq, message.seq - 1),)
        if message.seq >= stream.next_seq:
            stream.ahead.add(message.seq)
        while stream.next_seq in stream.ahead:
            stream.ahead.discard(stream.next_seq)
            stream.next_seq += 1
        return Accepted(True, missing)

    def missing(self, compound_id: str, gate_id: str) -> list[int]:
        """Sequence numbers of one gate not seen, below the highest seen."""
        stream = self._streams.get((compound_id, gate_id))
        if stream is None or not stream.ahead:
            return []
        top = max(stream.ahead)
        return [s for s in range(stream.next_seq, top) if s not in stream.ahead]

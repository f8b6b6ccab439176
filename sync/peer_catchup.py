"""Catching up by request (docs/mqtt.md): asking the peers for the passages this gate misses,
and answering their requests with this gate's own, at most one answer a second per requester.

What a gate holds of a peer is a `Mark`: the newest seq of the peer's latest epoch it knows. A
peer whose journal is no longer in that epoch (its database made anew: its seqs start again at
1) answers with everything the rules look back on instead of what follows the seq."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gate.clock import Clock
from gate.journal.queries import utc_text
from gate.policy import Policy
from sync.peer_messages import MAX_HELD, CatchupRequest, ReplayDone, lookback
from sync.peer_store import Mark, PeerStore
from sync.topics import Topics

log = logging.getLogger(__name__)

MAX_REPLAY = 1000  # passages in one answer to a catch-up request
ANSWER_INTERVAL_S = 1.0  # at most one answer a second to each requester (later ones coalesce)
RETRY_S = 1.0  # a request that could not be sent is tried again after this


@dataclass
class _Pending:
    """An answer waiting for its turn."""

    request: CatchupRequest
    due: float


@dataclass
class _Ask:
    """A request to send (to one peer, or to all with None)."""

    due: float
    floor: dict[str, Mark] = field(default_factory=dict)  # never claim to hold above these


class CatchUp:
    """The catch-up requests and answers of one gate; run on the peer thread."""

    def __init__(self, *, store: PeerStore, topics: Topics, clock: Clock,
                 policy: Callable[[], Policy], publish: Callable[[str, dict[str, Any]], bool],
                 passage: Callable[[dict[str, Any], str], dict[str, Any]],
                 count: Callable[[str, int], str], linked: Callable[[], bool],
                 max_replay: int = MAX_REPLAY) -> None:
        self.store = store
        self.topics = topics
        self.clock = clock
        self.policy = policy
        self.publish = publish  # signs and publishes; False when the link is down
        self.passage = passage  # (own passage row, request id) -> its peer_passage message
        self.count = count
        self.linked = linked  # whether a session is up at all
        self.max_replay = max_replay
        self._asks: dict[str | None, _Ask] = {}
        self._answers: dict[str, _Pending] = {}
        self._answered_at: dict[str, float] = {}

    # -- asking -----------------------------------------------------------------------------

    def ask(self, to: str | None, delay: float = 0.0, floor: dict[str, Mark] | None = None,
            ) -> None:
        """Ask `to` (every peer with None) after `delay` s, claiming at most `floor`."""
        due = time.monotonic() + delay
        ask = self._asks.get(to)
        if ask is None:
            self._asks[to] = ask = _Ask(due)
        ask.due = min(ask.due, due)
        for gate, mark in (floor or {}).items():
            held = ask.floor.get(gate)
            if held is None or held.epoch != mark.epoch or mark.seq < held.seq:
                ask.floor[gate] = mark

    def ask_all_now(self, held: dict[str, Mark]) -> None:
        """A new connection: every peer, from what was held before it (sent at once)."""
        self._asks.pop(None, None)
        self.send(None, held)

    def send(self, to: str | None, held: dict[str, Mark]) -> bool:
        """Publish a request; False when the link is down."""
        request = {"type": "peer_catchup", "schema_version": 2,
                   "compound_id": self.topics.compound_id, "gate_id": self.topics.gate_id,
                   "request_id": uuid.uuid4().hex, "at": utc_text(self.clock.now()),
                   "held": {gate: {"epoch": mark.epoch, "seq": mark.seq}
                            for gate, mark in sorted(held.items())[:MAX_HELD]},
                   "to": None if to is None else [to]}
        sent = self.publish(self.topics.peer_catchup, request)
        if sent:
            self.count("catchup_sent", 1)
            log.info("asked %s for the passages missed (holding %s)", to or "every peer",
                     {g: m.seq for g, m in held.items()} or "none")
        return sent

    def done(self, done: ReplayDone) -> None:
        """The end of a peer's answer: ask again from its last passage while more wait."""
        if done.more and done.last_seq is not None:
            self.ask(done.gate_id, 0.0, {done.gate_id: Mark(done.epoch, done.last_seq)})

    # -- answering --------------------------------------------------------------------------

    def request(self, request: CatchupRequest) -> str:
        """A peer's request: answered in turn (a newer one from the same gate replaces it)."""
        if request.to is not None and self.topics.gate_id not in request.to:
            return self.count("catchup_not_for_us", 1)
        now = time.monotonic()
        last = self._answered_at.get(request.gate_id)
        due = now if last is None else max(now, last + ANSWER_INTERVAL_S)
        self._answers[request.gate_id] = _Pending(request, due)
        return self.count("catchup_received", 1)

    def answer(self, request: CatchupRequest) -> None:
        """Re-publish this gate's own passages the requester lacks (at most max_replay)."""
        held = request.held.get(self.topics.gate_id)
        after = held.seq if held is not None and held.epoch == self.store.epoch else None
        since = utc_text(self.clock.now() - lookback(self.policy()))
        rows = self.store.own_passages(after=after, since=since, limit=self.max_replay + 1)
        more = len(rows) > self.max_replay
        rows = rows[:self.max_replay]
        topic = self.topics.peer_replay(request.gate_id)
        for row in rows:
            if not self.publish(topic, self.passage(row, request.request_id)):
                return  # the link dropped: the requester asks again on its next connection
        done = {"type": "peer_replay_done", "schema_version": 2,
                "compound_id": self.topics.compound_id, "gate_id": self.topics.gate_id,
                "epoch": self.store.epoch, "request_id": request.request_id, "count": len(rows),
                "last_seq": int(rows[-1]["id"]) if rows else after, "more": more}
        if self.publish(topic, done):
            self.count("catchup_answered", 1)
            self.count("replay_sent", len(rows))
            log.info("answered %s's catch-up request with %d passages%s", request.gate_id,
                     len(rows), " (more follow on request)" if more else "")

    # -- the schedule -------------------------------------------------------------------------

    def next_due(self) -> float:
        """Seconds until something is due (at most 1)."""
        dues = [a.due for a in self._asks.values()] + [p.due for p in self._answers.values()]
        if not dues:
            return 1.0
        return min(1.0, max(0.01, min(dues) - time.monotonic()))

    def due(self) -> bool:
        now = time.monotonic()
        return any(a.due <= now for a in self._asks.values()) or any(
            p.due <= now for p in self._answers.values())

    def run_due(self) -> None:
        """Send the answers and requests whose time has come."""
        now = time.monotonic()
        for requester, pending in list(self._answers.items()):
            if pending.due <= now:
                del self._answers[requester]
                self._answered_at[requester] = now
                self.answer(pending.request)
        for to, ask in list(self._asks.items()):
            if ask.due <= now:
                if self.send(to, self._claim(ask.floor)) or not self.linked():
                    del self._asks[to]  # without a link, the next connection asks anyway
                else:
                    ask.due = now + RETRY_S

    def _claim(self, floor: dict[str, Mark]) -> dict[str, Mark]:
        """What to claim to hold: the marks, lowered to the floors of the same epoch."""
        held = self.store.marks()
        for gate, low in floor.items():
            mark = held.get(gate)
            if mark is None:
                if low.seq > 0:  # holding none of it: from the floor (else the look-back)
                    held[gate] = low
            elif mark.epoch == low.epoch and low.seq < mark.seq:
                held[gate] = low
        return held

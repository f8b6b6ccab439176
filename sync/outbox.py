"""The transactional outbox: a row per event and sink, written in the journal's own transaction.

The journal calls `Outbox.record` inside the transaction that writes the passage, alert or
door event, so an outbox row exists exactly when its journal row does, whatever happens to the
process. Senders (the MQTT publisher, webhook senders) read rows in order and delete a row only
after its receiver acknowledged it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from gate.clock import Clock
from gate.events import JournalEvent
from gate.journal import Journal
from gate.journal.queries import utc_text
from gate.store import immediate
from gate.vocabulary import EventType
from sync.bound import OutboxBound
from sync.messages import EventMessage, event_data
from sync.schema import MQTT_SINK, counter, migrate
from sync.sinks.formats import WebhookRoute
from sync.topics import Topics

log = logging.getLogger(__name__)

ROUTINE_TYPES = frozenset({EventType.DOOR})  # may be dropped when full; an alert says which
# Sent on the alert's own topic (its grid's): who hears an alert hears it answered and counted.
ALERT_TOPIC_TYPES = frozenset({EventType.ALERT, EventType.ALERT_ACK, EventType.ALERT_UPDATE})


@dataclass(frozen=True)
class OutboxRow:
    """One message waiting for one sink."""

    id: int
    seq: int
    event_id: str
    kind: str  # an EventType value, as stored
    topic: str
    payload: str
    attempts: int = 0
    next_attempt: float = 0.0


class Outbox:
    """Writes outbox rows for journal events and the link's own messages; wakes the senders."""

    def __init__(self, topics: Topics, *, clock: Clock, routes: Sequence[WebhookRoute] = (),
                 bound: OutboxBound | None = None, escalation_topic: str | None = None) -> None:
        self.topics = topics
        # Where escalated alerts go (gate/escalation.py); None: the alert's own topic.
        self.escalation_topic = escalation_topic
        self.clock = clock
        self.routes = list(routes)
        self.bound = bound
        self._wakers: list[Callable[[], None]] = []
        self._journal: Journal | None = None
        self._lock = threading.Lock()

    # -- writing -------------------------------------------------------------------------

    def attach(self, journal: Journal) -> None:
        """Create the tables and hook into every journal transaction (once per journal)."""
        migrate(journal.db)
        self._journal = journal
        journal.add_transaction_hook(self.record)
        journal.add_listener(self._after_commit)

    def add_waker(self, wake: Callable[[], None]) -> None:
        """Call `wake()` after new rows are committed (senders wait on it)."""
        self._wakers.append(wake)

    def record(self, db: Database, event: JournalEvent) -> None:
        """Transaction hook: the outbox rows of one journal event (same transaction)."""
        kind = event.kind
        at = datetime.fromisoformat(event.row["at"])
        if kind == EventType.ALERT and event.row.get("escalated") and self.escalation_topic:
            topic = self.escalation_topic
        elif kind in ALERT_TOPIC_TYPES:
            topic = self.topics.alerts_for(event.grid_id or event.row.get("grid_id"))
        else:
            topic = self.topics.events
        self._insert(db, kind, event.event_id, at, event_data(event.row), topic)

    def enqueue(self, db: Database, kind: EventType, event_id: str, data: dict[str, Any],
                topic: str) -> EventMessage:
        """The link's own message (snapshot request, command result) in its own transaction."""
        with self._lock, immediate(db):
            message = self._insert(db, kind, event_id, self.clock.now(), data, topic)
        self.wake()
        return message

    def _insert(self, db: Database, kind: EventType, event_id: str, at: datetime,
                data: dict[str, Any], topic: str) -> EventMessage:
        seq = db.execute("UPDATE sync_counters SET value = value + 1 WHERE name = 'seq' "
                         "RETURNING value").fetchone()[0]
        message = EventMessage(type=kind, event_id=event_id, gate_id=self.topics.gate_id,
                               compound_id=self.topics.compound_id, seq=seq, at=at, data=data)
        created = utc_text(self.clock.now())
        routine = int(kind in ROUTINE_TYPES)
        rows = [(MQTT_SINK, seq, event_id, kind, routine, topic, message.model_dump_json(),
                 created)]
        rows += [(route.sink, seq, event_id, kind, 0, "", route.body(message), created)
                 for route in self.routes if route.wants(message)]
        db.conn.executemany(
            "INSERT INTO outbox (sink, seq, event_id, kind, routine, topic, payload, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        if self.bound is not None:
            self.bound.enforce(db)
        return message

    def _after_commit(self, event: JournalEvent) -> None:
        self.wake()
        if self.bound is not None and self._journal is not None:
            alert = self.bound.pending_alert()
            if alert is not None:
                self._journal.record_alert(alert)

    def wake(self) -> None:
        """Tell every sender that rows may be waiting."""
        for wake in self._wakers:
            wake()

    # -- reading -------------------------------------------------------------------------

    @staticmethod
    def waiting(db: Database, sink: str | None = None) -> int:
        """Rows waiting (for one sink, or for all)."""
        if sink is None:
            return counter(db, "outbox_rows")
        return int(db.execute("SELECT count(*) FROM outbox WHERE sink = ?", [sink]).fetchone()[0])


def insert_row(db: Database, *, sink: str, seq: int, event_id: str, kind: str, topic: str,
               payload: str, created_at: str) -> None:
    """One row for a sender of its own (the peer link), inside the caller's transaction;
    never routine, so the storage bound never drops it."""
    db.conn.execute(
        "INSERT INTO outbox (sink, seq, event_id, kind, routine, topic, payload, created_at)"
        " VALUES (?, ?, ?, ?, 0, ?, ?, ?)", [sink, seq, event_id, kind, topic, payload, created_at])


def drop_older(db: Database, sink: str, before: datetime) -> int:
    """Forget a sink's rows created before `before` (one transaction); returns how many."""
    with immediate(db):
        return int(db.conn.execute("DELETE FROM outbox WHERE sink = ? AND created_at < ?",
                                   [sink, utc_text(before)]).rowcount)


def fetch(db: Database, sink: str, after_id: int, limit: int) -> list[OutboxRow]:
    """The next rows of a sink in sending order."""
    cursor = db.execute(
        "SELECT id, seq, event_id, kind, topic, payload, attempts, next_attempt FROM outbox "
        "WHERE sink = ? AND id > ? ORDER BY id LIMIT ?", [sink, after_id, limit])
    return [OutboxRow(*row) for row in cursor.fetchall()]


def delete(db: Database, ids: Sequence[int], chunk: int = 500) -> None:
    """Forget rows their receiver acknowledged (one transaction)."""
    if not ids:
        return
    with immediate(db):
        for start in range(0, len(ids), chunk):
            part = ids[start:start + chunk]
            db.conn.execute(f"DELETE FROM outbox WHERE id IN ({','.join('?' * len(part))})",
                            part)


def replace_payload(db: Database, row_id: int, payload: str) -> None:
    """Swap a row's payload (a too-large message becomes its stub)."""
    with immediate(db):
        db.conn.execute("UPDATE outbox SET payload = ? WHERE id = ?", [payload, row_id])


def bury(db: Database, row: OutboxRow, sink: str, error: str, when: datetime) -> None:
    """Move a row its receiver refused for good to outbox_dead (kept, never silently lost)."""
    with immediate(db):
        db.conn.execute(
            "INSERT OR REPLACE INTO outbox_dead (id, sink, seq, event_id, kind, topic, payload, "
            "created_at, failed_at, error) SELECT id, sink, seq, event_id, kind, topic, payload, "
            "created_at, ?, ? FROM outbox WHERE id = ?", [utc_text(when), error, row.id])
        db.conn.execute("DELETE FROM outbox WHERE id = ?", [row.id])


def requeue_dead(db: Database, event_ids: Sequence[str] | None = None) -> int:
    """Move rows from outbox_dead back to the end of the outbox (all, or these events);
    returns how many. A running gate picks them up within a second."""
    where, args = "", []
    if event_ids is not None:
        if not event_ids:
            return 0
        where, args = f" WHERE event_id IN ({','.join('?' * len(event_ids))})", list(event_ids)
    with immediate(db):
        moved = db.conn.execute(
            "INSERT INTO outbox (sink, seq, event_id, kind, routine, topic, payload, created_at) "
            f"SELECT sink, seq, event_id, kind, 0, topic, payload, created_at FROM outbox_dead"
            f"{where} ORDER BY id", args).rowcount
        db.conn.execute(f"DELETE FROM outbox_dead{where}", args)
    return int(moved)

"""Writing the journal: one transaction per record, with in-transaction hooks for the outbox."""

from __future__ import annotations

import logging
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from gate.clock import Clock
from gate.errors import JournalError
from gate.events import JournalEvent
from gate.journal import schema
from gate.journal.acks import acknowledge
from gate.journal.queries import JournalQueries, utc_text
from gate.journal.rows import PEER_COLUMNS, passage_row
from gate.model import AlertSpec, Decision, Person
from gate.observation import Observation
from gate.store import immediate
from gate.vocabulary import DoorEventKind, EventType

log = logging.getLogger(__name__)

TransactionHook = Callable[[Database, JournalEvent], None]
Listener = Callable[[JournalEvent], None]


def new_event_id() -> str:
    """A globally unique event id; consumers drop duplicates by it."""
    return uuid.uuid4().hex


class Journal(JournalQueries):
    """The gate's record of passages, alerts and door events.

    Transaction hooks run inside the same SQLite transaction as the row they describe, so an
    outbox row exists exactly when its journal row does. Listeners run after commit.
    """

    def __init__(self, db: Database, *, gate_id: str, clock: Clock) -> None:
        super().__init__(db)
        self.gate_id = gate_id
        self.clock = clock
        self._lock = threading.RLock()
        self._hooks: list[TransactionHook] = []
        self._listeners: list[Listener] = []
        self._last_order_at: str | None = None  # order_at of this gate's newest passage
        try:
            schema.migrate(db)
        except sqlite3.Error as exc:
            raise JournalError(f"cannot prepare the journal tables: {exc}") from exc

    def add_transaction_hook(self, hook: TransactionHook) -> None:
        """Run `hook(db, event)` inside the transaction of every record (e.g. the outbox)."""
        self._hooks.append(hook)

    def add_listener(self, listener: Listener) -> None:
        """Call `listener(event)` after every committed record (e.g. the panel's live feed)."""
        self._listeners.append(listener)

    @contextmanager
    def _transaction(self) -> Iterator[list[JournalEvent]]:
        events: list[JournalEvent] = []
        with self._lock:
            try:
                # IMMEDIATE takes the write lock before sqlite-utils' schema reads: a deferred
                # transaction that has read fails at once ("database is locked") when another
                # connection (the outbox publisher, the panel) commits before its first write.
                with immediate(self.db), self.db.atomic():  # a savepoint inside it
                    yield events
                    for event in events:
                        for hook in self._hooks:
                            hook(self.db, event)
            except sqlite3.Error as exc:
                # A full disk or a read-only file must surface as one clear error the caller
                # can act on (retry later), never as a half-written passage.
                raise JournalError(f"cannot write the journal: {exc}") from exc
        for event in events:
            for listener in self._listeners:
                try:
                    listener(event)
                except Exception:  # a broken listener must not break recording
                    log.exception("journal listener failed for event %s", event.event_id)

    def record_passage(
        self,
        observation: Observation,
        decision: Decision,
        person: Person | None = None,
        *,
        actor: str | None = None,
    ) -> list[JournalEvent]:
        """Record one decision as a passage, with its alerts, in one transaction."""
        row = passage_row(observation, decision, person, gate_id=self.gate_id,
                          event_id=new_event_id(), actor=actor)
        with self._transaction() as events:
            # Never ordered before a passage this gate recorded earlier (clock stepped back).
            row["order_at"] = max(row["at"], self._order_floor())
            passage_id = self.db.table("passages").insert({**row, "granted": int(decision.granted)}
                                                    ).last_pk
            self._last_order_at = row["order_at"]
            row = {"id": passage_id, **row}
            events.append(JournalEvent(row["event_id"], EventType.PASSAGE, row, row["grid_id"]))
            for spec in decision.alerts:
                events.append(self._insert_alert(
                    spec,
                    reader_id=row["reader_id"],
                    person_id=row["person_id"],
                    household_id=row["household_id"],
                    grid_id=row["grid_id"],
                    passage_id=passage_id,
                    at=observation.seen_at,
                ))
        return events

    def record_alert(
        self,
        spec: AlertSpec,
        *,
        reader_id: str | None = None,
        person_id: str | None = None,
        household_id: str | None = None,
        grid_id: str | None = None,
        passage_id: int | None = None,
    ) -> JournalEvent:
        """Record an alert raised apart from a decision (door forced, a bad document, a quota
        conflict found later about `passage_id`)."""
        with self._transaction() as events:
            events.append(self._insert_alert(
                spec, reader_id=reader_id, person_id=person_id, household_id=household_id,
                grid_id=grid_id, passage_id=passage_id, at=self.clock.now(),
            ))
        return events[0]

    def _insert_alert(self, spec: AlertSpec, *, passage_id: int | None, at: datetime,
                      **who: str | None) -> JournalEvent:
        row: dict[str, Any] = {
            "event_id": new_event_id(),
            "at": utc_text(at),
            "gate_id": self.gate_id,
            "reader_id": who.get("reader_id"),
            "kind": spec.kind,
            "severity": spec.severity.value,
            "person_id": who.get("person_id"),
            "household_id": who.get("household_id"),
            "grid_id": who.get("grid_id"),
            "passage_id": passage_id,
            "message_zh": spec.message_zh,
            "message_en": spec.message_en,
        }
        row = {"id": self.db.table("alerts").insert(row).last_pk, **row}
        return JournalEvent(row["event_id"], EventType.ALERT, row, row["grid_id"])

    def record_door_event(self, door: str, kind: DoorEventKind, detail: str = "",
                          actor: str | None = None) -> JournalEvent:
        """Record what a door did or had done to it."""
        row: dict[str, Any] = {
            "event_id": new_event_id(),
            "at": utc_text(self.clock.now()),
            "gate_id": self.gate_id,
            "door": door,
            "kind": kind,
            "detail": detail,
            "actor": actor,
        }
        with self._transaction() as events:
            row = {"id": self.db.table("door_events").insert(row).last_pk, **row}
            events.append(JournalEvent(row["event_id"], EventType.DOOR, row))
        return events[0]

    def _order_floor(self) -> str:
        if self._last_order_at is None:  # once per start: this gate's newest passage
            latest = self.db.execute("SELECT MAX(order_at) FROM passages "
                                     "WHERE received_at IS NULL").fetchone()[0]
            self._last_order_at = latest or ""
        return self._last_order_at

    def record_peer_passage(self, row: Mapping[str, Any], *, seq: int) -> bool:
        """Keep a passage another gate of the compound decided (its columns, PEER_COLUMNS);
        True when it is new, False for one already held (replays and redeliveries are
        harmless). It goes to no outbox: the gate that decided it sends it."""
        if row["gate_id"] == self.gate_id:
            raise ValueError(f"a peer passage cannot claim this gate's id {self.gate_id!r}")
        values = {name: row[name] for name in PEER_COLUMNS}
        values["granted"] = int(bool(values["granted"]))
        values |= {"origin_seq": seq, "received_at": utc_text(self.clock.now()),
                   "snapshot": None}
        names = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        with self._lock:
            try:
                with immediate(self.db):
                    cursor = self.db.execute(
                        f"INSERT OR IGNORE INTO passages ({names}) VALUES ({marks})",
                        list(values.values()))
            except sqlite3.Error as exc:
                raise JournalError(f"cannot write the journal: {exc}") from exc
        return cursor.rowcount == 1

    def peer_high_water(self) -> dict[str, int]:
        """The newest sequence number held of each peer gate (what catching up starts from)."""
        rows = self.db.execute(
            "SELECT gate_id, MAX(origin_seq) FROM passages WHERE origin_seq IS NOT NULL "
            "GROUP BY gate_id").fetchall()
        return {gate: int(seq) for gate, seq in rows}

    def acknowledge_alert(self, alert_id: int, by: str, comment: str = "") -> bool:
        """Mark an alert acknowledged; False when it does not exist or was already acknowledged."""
        return bool(self.acknowledge_alerts([alert_id], by, comment))

    def acknowledge_alerts(self, alert_ids: Iterable[int], by: str,
                           comment: str = "") -> list[JournalEvent]:
        """Acknowledge open alerts in one transaction, each with an `alert_ack` event for the
        platform (gate/journal/acks.py); alerts unknown or already acknowledged are skipped."""
        at = utc_text(self.clock.now())
        return self.write(lambda db: acknowledge(db, alert_ids, by=by, comment=comment, at=at,
                                                 gate_id=self.gate_id))

    def write(self, work: Callable[[Database], list[JournalEvent]]) -> list[JournalEvent]:
        """Run `work(db)` as one journal transaction: the events it returns go to the
        transaction hooks (the outbox) before commit and to the listeners after it."""
        with self._transaction() as events:
            events.extend(work(self.db))
        return events

    def insert_alert(self, spec: AlertSpec, *, at: datetime, passage_id: int | None = None,
                     **who: str | None) -> JournalEvent:
        """An alert row written by the work of `write`, inside its transaction."""
        return self._insert_alert(spec, passage_id=passage_id, at=at, **who)

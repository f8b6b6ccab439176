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
from gate.journal import chain, recent, schema
from gate.journal.acks import acknowledge
from gate.journal.codec import STORED, encode_door, encode_passage, id_bytes, to_us, us_text
from gate.journal.queries import JournalQueries, utc_text
from gate.journal.rows import PEER_COLUMNS, passage_row
from gate.model import AlertSpec, Decision, Person
from gate.observation import Observation
from gate.store import immediate
from gate.vocabulary import DoorEventKind, EventType

log = logging.getLogger(__name__)

TransactionHook = Callable[[Database, JournalEvent], None]
Listener = Callable[[JournalEvent], None]

_MARKS = ", ".join("?" * len(STORED))
_INSERT_PASSAGE = f"INSERT INTO passage_log ({', '.join(STORED)}) VALUES ({_MARKS})"
# A person's latest granted passage: an older one arriving late (a peer's) never replaces it.
_KEEP_LAST = (f"INSERT INTO passage_last ({', '.join(STORED)}) VALUES ({_MARKS}) "
              f"ON CONFLICT (person) DO UPDATE SET "
              f"{', '.join(f'{c} = excluded.{c}' for c in STORED if c != 'person')} "
              f"WHERE excluded.at + excluded.order_lag >= passage_last.at + passage_last.order_lag")
_GRANTED, _PERSON, _GATE = STORED.index("granted"), STORED.index("person"), STORED.index("gate")
_ALERT_COLUMNS = ("event_id", "at", "gate_id", "reader_id", "kind", "severity", "person_id",
                  "household_id", "grid_id", "passage_id", "message_zh", "message_en")


def new_event_id() -> str:
    """A globally unique event id; consumers drop duplicates by it."""
    return uuid.uuid4().hex


class Journal(JournalQueries):
    """The gate's record of passages, alerts and door events.

    Transaction hooks run inside the same SQLite transaction as the row they describe, so an
    outbox row exists exactly when its journal row does. Listeners run after commit.
    """

    def __init__(self, db: Database, *, gate_id: str, clock: Clock) -> None:
        try:
            schema.migrate(db)
        except sqlite3.Error as exc:
            raise JournalError(f"cannot prepare the journal tables: {exc}") from exc
        super().__init__(db)
        self.db = db
        self.gate_id = gate_id
        self.clock = clock
        self._lock = threading.RLock()
        self._hooks: list[TransactionHook] = []
        self._listeners: list[Listener] = []
        self._last_order_us: int | None = None  # order_at of this gate's newest passage
        self._batch: list[JournalEvent] | None = None  # events of an open batch()
        self._counters: dict[str, int] = {}  # journal_counters, inside a write transaction

    def add_transaction_hook(self, hook: TransactionHook) -> None:
        """Run `hook(db, event)` inside the transaction of every record (e.g. the outbox)."""
        self._hooks.append(hook)

    def add_listener(self, listener: Listener) -> None:
        """Call `listener(event)` after every committed record (e.g. the panel's live feed)."""
        self._listeners.append(listener)

    def sibling(self, db: Database) -> Journal:
        """The same journal through another connection, with the same hooks and listeners
        (background work, such as the daily prune, that must not hold this connection)."""
        other = Journal(db, gate_id=self.gate_id, clock=self.clock)
        other._hooks, other._listeners = self._hooks, self._listeners
        return other

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction on the journal's connection, for the gate's other tables that
        change with the journal (a wipe's face encodings); committed or rolled back whole."""
        with self._lock, self._write():
            yield self.db.conn

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Record many in one transaction (imports, the journal benchmark): each record is
        written as alone, listeners hear them all after the commit."""
        with self._lock:
            if self._batch is not None:
                yield
                return
            try:
                with self._write():
                    self._batch = []
                    yield
                events = self._batch
            finally:
                self._batch = None
        self._tell(events)

    @contextmanager
    def _write(self) -> Iterator[None]:
        """The write transaction (the open batch's, if any); call holding `_lock`."""
        if self._batch is not None:
            yield
            return
        try:
            # IMMEDIATE takes the write lock first: a deferred transaction that has read fails
            # at once ("database is locked") when another connection commits before its write.
            with immediate(self.db):
                # The counters (ids, the chain's head) live in memory for the transaction and
                # are written back once, before it commits.
                self._counters = dict(self.db.conn.execute(
                    "SELECT name, value FROM journal_counters"))
                start = dict(self._counters)
                self.book.check_epoch(self._counters.get("names_epoch", 0))
                yield
                self.db.conn.executemany(
                    "UPDATE journal_counters SET value = ? WHERE name = ?",
                    [(v, k) for k, v in self._counters.items() if start.get(k) != v])
        except BaseException as exc:
            self.book.forget()  # codes it learnt in the transaction were rolled back with it
            if not isinstance(exc, sqlite3.Error):
                raise
            # A full disk or a read-only file must surface as one clear error the caller
            # can act on (retry later), never as a half-written passage.
            raise JournalError(f"cannot write the journal: {exc}") from exc

    @contextmanager
    def _transaction(self) -> Iterator[list[JournalEvent]]:
        events: list[JournalEvent] = []
        with self._lock:
            with self._write():
                yield events
                self._run_hooks(events)
            if self._batch is not None:
                self._batch.extend(events)
                return
        self._tell(events)

    def _run_hooks(self, events: list[JournalEvent]) -> None:
        for event in events:
            for hook in self._hooks:
                hook(self.db, event)

    def _tell(self, events: list[JournalEvent]) -> None:
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
        with self._transaction() as events:
            events += self._add_passage(observation, decision, person, actor)
        return events

    def _add_passage(self, observation: Observation, decision: Decision, person: Person | None,
                     actor: str | None) -> list[JournalEvent]:
        """Write a passage and its alerts inside the open transaction; their events."""
        row = passage_row(observation, decision, person, gate_id=self.gate_id,
                          event_id=new_event_id(), actor=actor)
        # Never ordered before a passage this gate recorded earlier (clock stepped back).
        at, floor = to_us(row["at"]), self._order_floor()
        row["order_at"] = row["at"] if at >= floor else us_text(floor)
        passage_id = self._next("passage_id")
        row = {"id": passage_id, **row}
        seq, link = self._chain(chain.Table.PASSAGES, chain.passage_content(row))
        self._store_passage(encode_passage(self.book, row, passage_id=passage_id, seq=seq,
                                           link=link))
        self._last_order_us = max(at, floor)
        events = [JournalEvent(row["event_id"], EventType.PASSAGE, row, row["grid_id"])]
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

    def _store_passage(self, values: tuple[Any, ...]) -> None:
        conn = self.db.conn
        conn.execute(_INSERT_PASSAGE, values)
        recent.keep(conn, values, self._counters, now_us=to_us(self.clock.now()))
        if values[_GRANTED] and values[_PERSON]:  # someone's latest granted passage
            conn.execute(_KEEP_LAST, values)

    def _next(self, counter: str) -> int:
        value: int = self._counters[counter] + 1
        self._counters[counter] = value
        return value

    def _chain(self, table: str, content: list[Any]) -> tuple[int, int]:
        """The next place in the chain and the record's link (inside the transaction)."""
        seq = self._next("chain_seq")
        link = self._counters["chain_link"] = chain.link(self._counters["chain_link"], table,
                                                         seq, content)
        return seq, link

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
        conn = self.db.conn
        alert_id = conn.execute(
            f"INSERT INTO alerts ({', '.join(_ALERT_COLUMNS)}) VALUES "
            f"({', '.join('?' * len(_ALERT_COLUMNS))}) RETURNING id",
            [row[c] for c in _ALERT_COLUMNS]).fetchone()[0]
        row = {"id": alert_id, **row}
        seq, link = self._chain(chain.Table.ALERTS, chain.alert_content(row))
        conn.execute("UPDATE alerts SET seq = ?, link = ? WHERE id = ?", [seq, link, alert_id])
        return JournalEvent(row["event_id"], EventType.ALERT, row, row["grid_id"])

    def record_door_event(self, door: str, kind: DoorEventKind, detail: str = "",
                          actor: str | None = None) -> JournalEvent:
        """Record what a door did or had done to it."""
        with self._transaction() as events:
            events.append(self._add_door_event(door, kind, detail, actor))
        return events[0]

    def _add_door_event(self, door: str, kind: DoorEventKind, detail: str,
                        actor: str | None) -> JournalEvent:
        """Write a door event inside the open transaction; its event."""
        row: dict[str, Any] = {
            "event_id": new_event_id(),
            "at": utc_text(self.clock.now()),
            "gate_id": self.gate_id,
            "door": door,
            "kind": kind,
            "detail": detail,
            "actor": actor,
        }
        seq, link = self._chain(chain.Table.DOORS, chain.door_content(row))
        row = {"id": seq, **row}
        self.db.conn.execute("INSERT INTO door_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                             encode_door(self.book, row, link=link))
        return JournalEvent(row["event_id"], EventType.DOOR, row)

    def _order_floor(self) -> int:
        if self._last_order_us is None:  # once per start: this gate's newest passage
            row = self.db.conn.execute(
                "SELECT at + order_lag FROM passage_log WHERE seq = "
                "(SELECT max(seq) FROM passage_log WHERE seq IS NOT NULL)").fetchone()
            self._last_order_us = row[0] if row else 0
        return self._last_order_us

    def record_peer_passage(self, row: Mapping[str, Any], *, seq: int) -> bool:
        """Keep a passage another gate of the compound decided (its columns, PEER_COLUMNS,
        and `live_step` when its message named the live code it used); True when it is new,
        False for one already held (replays and redeliveries are harmless). It goes to no
        outbox and no chain: the gate that decided it signed it."""
        if row["gate_id"] == self.gate_id:
            raise ValueError(f"a peer passage cannot claim this gate's id {self.gate_id!r}")
        values = {name: row[name] for name in PEER_COLUMNS}
        values |= {"origin_seq": seq, "received_at": utc_text(self.clock.now()),
                   "snapshot": None, "live_step": row.get("live_step")}
        at, event_id = to_us(values["at"]), id_bytes(values["event_id"])
        with self._lock, self._write():
            conn = self.db.conn
            if conn.execute("SELECT 1 FROM passage_log WHERE at = ? AND event_id = ?",
                            [at, event_id]).fetchone():
                return False
            passage_id = self._next("passage_id")
            stored = encode_passage(self.book, values, passage_id=passage_id)
            self._store_passage(stored)
            conn.execute("INSERT INTO journal_peer_seq VALUES (?, ?) ON CONFLICT (gate) "
                         "DO UPDATE SET seq = max(seq, excluded.seq)", [stored[_GATE], seq])
        return True

    def peer_high_water(self) -> dict[str, int]:
        """The newest sequence number held of each peer gate (what catching up starts from)."""
        rows = self.db.execute(
            "SELECT n.name, s.seq FROM journal_peer_seq s JOIN journal_names n "
            "ON n.kind = 1 AND n.code = s.gate").fetchall()
        return {gate: int(seq) for gate, seq in rows if gate is not None}

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

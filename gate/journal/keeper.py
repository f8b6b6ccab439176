"""Records wait, in order, while the journal cannot be written: a full disk delays records and
never loses them.

Every passage, door event and alert of the gate goes through one keeper. The door events of a
grant are held while the relay moves (`holding`) and written with its passage, in one
transaction after the door was commanded: the door never waits on the disk. The checkpoint
queues a passage while it decides (`queue_passage`: the next decision counts it at once) and
writes it after (`write_queued`), so one lane's fsync never holds up another lane's door; the
queue has its own short lock for that. A write first writes whatever is waiting, oldest
first, then itself; one that fails is kept in memory (up to `limit`) and retried with the next
write and by `retry()`, which the gate calls every few seconds. When a write fails because
the disk is full, the keeper frees the disk reserve (gate/ballast.py) at once and raises one
`disk_full` alert, so the records and the alert reach the disk while the guards make room. At
stop, `close()` writes what it can and says at CRITICAL how many records are lost, and of
which kinds.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter, deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Protocol

from gate.ballast import Ballast, is_disk_full
from gate.errors import JournalError
from gate.events import JournalEvent
from gate.journal.journal import Journal
from gate.model import AlertSpec, Decision, Person, Severity
from gate.observation import Observation
from gate.vocabulary import AlertKind, DoorEventKind

log = logging.getLogger(__name__)
LIMIT = 10_000  # records kept in memory (a few MB); beyond it the oldest is dropped, at CRITICAL


@dataclass(frozen=True)
class PassageRecord:
    """A decided passage, as the journal will store it, with the records its door action made
    (written first, in the same transaction)."""

    observation: Observation
    decision: Decision
    person: Person | None
    actor: str | None
    before: tuple[Record, ...] = ()


@dataclass(frozen=True)
class DoorRecord:
    """A door event, as the journal will store it."""

    door: str
    kind: DoorEventKind
    detail: str
    actor: str | None


@dataclass(frozen=True)
class AlertRecord:
    """An alert not tied to a passage."""

    spec: AlertSpec
    reader_id: str | None = None
    person_id: str | None = None
    household_id: str | None = None
    grid_id: str | None = None
    passage_id: int | None = None


class LaterRecord(Protocol):
    """Written after the record it came from, in order (gate/alert_folding.py: counts)."""

    def after(self, events: list[JournalEvent]) -> LaterRecord:
        """Itself, told the events of the record it came from."""
        ...

    def write(self, journal: Journal) -> list[JournalEvent]:
        """Write itself in one journal transaction; its events."""
        ...


class Folding(Protocol):
    """Splits a record into what is written now and what follows it (alerts that fold)."""

    def split(self, record: PassageRecord | AlertRecord
              ) -> tuple[PassageRecord | AlertRecord | None, LaterRecord | None]: ...


Record = PassageRecord | DoorRecord | AlertRecord | LaterRecord


def _disk_full_alert(ballast: Ballast) -> AlertRecord:
    mb = ballast.size // 2**20
    return AlertRecord(AlertSpec(
        AlertKind.DISK_FULL, Severity.URGENT,
        f"闸机存储已满：已释放 {mb} MB 备用空间，请立即清理存储",
        f"the gate's storage is full: the {mb} MB reserve was freed; free space now"))


class RecordKeeper:
    """The one way records reach the journal; thread-safe."""

    def __init__(self, journal: Journal, *, ballast: Ballast | None = None,
                 limit: int = LIMIT) -> None:
        self.journal = journal
        self.ballast = ballast
        self.limit = limit
        self._waiting: deque[Record] = deque()
        # Two locks: decisions read what waits (`waiting_passages`) under the short queue lock,
        # and never wait for the write lock, which is held while the disk is written.
        self._queue_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._events: dict[int, list[JournalEvent]] = {}  # queued passages -> their events
        self.dropped = 0  # records given up because too many waited (never at close)
        self.folding: Folding | None = None  # repeated alerts become counts (alert_folding)
        self._held = threading.local()  # records this thread holds for its passage

    # -- writing ----------------------------------------------------------------------------

    @contextmanager
    def holding(self) -> Iterator[list[Record]]:
        """Records kept on this thread inside are held, not written (the door events of a
        release): pass them to `queue_passage(before=...)`. Held records of a block that raised
        are kept as usual."""
        held: list[Record] = []
        self._held.records = held
        try:
            yield held
        except BaseException:
            self._held.records = None
            for record in held:
                self._keep(record)
            raise
        finally:
            self._held.records = None

    def passage(self, observation: Observation, decision: Decision, person: Person | None,
                actor: str | None = None) -> list[JournalEvent]:
        """Record a passage with its alerts; its events, or [] while it waits."""
        return self._keep(PassageRecord(observation, decision, person, actor))

    def queue_passage(self, observation: Observation, decision: Decision, person: Person | None,
                      actor: str | None = None, *, before: Sequence[Record] = ()
                      ) -> PassageRecord:
        """Queue a passage, to be written after the records `before` in one transaction with
        them: from now on `waiting_passages` shows it, so decisions count it; `write_queued`
        writes it."""
        record = PassageRecord(observation, decision, person, actor, tuple(before))
        with self._queue_lock:
            self._events[id(record)] = []
            self._waiting.append(record)
        return record

    def write_queued(self, record: PassageRecord) -> list[JournalEvent]:
        """Write what waits, `record` among it; its events, or [] while it waits."""
        with self._write_lock:
            self._drain(None)
            with self._queue_lock:
                return self._events.pop(id(record), [])

    def door_event(self, door: str, kind: DoorEventKind, detail: str = "",
                   actor: str | None = None) -> None:
        """Record a door event (now, or once the journal can be written)."""
        self._keep(DoorRecord(door, kind, detail, actor))

    def alert(self, spec: AlertSpec, *, reader_id: str | None = None,
              person_id: str | None = None, household_id: str | None = None,
              grid_id: str | None = None, passage_id: int | None = None) -> list[JournalEvent]:
        """Record an alert raised apart from a decision; its event, or [] while it waits."""
        return self._keep(AlertRecord(spec, reader_id, person_id, household_id, grid_id,
                                      passage_id))

    def keep(self, record: LaterRecord) -> list[JournalEvent]:
        """Keep a record that writes itself (a door's mode: gate/door_modes.py) in order with
        the others: written now, or retried while the journal cannot be written."""
        return self._keep(record)

    def retry(self) -> int:
        """Write what waits; how many records still wait."""
        with self._write_lock:
            self._drain(None)
            return len(self._waiting)

    # -- what waits ---------------------------------------------------------------------------

    @property
    def waiting(self) -> int:
        """Records not yet written."""
        return len(self._waiting)

    def waiting_passages(self) -> list[PassageRecord]:
        """Passages not yet written, oldest first (decisions must still count them); one being
        written may be in the journal already."""
        with self._queue_lock:
            return [r for r in self._waiting if isinstance(r, PassageRecord)]

    def close(self) -> int:
        """Write what waits before the gate stops; logs at CRITICAL what could not be."""
        left = self.retry()
        if left:
            kinds = Counter(type(r).__name__.removesuffix("Record").lower()
                            for r in self._waiting)
            log.critical("stopping with %d records the journal could not write, lost: %s",
                         left, ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items())))
        return left

    # -- inside ---------------------------------------------------------------------------------

    def _keep(self, record: Record) -> list[JournalEvent]:
        held: list[Record] | None = getattr(self._held, "records", None)
        if held is not None:
            held.append(record)
            return []
        with self._write_lock:
            with self._queue_lock:
                self._waiting.append(record)
            return self._drain(record)

    def _drain(self, mine: Record | None) -> list[JournalEvent]:
        """Write the waiting records in order (holding the write lock); the events of `mine`
        if it was written."""
        events: list[JournalEvent] = []
        freed = False
        while self._waiting:
            record = self._waiting[0]  # only a drain removes from the left
            try:
                written = self._write(record)
            except JournalError as exc:
                if not freed and is_disk_full(exc) and self.ballast and self.ballast.release():
                    freed = True  # room for what waits and for saying so
                    with self._queue_lock:
                        self._waiting.insert(1, _disk_full_alert(self.ballast))
                    continue
                log.error("journal not writable, %d records wait: %s", len(self._waiting), exc)
                self._trim()
                break
            with self._queue_lock:
                self._waiting.popleft()
                if id(record) in self._events:
                    self._events[id(record)] = written
            if record is mine:
                events = written
        else:
            if self.ballast is not None and not self.ballast.held:
                self.ballast.lay()  # everything is written: be ready for the next time
        return events

    def _write(self, record: Record) -> list[JournalEvent]:
        if self.folding is None or not isinstance(record, PassageRecord | AlertRecord):
            return self._write_one(record)
        now, later = self.folding.split(record)
        events = self._write_one(now) if now is not None else []
        if later is not None:  # written next, before anything that waits behind it
            with self._queue_lock:
                self._waiting.insert(1, later.after(events))
        return events

    def _write_one(self, record: Record) -> list[JournalEvent]:
        j = self.journal
        if isinstance(record, PassageRecord) and record.before:
            with j.batch():  # one transaction: the door's events and the passage, or neither
                for first in record.before:
                    self._write_one(first)
                return self._write_one(replace(record, before=()))
        if isinstance(record, PassageRecord):
            return j.record_passage(record.observation, record.decision, record.person,
                                    actor=record.actor)
        if isinstance(record, DoorRecord):
            return [j.record_door_event(record.door, record.kind, record.detail, record.actor)]
        if not isinstance(record, AlertRecord):
            return record.write(j)
        return [j.record_alert(record.spec, reader_id=record.reader_id,
                               person_id=record.person_id, household_id=record.household_id,
                               grid_id=record.grid_id, passage_id=record.passage_id)]

    def _trim(self) -> None:
        while len(self._waiting) > self.limit:
            with self._queue_lock:
                dropped = self._waiting.popleft()
                self._events.pop(id(dropped), None)
            self.dropped += 1
            log.critical("journal unwritable too long; dropped a waiting %s",
                         type(dropped).__name__)

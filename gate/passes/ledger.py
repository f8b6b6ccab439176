"""The live codes the compound has let through: a pass's codes open in one direction only in
the order of their steps, each once.

The window accepts a code of the step before the gate's clock, so a screenshot of step S is
still good while the holder's phone shows S+1: once any code of the pass went through in a
direction, a code of that step or an older one is a copy and is refused there (a retry with
a newer code, 30 s later, opens).

A table of its own in the gate's database (migration `0001_livepass_live_codes`). The
checkpoint asks it before deciding and tells it each live code a granted passage used: held in
memory inside the decision, so the next decision at any lane refuses a copy at once, and written
right after it, outside, so no lane waits for another's fsync; the
peer link (sync/peers.py) adds the other gates' uses as their passages arrive (the step rides
on the passage itself, gate/journal/rows.py), so a screenshot that went through the east gate
is refused at the west gate too once the west gate heard of it. A use matters only while its
step can still be shown (the window is one step either side), so rows a few steps old are
pruned; a restart inside the window keeps them. A use that cannot be written (a full disk) is
kept in memory and still counts; it is written with the next one.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from gate.errors import JournalError
from gate.store import immediate, open_database, open_reader

log = logging.getLogger(__name__)

migrations = Migrations("gridgate.livepass")
KEEP_STEPS = 4  # steps behind the clock kept: the window (1) plus room for gates' clock skew
MAX_WAITING = 10_000  # uses kept in memory while the disk is full


@migrations(name="0001_livepass_live_codes")
def _live_codes(db: Database) -> None:
    db.execute(
        """
        CREATE TABLE live_codes (
            pass_id TEXT NOT NULL,
            step INTEGER NOT NULL,      -- unix seconds // 30 on the holder's phone
            direction TEXT NOT NULL,
            gate_id TEXT NOT NULL,      -- the gate that let it through
            at TEXT NOT NULL,           -- that passage's time, as the journal writes it
            PRIMARY KEY (pass_id, step, direction)
        ) WITHOUT ROWID
        """
    )
    db.execute("CREATE INDEX live_codes_step ON live_codes (step)")


_migrated: weakref.WeakSet[Database] = weakref.WeakSet()
_migrating = threading.Lock()


def migrate(db: Database) -> None:
    """Create the table where it is missing (once per connection)."""
    with _migrating:
        if db in _migrated:
            return
        try:
            migrations.apply(db)
        except sqlite3.Error as exc:
            raise JournalError(f"cannot prepare the live-code table: {exc}") from exc
        _migrated.add(db)


@dataclass(frozen=True)
class LiveUse:
    """A live code that let someone through."""

    pass_id: str
    step: int
    direction: str
    gate_id: str
    at: str  # the passage's time, UTC ISO text (gate.journal.queries.utc_text)


def record_use(db: Database, use: LiveUse, *, current_step: int | None = None) -> bool:
    """Write one use on `db` (this gate's or a peer's); True when it is new. A use older than
    what is kept is ignored: it can no longer be shown."""
    if current_step is not None and use.step < current_step - KEEP_STEPS:
        return False
    migrate(db)
    with immediate(db):
        return _insert(db, use)


def _insert(db: Database, use: LiveUse) -> bool:
    cursor = db.execute(
        "INSERT OR IGNORE INTO live_codes (pass_id, step, direction, gate_id, at) "
        "VALUES (?, ?, ?, ?, ?)", [use.pass_id, use.step, use.direction, use.gate_id, use.at])
    return cursor.rowcount == 1


class LiveCodeLedger:
    """The checkpoint's view of the used live codes, on connections of its own: one writes,
    the other reads, so a decision that asks never waits for a write's fsync (WAL)."""

    def __init__(self, db: Database, reader: sqlite3.Connection | None = None) -> None:
        self.db = db
        migrate(db)
        self._reader = reader if reader is not None else db.conn
        self._lock = threading.Lock()  # the uses held in memory
        self._writing = threading.Lock()
        self._waiting: dict[tuple[str, int, str], LiveUse] = {}  # not yet written

    @classmethod
    def open(cls, path: Path | str) -> LiveCodeLedger:
        """A ledger on connections of its own to the gate's database file."""
        return cls(open_database(path), open_reader(path))

    @classmethod
    def beside(cls, db: Database) -> LiveCodeLedger:
        """A ledger on the same database file as `db` (in memory when `db` has no file)."""
        row = db.execute("PRAGMA database_list").fetchone()
        path = row[2] if row else ""
        return cls.open(path) if path else cls(Database(memory=True))

    def close(self) -> None:
        if self._reader is not self.db.conn:
            self._reader.close()
        self.db.close()

    def newest(self, pass_id: str, direction: str) -> int | None:
        """The newest step of the pass's codes that let someone through in this direction, here
        or at another gate of the compound (None: none kept)."""
        with self._lock:
            waiting = [use.step for (p, _, d), use in self._waiting.items()
                       if p == pass_id and d == direction]
            row = self._reader.execute("SELECT max(step) FROM live_codes WHERE pass_id = ? "
                                       "AND direction = ?", [pass_id, direction]).fetchone()
        steps = waiting + ([int(row[0])] if row and row[0] is not None else [])
        return max(steps, default=None)

    def used(self, pass_id: str, step: int, direction: str) -> bool:
        """True when this code, or a newer one of the same pass, has let someone through in
        this direction: either way this one is spent (a copy of an older code included)."""
        newest = self.newest(pass_id, direction)
        return newest is not None and newest >= step

    def hold(self, use: LiveUse) -> None:
        """Count a use at once, in memory (the next decision refuses a copy); `write` keeps it."""
        with self._lock:
            self._waiting[(use.pass_id, use.step, use.direction)] = use

    def write(self, current_step: int) -> None:
        """Write the uses held, and prune old rows, in one transaction. A use leaves memory only
        once written; one that cannot be (a full disk) stays and still counts."""
        with self._writing:
            with self._lock:
                held = dict(self._waiting)
            try:
                with immediate(self.db):
                    for use in held.values():
                        _insert(self.db, use)
                    self.db.execute("DELETE FROM live_codes WHERE step < ?",
                                    [current_step - KEEP_STEPS])
            except (sqlite3.Error, JournalError) as exc:
                with self._lock:
                    log.error("live-code ledger not writable, %d uses wait in memory: %s",
                              len(self._waiting), exc)
                    while len(self._waiting) > MAX_WAITING:
                        self._waiting.pop(next(iter(self._waiting)))
                return
            with self._lock:
                for key, use in held.items():
                    if self._waiting.get(key) is use:
                        del self._waiting[key]

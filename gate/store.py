"""Opening the gate's SQLite database with the durability settings every component relies on."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from gate.errors import JournalError

if TYPE_CHECKING:  # imported when a database is opened: the CLI's readers start without it
    from sqlite_utils import Database

DATABASE_NAME = "gridgate.db"
BUSY_WAIT_S = 10.0  # how long a writer waits for another connection's write to end
GATE_KEY_NAME = "keys/gate.key"  # the key this gate signs what it tells its peers with


def open_database(path: Path | str) -> Database:
    """Open (creating if needed) the database file: WAL, synchronous=FULL, foreign keys on.

    Every thread that writes should open its own connection; WAL lets readers and one writer
    work at once, and busy_timeout makes writers queue instead of failing.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), check_same_thread=False, timeout=10.0)
        conn.execute("PRAGMA journal_mode=WAL")
        # FULL: a passage acknowledged to the door survives power loss, which a Pi at a gate sees.
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_WAIT_S * 1000)}")
    except (sqlite3.Error, OSError) as exc:
        raise JournalError(f"cannot open the database {path}: {exc}") from exc
    from sqlite_utils import Database

    return Database(conn)


def open_reader(path: Path | str) -> sqlite3.Connection:
    """A plain connection for reading an existing database (the CLI's queries: no sqlite-utils
    to import); it waits for writers (busy_timeout) and writes nothing."""
    try:
        conn = sqlite3.connect(str(path), check_same_thread=False, timeout=10.0)
        conn.execute("PRAGMA busy_timeout=10000")
        conn.execute("PRAGMA query_only=1")
    except sqlite3.Error as exc:
        raise JournalError(f"cannot open the database {path}: {exc}") from exc
    return conn


@contextmanager
def immediate(db: Database) -> Iterator[Database]:
    """A write transaction that takes the write lock up front, committed or rolled back whole.

    BEGIN IMMEDIATE waits (begin_immediate) for another connection's writer; a deferred
    transaction that read before it wrote would instead fail at once with "database is locked"
    whenever another connection committed in between (SQLite cannot upgrade a stale WAL
    snapshot). A COMMIT that fails (a full disk) rolls back too: the connection is never left
    inside a transaction.
    """
    begin_immediate(db.conn)
    try:
        yield db
        db.execute("COMMIT")
    except BaseException:
        if db.conn.in_transaction:
            db.conn.rollback()
        raise


@contextmanager
def atomic(db: Database) -> Iterator[Database]:
    """sqlite-utils' `db.atomic()`, nested blocks as savepoints, but the outermost begun as
    `immediate` does: a deferred BEGIN's first write would wait in SQLite's busy handler."""
    if db.conn.in_transaction:
        with db.atomic():
            yield db
        return
    with immediate(db):
        yield db


def begin_immediate(conn: sqlite3.Connection, wait_s: float = BUSY_WAIT_S) -> None:
    """BEGIN IMMEDIATE, waiting up to `wait_s` for another connection's writer, in Python.

    SQLite's own busy wait sleeps inside the statement holding the connection's mutex, and
    connections are shared by threads (readers, timers, the panel): a second thread that then
    touches the connection blocks on that mutex while holding the GIL, the writer it waits for
    cannot run to its COMMIT, and the whole gate stands still until the wait times out (10 s,
    seen with peer passages arriving while two readers decided). Here each attempt fails fast,
    and the pauses between attempts release both the mutex and the GIL.
    """
    deadline = time.monotonic() + wait_s
    pause = 0.0005
    while True:
        conn.execute("PRAGMA busy_timeout = 0").fetchall()  # done with: it answers a row
        try:
            conn.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                raise
        finally:
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_WAIT_S * 1000)}").fetchall()
        time.sleep(pause)
        pause = min(pause * 2, 0.01)


def database_path(state_dir: Path | str) -> Path:
    """Where the database lives inside the state directory."""
    return Path(state_dir) / DATABASE_NAME


def gate_key_path(state_dir: Path | str) -> Path:
    """Where the gate's own signing key lives inside the state directory."""
    return Path(state_dir) / GATE_KEY_NAME

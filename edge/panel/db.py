"""The panel's connections to the gate database: one per thread, so requests never share a
transaction with each other or with the gate's own writer."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlite_utils import Database

from edge.panel import schema
from gate.store import immediate, open_database


class PanelDatabase:
    """Hands each thread its own connection to the gate database (WAL lets them all read)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: list[Database] = []
        schema.migrate(self.conn())

    def conn(self) -> Database:
        """This thread's connection, opened on first use."""
        db: Database | None = getattr(self._local, "db", None)
        if db is None:
            db = open_database(self.path)
            self._local.db = db
            with self._lock:
                self._all.append(db)
        return db

    @contextmanager
    def write(self) -> Iterator[Database]:
        """A write transaction on this thread's connection that takes the write lock first.

        BEGIN IMMEDIATE waits (busy_timeout) for the gate's writer; a deferred transaction that
        reads before it writes would instead fail at once with "database is locked" whenever
        another connection committed in between (SQLite cannot upgrade a stale WAL snapshot).
        """
        with immediate(self.conn()) as db:
            yield db

    def close(self) -> None:
        """Close every connection opened so far."""
        with self._lock:
            for db in self._all:
                db.close()
            self._all.clear()
        self._local = threading.local()

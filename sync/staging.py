"""A platform document's registry changes, written in one short transaction.

Converting a large roster into rows takes Python seconds, and a busy process (a flood on the
broker, a face encoder) stretches Python work further: a transaction that did that work while
holding SQLite's write lock held up every journal write as long, and `BEGIN IMMEDIATE` gives up
after the busy timeout ("database is locked": the door decided but could not record). So the
rows are prepared first and written to TEMP tables of the inbox's own connection (TEMP tables
belong to that connection and take no lock on the gate's database); the write transaction then
runs only a few DELETE and INSERT ... SELECT statements, each of which SQLite executes whole
without the interpreter lock. The lock is held for the time SQLite needs, and the document
still commits all at once with its new version.

The registry's tables are gate.registry's; the rows here are what `Registry.put_*`,
`revoke`, `set_face_encodings` and `set_version` write.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlite_utils import Database

log = logging.getLogger(__name__)

# table: (primary key, columns), in the order changes are applied
TABLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "grids": ("grid_id", ("grid_id", "name")),
    "households": ("household_id", ("household_id", "grid_id", "name")),
    "persons": ("person_id", ("person_id", "household_id", "grid_id", "name", "kind",
                              "host_household_id")),
    "permits": ("person_id", ("person_id", "colour", "valid_from", "valid_until",
                              "observation_until", "reason", "issuer")),
    "revoked_passes": ("pass_id", ("pass_id", "revoked_at")),
}
_FACES = ("person_id", "idx", "encoding")


def utc_text(value: datetime | None) -> str | None:
    """A time as the registry stores it."""
    return value.astimezone(UTC).isoformat() if value else None


@dataclass
class Changes:
    """What one document changes in the registry, prepared outside the write transaction."""

    clear: set[str] = field(default_factory=set)  # tables emptied first (a snapshot)
    upsert: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)  # rows in TABLES order
    remove: dict[str, list[str]] = field(default_factory=dict)  # primary keys
    clear_faces: bool = False  # every stored face encoding goes (a roster snapshot)
    faces: dict[str, list[bytes]] = field(default_factory=dict)  # person: encodings, replacing
    version: tuple[str, int, str | None, str | None, str | None] | None = None

    def add(self, table: str, rows: Iterable[tuple[Any, ...]]) -> None:
        self.upsert.setdefault(table, []).extend(rows)

    def drop(self, table: str, keys: Iterable[str]) -> None:
        self.remove.setdefault(table, []).extend(keys)


def _prepare(db: Database) -> None:
    for table, (_, columns) in TABLES.items():
        db.execute(f"CREATE TEMP TABLE IF NOT EXISTS stage_{table} ({', '.join(columns)})")
    db.execute("CREATE TEMP TABLE IF NOT EXISTS stage_remove (tbl, key)")
    db.execute(f"CREATE TEMP TABLE IF NOT EXISTS stage_faces ({', '.join(_FACES)})")
    db.execute("CREATE TEMP TABLE IF NOT EXISTS stage_face_persons (person_id)")


def _empty(db: Database) -> None:
    for table in (*(f"stage_{t}" for t in TABLES), "stage_remove", "stage_faces",
                  "stage_face_persons"):
        db.execute(f"DELETE FROM temp.{table}")


def stage(db: Database, changes: Changes) -> None:
    """Write the rows to this connection's TEMP tables (no lock on the gate's database)."""
    _prepare(db)
    db.execute("BEGIN")
    try:
        _empty(db)
        conn = db.conn
        for table, rows in changes.upsert.items():
            columns = TABLES[table][1]
            conn.executemany(f"INSERT INTO temp.stage_{table} VALUES "
                             f"({', '.join('?' * len(columns))})", rows)
        for table, keys in changes.remove.items():
            conn.executemany("INSERT INTO temp.stage_remove VALUES (?, ?)",
                             [(table, key) for key in keys])
        conn.executemany("INSERT INTO temp.stage_face_persons VALUES (?)",
                         [(person,) for person in changes.faces])
        conn.executemany("INSERT INTO temp.stage_faces VALUES (?, ?, ?)",
                         [(person, i, blob) for person, blobs in changes.faces.items()
                          for i, blob in enumerate(blobs)])
        db.execute("COMMIT")
    except BaseException:
        if db.conn.in_transaction:
            db.conn.rollback()
        raise


def unstage(db: Database) -> None:
    """Free the TEMP tables' rows (after the swap, or when it failed: never raises)."""
    try:
        if db.conn.in_transaction:
            db.conn.rollback()
        db.execute("BEGIN")
        _empty(db)
        db.execute("COMMIT")
    except sqlite3.Error as exc:
        log.warning("cannot empty the staging tables: %s", exc)
        if db.conn.in_transaction:
            db.conn.rollback()


def swap(db: Database, changes: Changes) -> None:
    """Inside the caller's write transaction: the staged changes, SQL statements only."""
    for table, (key, columns) in TABLES.items():
        if table in changes.clear:
            db.execute(f"DELETE FROM main.{table}")
        if changes.upsert.get(table):
            names = ", ".join(columns)
            update = ", ".join(f"{c} = excluded.{c}" for c in columns if c != key)
            # WHERE 1 ... ORDER BY rowid: one row per key in the end, the last one sent wins
            # (as upserting them one after the other did).
            db.execute(f"INSERT INTO main.{table} ({names}) SELECT {names} FROM "
                       f"temp.stage_{table} WHERE 1 ORDER BY rowid "
                       f"ON CONFLICT ({key}) DO UPDATE SET {update}")
        if changes.remove.get(table):
            gone = "SELECT key FROM temp.stage_remove WHERE tbl = ?"
            db.execute(f"DELETE FROM main.{table} WHERE {key} IN ({gone})", [table])
            if table == "persons":  # a person's face encodings go with the person
                db.execute(f"DELETE FROM main.face_encodings WHERE person_id IN ({gone})",
                           [table])
    if changes.clear_faces:
        db.execute("DELETE FROM main.face_encodings")
    elif changes.faces:
        db.execute("DELETE FROM main.face_encodings WHERE person_id IN "
                   "(SELECT person_id FROM temp.stage_face_persons)")
    if changes.faces:
        db.execute("INSERT INTO main.face_encodings (person_id, idx, encoding) "
                   "SELECT person_id, idx, encoding FROM temp.stage_faces ORDER BY rowid")
    if changes.version is not None:
        db.execute("INSERT INTO main.versions (document, version, issued_at, applied_at, body) "
                   "VALUES (?, ?, ?, ?, ?) ON CONFLICT (document) DO UPDATE SET "
                   "version = excluded.version, issued_at = excluded.issued_at, "
                   "applied_at = excluded.applied_at, body = excluded.body",
                   list(changes.version))

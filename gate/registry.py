"""The registry: persons, households, grids and permits as the platform last told us."""

from __future__ import annotations

import sqlite3
import threading
from array import array
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from gate.errors import JournalError
from gate.model import Colour, Permit, Person, PersonKind
from gate.store import atomic

migrations = Migrations("gridgate.registry")


@migrations(name="0001_persons_permits")
def _create_tables(db: Database) -> None:
    db.execute(
        """
        CREATE TABLE persons (
            person_id TEXT PRIMARY KEY,
            household_id TEXT NOT NULL,
            grid_id TEXT,
            name TEXT,
            kind TEXT NOT NULL DEFAULT 'resident',
            host_household_id TEXT
        )
        """
    )
    db.execute("CREATE INDEX persons_household ON persons (household_id)")
    db.execute(
        """
        CREATE TABLE permits (
            person_id TEXT PRIMARY KEY,
            colour TEXT NOT NULL,
            valid_from TEXT,
            valid_until TEXT,
            observation_until TEXT,
            reason TEXT NOT NULL DEFAULT '',
            issuer TEXT NOT NULL DEFAULT ''
        )
        """
    )
    db.execute("CREATE TABLE revoked_passes (pass_id TEXT PRIMARY KEY, revoked_at TEXT)")


@migrations(name="0002_households_grids_faces_versions")
def _add_roster_tables(db: Database) -> None:
    db.execute("CREATE TABLE grids (grid_id TEXT PRIMARY KEY, name TEXT NOT NULL DEFAULT '')")
    db.execute(
        "CREATE TABLE households (household_id TEXT PRIMARY KEY, grid_id TEXT, "
        "name TEXT NOT NULL DEFAULT '')"
    )
    # Face encodings as the platform sent them (float64 arrays), so a face gallery can be
    # rebuilt from the registry after a restart.
    db.execute(
        "CREATE TABLE face_encodings (person_id TEXT NOT NULL, idx INTEGER NOT NULL, "
        "encoding BLOB NOT NULL, PRIMARY KEY (person_id, idx))"
    )
    # The version of each platform document the registry holds; `body` keeps documents that
    # live in memory (policy, trust list) so they survive a restart.
    db.execute(
        "CREATE TABLE versions (document TEXT PRIMARY KEY, version INTEGER NOT NULL, "
        "issued_at TEXT, applied_at TEXT NOT NULL, body TEXT)"
    )


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value).astimezone(UTC) if value else None


def _text(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


class Registry:
    """Lookups for decisions and updates from the platform, on the gate's database."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._lock = threading.RLock()
        try:
            migrations.apply(db)
        except sqlite3.Error as exc:
            raise JournalError(f"cannot prepare the registry tables: {exc}") from exc

    def person(self, person_id: str) -> Person | None:
        """The registered person, or None."""
        rows = list(self.db["persons"].rows_where("person_id = ?", [person_id]))
        if not rows:
            return None
        row = rows[0]
        return Person(
            person_id=row["person_id"],
            household_id=row["household_id"],
            grid_id=row["grid_id"],
            name=row["name"],
            kind=PersonKind(row["kind"]),
            host_household_id=row["host_household_id"],
        )

    def permit(self, person_id: str) -> Permit | None:
        """The person's current permit as pushed by the platform, or None."""
        rows = list(self.db["permits"].rows_where("person_id = ?", [person_id]))
        if not rows:
            return None
        row = rows[0]
        return Permit(
            person_id=row["person_id"],
            colour=Colour(row["colour"]),
            valid_from=_time(row["valid_from"]),
            valid_until=_time(row["valid_until"]),
            observation_until=_time(row["observation_until"]),
            reason=row["reason"],
            issuer=row["issuer"],
            source="registry",
        )

    def is_revoked(self, pass_id: str) -> bool:
        """True when the platform revoked this pass."""
        return self.db.execute(
            "SELECT 1 FROM revoked_passes WHERE pass_id = ?", [pass_id]
        ).fetchone() is not None

    def revoked_pass_ids(self) -> set[str]:
        """Every revoked pass id."""
        return {row[0] for row in self.db.execute("SELECT pass_id FROM revoked_passes")}

    def put_persons(self, persons: Iterable[Person]) -> None:
        """Insert or replace persons."""
        rows: list[dict[str, Any]] = [
            {"person_id": p.person_id, "household_id": p.household_id, "grid_id": p.grid_id,
             "name": p.name, "kind": p.kind.value, "host_household_id": p.host_household_id}
            for p in persons
        ]
        with self._lock, atomic(self.db):
            self.db.table("persons").upsert_all(rows, pk="person_id")

    def put_permits(self, permits: Iterable[Permit]) -> None:
        """Insert or replace permits (the gate never upgrades a colour itself; only this does)."""
        rows: list[dict[str, Any]] = [
            {"person_id": p.person_id, "colour": p.colour.value, "valid_from": _text(p.valid_from),
             "valid_until": _text(p.valid_until),
             "observation_until": _text(p.observation_until), "reason": p.reason,
             "issuer": p.issuer}
            for p in permits
        ]
        with self._lock, atomic(self.db):
            self.db.table("permits").upsert_all(rows, pk="person_id")

    def revoke(self, pass_ids: Iterable[str], when: datetime) -> None:
        """Add pass ids to the revocation list."""
        rows = [{"pass_id": pid, "revoked_at": _text(when)} for pid in pass_ids]
        with self._lock, atomic(self.db):
            self.db.table("revoked_passes").upsert_all(rows, pk="pass_id")

    # -- households, grids, removals and snapshots (platform documents) ------------------

    def household(self, household_id: str) -> dict[str, Any] | None:
        """The household row (id, grid, name), or None."""
        rows = list(self.db["households"].rows_where("household_id = ?", [household_id]))
        return rows[0] if rows else None

    def grid(self, grid_id: str) -> dict[str, Any] | None:
        """The grid row (id, name), or None."""
        rows = list(self.db["grids"].rows_where("grid_id = ?", [grid_id]))
        return rows[0] if rows else None

    def put_households(self, rows: Iterable[dict[str, Any]]) -> None:
        """Insert or replace households ({household_id, grid_id, name})."""
        with self._lock, atomic(self.db):
            self.db.table("households").upsert_all(list(rows), pk="household_id")

    def put_grids(self, rows: Iterable[dict[str, Any]]) -> None:
        """Insert or replace grids ({grid_id, name})."""
        with self._lock, atomic(self.db):
            self.db.table("grids").upsert_all(list(rows), pk="grid_id")

    def remove(self, table: str, ids: Sequence[str]) -> None:
        """Delete rows by primary key from persons, households, grids, permits or
        revoked_passes (a person's face encodings go with the person)."""
        keys = {"persons": "person_id", "households": "household_id", "grids": "grid_id",
                "permits": "person_id", "revoked_passes": "pass_id"}
        if table not in keys:
            raise ValueError(f"cannot remove from {table}")
        with self._lock, atomic(self.db):
            for start in range(0, len(ids), 500):
                part = list(ids[start:start + 500])
                marks = ",".join("?" * len(part))
                self.db.execute(f"DELETE FROM {table} WHERE {keys[table]} IN ({marks})", part)
                if table == "persons":
                    self.db.execute(f"DELETE FROM face_encodings WHERE person_id IN ({marks})",
                                    part)

    def clear(self, *tables: str) -> None:
        """Empty whole tables before a snapshot refills them (callers hold a transaction)."""
        allowed = {"persons", "households", "grids", "permits", "revoked_passes",
                   "face_encodings"}
        with self._lock, atomic(self.db):
            for table in tables:
                if table not in allowed:
                    raise ValueError(f"cannot clear {table}")
                self.db.execute(f"DELETE FROM {table}")

    def set_face_encodings(self, person_id: str, encodings: Sequence[Sequence[float]]) -> None:
        """Replace a person's face encodings (an empty list removes them)."""
        with self._lock, atomic(self.db):
            self.db.execute("DELETE FROM face_encodings WHERE person_id = ?", [person_id])
            self.db.conn.executemany(
                "INSERT INTO face_encodings (person_id, idx, encoding) VALUES (?, ?, ?)",
                [(person_id, i, array("d", e).tobytes()) for i, e in enumerate(encodings)])

    def face_encodings(self) -> dict[str, list[list[float]]]:
        """Every person's face encodings, as the platform sent them."""
        found: dict[str, list[list[float]]] = {}
        for person_id, blob in self.db.execute(
                "SELECT person_id, encoding FROM face_encodings ORDER BY person_id, idx"):
            values = array("d")
            values.frombytes(blob)
            found.setdefault(person_id, []).append(values.tolist())
        return found

    def version(self, document: str) -> int | None:
        """The version of a platform document held, or None."""
        row = self.db.execute("SELECT version FROM versions WHERE document = ?",
                              [document]).fetchone()
        return int(row[0]) if row else None

    def versions(self) -> dict[str, int]:
        """Every platform document version held."""
        return {d: int(v) for d, v in self.db.execute("SELECT document, version FROM versions")}

    def document_body(self, document: str) -> str | None:
        """The stored body of a document kept in memory elsewhere (policy, trust list)."""
        row = self.db.execute("SELECT body FROM versions WHERE document = ?",
                              [document]).fetchone()
        return row[0] if row else None

    def set_version(self, document: str, version: int, *, issued_at: datetime | None,
                    applied_at: datetime, body: str | None = None) -> None:
        """Record the document version now held (in the transaction that applied it)."""
        with self._lock, atomic(self.db):
            self.db.table("versions").upsert({
                "document": document, "version": version, "issued_at": _text(issued_at),
                "applied_at": _text(applied_at), "body": body}, pk="document")

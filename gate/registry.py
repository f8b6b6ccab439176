"""The registry: persons, households, grids and permits as the platform last told us."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from gate.errors import JournalError
from gate.model import Colour, Permit, Person, PersonKind

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
        with self._lock, self.db.atomic():
            self.db["persons"].upsert_all(rows, pk="person_id")

    def put_permits(self, permits: Iterable[Permit]) -> None:
        """Insert or replace permits (the gate never upgrades a colour itself; only this does)."""
        rows: list[dict[str, Any]] = [
            {"person_id": p.person_id, "colour": p.colour.value, "valid_from": _text(p.valid_from),
             "valid_until": _text(p.valid_until),
             "observation_until": _text(p.observation_until), "reason": p.reason,
             "issuer": p.issuer}
            for p in permits
        ]
        with self._lock, self.db.atomic():
            self.db["permits"].upsert_all(rows, pk="person_id")

    def revoke(self, pass_ids: Iterable[str], when: datetime) -> None:
        """Add pass ids to the revocation list."""
        rows = [{"pass_id": pid, "revoked_at": _text(when)} for pid in pass_ids]
        with self._lock, self.db.atomic():
            self.db["revoked_passes"].upsert_all(rows, pk="pass_id")

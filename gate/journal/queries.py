"""Reading the journal: the history a decision needs, trajectories, who is out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlite_utils import Database

from gate.model import Colour, Direction, History, PassageRef
from gate.policy import Policy


def utc_text(when: datetime) -> str:
    """The journal's time format: UTC ISO 8601 with microseconds, sortable as text."""
    return when.astimezone(UTC).isoformat(timespec="microseconds")


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def _ref(row: dict[str, Any]) -> PassageRef:
    return PassageRef(
        person_id=row["person_id"],
        household_id=row["household_id"],
        direction=Direction(row["direction"]),
        at=_utc(row["at"]),
        reader_id=row["reader_id"],
        colour=Colour(row["colour"]) if row["colour"] else None,
    )


def _rows(db: Database, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    cursor = db.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]


class JournalQueries:
    """Read-only views of the journal; any connection to the database will do."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def history(self, *, person_id: str | None, household_id: str | None, gate_id: str,
                policy: Policy, now: datetime) -> History:
        """The passages a decision about this person may look at (see gate.model.History)."""
        last = None
        if person_id:
            rows = _rows(self.db, "SELECT * FROM passages WHERE person_id = ? AND granted = 1 "
                         "ORDER BY id DESC LIMIT 1", [person_id])
            last = _ref(rows[0]) if rows else None
        household: tuple[PassageRef, ...] = ()
        if household_id:
            since = now - timedelta(days=policy.yellow.period_days + 1)
            household = tuple(_ref(r) for r in _rows(
                self.db,
                "SELECT * FROM passages WHERE household_id = ? AND granted = 1"
                " AND direction = 'out'"
                " AND at >= ? ORDER BY id", [household_id, utc_text(since)]))
        since = now - timedelta(seconds=max(policy.yellow.companion_window_s, 1))
        recent = tuple(_ref(r) for r in _rows(
            self.db,
            "SELECT * FROM passages WHERE gate_id = ? AND granted = 1 AND direction = 'out'"
            " AND person_id IS NOT NULL AND at >= ? ORDER BY id", [gate_id, utc_text(since)]))
        return History(last_passage=last, household_exits=household, recent_exits=recent)

    def trajectory(self, person_id: str, limit: int | None = None) -> list[dict[str, Any]]:
        """One person's passages, oldest first (denied attempts included: they are part of it)."""
        sql = "SELECT * FROM passages WHERE person_id = ? ORDER BY id"
        params: list[Any] = [person_id]
        if limit is not None:
            sql = f"SELECT * FROM ({sql} DESC LIMIT ?) ORDER BY id"
            params.append(limit)
        return [self._passage(r) for r in _rows(self.db, sql, params)]

    def who_is_out(self) -> list[dict[str, Any]]:
        """Persons whose last granted passage was an exit, longest out first."""
        rows = _rows(
            self.db,
            """
            SELECT p.* FROM passages p
            JOIN (SELECT person_id, MAX(id) AS last_id FROM passages
                  WHERE granted = 1 AND person_id IS NOT NULL GROUP BY person_id) l
              ON p.id = l.last_id
            WHERE p.direction = 'out' ORDER BY p.id
            """,
            [],
        )
        return [self._passage(r) for r in rows]

    def recent_passages(self, limit: int = 50) -> list[dict[str, Any]]:
        """The latest passages, newest first."""
        rows = _rows(self.db, "SELECT * FROM passages ORDER BY id DESC LIMIT ?", [limit])
        return [self._passage(r) for r in rows]

    def alerts(self, *, open_only: bool = False, severity: str | None = None,
               grid_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Alerts newest first, optionally only unacknowledged, of one severity or one grid."""
        where, params = ["1 = 1"], []
        if open_only:
            where.append("acknowledged_at IS NULL")
        if severity:
            where.append("severity = ?")
            params.append(severity)
        if grid_id:
            where.append("grid_id = ?")
            params.append(grid_id)
        sql = f"SELECT * FROM alerts WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?"
        return _rows(self.db, sql, [*params, limit])

    def door_events(self, limit: int = 50) -> list[dict[str, Any]]:
        """The latest door events, newest first."""
        return _rows(self.db, "SELECT * FROM door_events ORDER BY id DESC LIMIT ?", [limit])

    @staticmethod
    def _passage(row: dict[str, Any]) -> dict[str, Any]:
        return {**row, "granted": bool(row["granted"])}

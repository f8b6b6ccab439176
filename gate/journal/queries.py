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


# An alert with what grew later (gate/alert_folding.py, gate/escalation.py): how many times it
# happened, the last time, and when and to whom it was escalated.
_ALERTS = ("SELECT a.*, COALESCE(f.count, 1) AS count, COALESCE(f.last_at, a.at) AS last_at, "
           "e.at AS escalated_at, e.audience AS escalated_to FROM alerts a "
           "LEFT JOIN alert_folds f ON f.alert_id = a.id "
           "LEFT JOIN alert_escalations e ON e.alert_id = a.id")


class JournalQueries:
    """Read-only views of the journal; any connection to the database will do."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def history(self, *, person_id: str | None, household_id: str | None, gate_id: str,
                policy: Policy, now: datetime) -> History:
        """The passages a decision about this person may look at (see gate.model.History)."""
        last = None
        if person_id:
            # The compound's last passage of the person, at whichever gate: by time, since a
            # peer's passage may arrive after a later one of ours.
            rows = _rows(self.db, "SELECT * FROM passages WHERE person_id = ? AND granted = 1 "
                         "ORDER BY order_at DESC, id DESC LIMIT 1", [person_id])
            last = _ref(rows[0]) if rows else None
        household: tuple[PassageRef, ...] = ()
        if household_id:
            since = now - timedelta(days=policy.yellow.period_days + 1)
            household = tuple(_ref(r) for r in _rows(
                self.db,
                "SELECT * FROM passages WHERE household_id = ? AND granted = 1"
                " AND direction = 'out'"
                " AND at >= ? ORDER BY at, id", [household_id, utc_text(since)]))
        # Companions travel through the same door: this gate's exits only.
        since = now - timedelta(seconds=max(policy.yellow.companion_window_s, 1))
        recent = tuple(_ref(r) for r in _rows(
            self.db,
            "SELECT * FROM passages WHERE gate_id = ? AND granted = 1 AND direction = 'out'"
            " AND person_id IS NOT NULL AND at >= ? ORDER BY id", [gate_id, utc_text(since)]))
        return History(last_passage=last, household_exits=household, recent_exits=recent)

    def trajectory(self, person_id: str, limit: int | None = None) -> list[dict[str, Any]]:
        """One person's passages at every gate of the compound, oldest first (denied attempts
        included: they are part of it)."""
        sql = "SELECT * FROM passages WHERE person_id = ? ORDER BY order_at, id"
        params: list[Any] = [person_id]
        if limit is not None:
            sql = ("SELECT * FROM (SELECT * FROM passages WHERE person_id = ? "
                   "ORDER BY order_at DESC, id DESC LIMIT ?) ORDER BY order_at, id")
            params.append(limit)
        return [self._passage(r) for r in _rows(self.db, sql, params)]

    def who_is_out(self) -> list[dict[str, Any]]:
        """Persons whose last granted passage, at any gate of the compound, was an exit; longest
        out first."""
        rows = _rows(
            self.db,
            """
            SELECT * FROM (
                SELECT p.*, ROW_NUMBER() OVER (
                    PARTITION BY person_id ORDER BY order_at DESC, id DESC) AS newest
                FROM passages p WHERE granted = 1 AND person_id IS NOT NULL)
            WHERE newest = 1 AND direction = 'out' ORDER BY order_at, id
            """,
            [],
        )
        return [self._passage({k: v for k, v in r.items() if k != "newest"}) for r in rows]

    def passages_between(self, start: datetime, end: datetime, *,
                         gate_id: str | None = None) -> list[dict[str, Any]]:
        """Passages from `start` (inclusive) to `end` (exclusive), oldest first; of one gate of
        the compound or of all."""
        sql = "SELECT * FROM passages WHERE at >= ? AND at < ?"
        params: list[Any] = [utc_text(start), utc_text(end)]
        if gate_id is not None:
            sql += " AND gate_id = ?"
            params.append(gate_id)
        return [self._passage(r) for r in _rows(self.db, sql + " ORDER BY at, id", params)]

    def contacts(self, person_id: str, within: timedelta, *,
                 since: datetime | None = None) -> list[dict[str, Any]]:
        """Everyone who passed the same gate within `within` of one of the person's granted
        passages (from `since`), oldest first: each of their passages once, with the person's
        passage it was nearest (`near_event_id`, `near_at`) and the gap in seconds."""
        own = _rows(self.db, "SELECT event_id, gate_id, at FROM passages WHERE person_id = ? "
                    "AND granted = 1 AND at >= ? ORDER BY at, id",
                    [person_id, utc_text(since) if since else ""])
        found: dict[str, dict[str, Any]] = {}
        for mine in own:
            at = _utc(mine["at"])
            for row in _rows(self.db, "SELECT * FROM passages WHERE gate_id = ? AND at >= ? "
                             "AND at <= ? AND granted = 1 AND person_id IS NOT NULL "
                             "AND person_id != ?",
                             [mine["gate_id"], utc_text(at - within), utc_text(at + within),
                              person_id]):
                gap = abs((_utc(row["at"]) - at).total_seconds())
                if row["event_id"] not in found or gap < found[row["event_id"]]["gap_s"]:
                    found[row["event_id"]] = {**self._passage(row), "gap_s": round(gap, 3),
                                              "near_event_id": mine["event_id"],
                                              "near_at": mine["at"]}
        return sorted(found.values(), key=lambda r: (r["at"], r["id"]))

    def recent_passages(self, limit: int = 50) -> list[dict[str, Any]]:
        """The latest passages, newest first."""
        rows = _rows(self.db, "SELECT * FROM passages ORDER BY id DESC LIMIT ?", [limit])
        return [self._passage(r) for r in rows]

    def alerts(self, *, open_only: bool = False, severity: str | None = None,
               grid_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Alerts newest first, optionally only unacknowledged, of one severity or one grid."""
        where, params = ["1 = 1"], []
        if open_only:
            where.append("a.acknowledged_at IS NULL")
        if severity:
            where.append("a.severity = ?")
            params.append(severity)
        if grid_id:
            where.append("a.grid_id = ?")
            params.append(grid_id)
        sql = f"{_ALERTS} WHERE {' AND '.join(where)} ORDER BY a.id DESC LIMIT ?"
        return _rows(self.db, sql, [*params, limit])

    def alert(self, alert_id: int) -> dict[str, Any] | None:
        """One alert with its count and escalation, or None."""
        rows = _rows(self.db, f"{_ALERTS} WHERE a.id = ?", [alert_id])
        return rows[0] if rows else None

    def door_events(self, limit: int = 50) -> list[dict[str, Any]]:
        """The latest door events, newest first."""
        return _rows(self.db, "SELECT * FROM door_events ORDER BY id DESC LIMIT ?", [limit])

    @staticmethod
    def _passage(row: dict[str, Any]) -> dict[str, Any]:
        return {**row, "granted": bool(row["granted"])}

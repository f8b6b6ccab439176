"""Read-only views for guards: a person with permit and trajectory, search, counts per hour."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlite_utils import Database

from gate.journal import JournalQueries
from gate.model import Permit, Person
from gate.registry import Registry

SEARCH_LIMIT = 50


@dataclass(frozen=True)
class PersonView:
    """What the panel shows about one person."""

    person_id: str
    person: Person | None
    permit: Permit | None
    visitor: dict[str, Any] | None
    passages: list[dict[str, Any]]  # newest first
    is_out: bool


@dataclass(frozen=True)
class HourCount:
    """Passages in one local hour of today."""

    hour: int
    granted_in: int = 0
    granted_out: int = 0
    denied: int = 0

    @property
    def total(self) -> int:
        """Every passage of the hour."""
        return self.granted_in + self.granted_out + self.denied


@dataclass(frozen=True)
class DayCounts:
    """Today's passages per local hour."""

    date: str
    hours: list[HourCount] = field(default_factory=list)

    @property
    def peak(self) -> int:
        """The busiest hour's total."""
        return max((h.total for h in self.hours), default=0)


def _rows(db: Database, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    cursor = db.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def open_alert_count(db: Database) -> int:
    """Alerts not yet acknowledged."""
    return int(db.execute("SELECT COUNT(*) FROM alerts WHERE acknowledged_at IS NULL")
               .fetchone()[0])


def person_view(db: Database, person_id: str, *, limit: int = 100) -> PersonView:
    """A person as registry, visitor desk and journal know them."""
    registry = Registry(db)
    queries = JournalQueries(db)
    visitors = _rows(db, "SELECT * FROM panel_visitors WHERE person_id = ? "
                     "ORDER BY created_at DESC LIMIT 1", [person_id])
    passages = list(reversed(queries.trajectory(person_id, limit)))
    last_granted = next((p for p in passages if p["granted"]), None)
    return PersonView(person_id, registry.person(person_id), registry.permit(person_id),
                      visitors[0] if visitors else None, passages,
                      bool(last_granted and last_granted["direction"] == "out"))


@dataclass(frozen=True)
class ContactGroup:
    """One person who passed a gate near a passage of the person looked up."""

    person_id: str
    household_id: str | None
    passages: list[dict[str, Any]]  # contact rows (JournalQueries.contacts), oldest first


def contact_groups(db: Database, person_id: str, within: timedelta, since: datetime,
                   ) -> list[ContactGroup]:
    """Everyone who passed the same gate of the compound within `within` of one of the
    person's granted passages from `since`, grouped by person in order of first contact.
    Each row also has `offset_s`: seconds after (+) or before (-) the person's passage."""
    groups: dict[str, ContactGroup] = {}
    for row in JournalQueries(db).contacts(person_id, within, since=since):
        offset = (datetime.fromisoformat(row["at"]) - datetime.fromisoformat(row["near_at"])
                  ).total_seconds()
        group = groups.setdefault(row["person_id"], ContactGroup(
            row["person_id"], row["household_id"], []))
        group.passages.append({**row, "offset_s": round(offset, 3)})
    return list(groups.values())


def search(db: Database, text: str) -> list[dict[str, Any]]:
    """Persons and visitors whose id, name or household matches `text`."""
    text = text.strip()[:64]
    if not text:
        return []
    like = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    found = _rows(
        db, "SELECT person_id, name, household_id, grid_id, kind FROM persons "
        "WHERE person_id = ? OR household_id = ? OR name LIKE ? ESCAPE '\\' "
        "ORDER BY person_id LIMIT ?", [text, text, like, SEARCH_LIMIT])
    seen = {r["person_id"] for r in found}
    for row in _rows(
            db, "SELECT person_id, name, host_household_id AS household_id, grid_id, "
            "'visitor' AS kind FROM panel_visitors WHERE person_id = ? OR host_household_id = ?"
            " OR name LIKE ? ESCAPE '\\' ORDER BY created_at DESC LIMIT ?",
            [text, text, like, SEARCH_LIMIT]):
        if row["person_id"] not in seen:
            seen.add(row["person_id"])
            found.append(row)
    if not found and JournalQueries(db).has_passages(text):
        found.append({"person_id": text, "name": None, "household_id": None, "grid_id": None,
                      "kind": None})
    return found


def counts_today(db: Database, now: datetime, zone: ZoneInfo) -> DayCounts:
    """Passages of today (local day) per local hour: granted in, granted out, denied."""
    local_now = now.astimezone(zone)
    start = local_now.replace(hour=0, minute=0, second=0, microsecond=0)
    times = JournalQueries(db).passage_times(start, start + timedelta(days=1, hours=1))
    buckets = {h: [0, 0, 0] for h in range(local_now.hour + 1)}
    for at, direction, granted in times:
        when = at.astimezone(zone)
        if when.date() != local_now.date() or when.hour not in buckets:
            continue
        slot = 2 if not granted else (0 if direction == "in" else 1)
        buckets[when.hour][slot] += 1
    return DayCounts(local_now.date().isoformat(),
                     [HourCount(h, *counts) for h, counts in sorted(buckets.items())])

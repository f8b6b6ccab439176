"""Who a person id is (the roster's name and household, or the visitor desk's), and where the
permit in force comes from: the roster, or the pass the person showed (its colour, validity).

Guards think in names and flats, not ids; and a green "you may leave" in the feed must not
meet "no permit" on the person's page when the permit came from the pass.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlite_utils import Database

from gate.checkpoint import Outcome

ROSTER, PASS = "roster", "pass"


@dataclass(frozen=True)
class Who:
    """A person as the roster (or the visitor desk) names them; None where it does not."""

    person_id: str
    name: str | None = None
    household_id: str | None = None
    flat: str | None = None  # the household's name in the roster (e.g. "3-2-301")
    visitor: bool = False
    roster_permit: bool = False  # the roster holds a permit for the person



@dataclass(frozen=True)
class PassPermit:
    """The permit a valid pass carried, as the gate last saw it shown."""

    pass_id: str
    person_id: str
    colour: str
    valid_from: datetime | None
    valid_until: datetime | None
    seen_at: datetime


@dataclass(frozen=True)
class PermitSource:
    """Where the permit in force for a person comes from."""

    source: str  # ROSTER or PASS
    colour: str | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    pass_id: str | None = None
    seen_at: datetime | None = None  # a pass: when it was last shown


class PassPermits:
    """The latest valid pass each person showed (bounded, in memory): the gate decides by the
    pass's colour when the roster has no permit, and the panel says so."""

    def __init__(self, size: int = 5000) -> None:
        self.size = size
        self._by_person: OrderedDict[str, PassPermit] = OrderedDict()
        self._lock = threading.Lock()

    def heard(self, outcome: Outcome) -> None:
        """Remember the pass of a decided observation (an outcome listener; no I/O)."""
        check = outcome.observation.pass_check
        if check is None or not check.valid or check.claims is None:
            return
        claims = check.claims
        permit = PassPermit(claims.pass_id, claims.person_id, claims.colour.value,
                            claims.not_before, claims.expires_at, outcome.observation.seen_at)
        with self._lock:
            self._by_person[claims.person_id] = permit
            self._by_person.move_to_end(claims.person_id)
            while len(self._by_person) > self.size:
                self._by_person.popitem(last=False)

    def get(self, person_id: str) -> PassPermit | None:
        """The latest valid pass the person showed since the panel started."""
        with self._lock:
            return self._by_person.get(person_id)


def _pass_refused(passage: dict[str, Any]) -> bool:
    """The pass itself was refused (expired, revoked, ...): it carried no permit in force."""
    return str(passage.get("rule", "")).startswith("pass.")


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value).astimezone(UTC) if value else None


class People:
    """Per-request lookups of persons and permit sources, each asked of the database once."""

    def __init__(self, db: Database, passes: PassPermits) -> None:
        self.db = db
        self.passes = passes
        self._who: dict[str, Who] = {}
        self._flats: dict[str, str | None] = {}
        self._visitor_passes: dict[str, dict[str, Any] | None] = {}

    def who(self, person_id: str | None) -> Who | None:
        """The person behind an id (None for no id)."""
        if not person_id:
            return None
        if person_id not in self._who:
            self._who[person_id] = self._lookup(person_id)
        return self._who[person_id]

    def _lookup(self, person_id: str) -> Who:
        row = self.db.execute(
            "SELECT p.name, p.household_id, h.name, p.kind, "
            "EXISTS (SELECT 1 FROM permits WHERE permits.person_id = p.person_id) "
            "FROM persons p LEFT JOIN households h ON h.household_id = p.household_id "
            "WHERE p.person_id = ?", [person_id]).fetchone()
        if row is not None:
            name, household_id, flat, kind, permit = row
            return Who(person_id, name or None, household_id, flat or None,
                       kind == "visitor", bool(permit))
        visitor = self.db.execute(
            "SELECT name, host_household_id FROM panel_visitors WHERE person_id = ? "
            "ORDER BY created_at DESC LIMIT 1", [person_id]).fetchone()
        if visitor is not None:
            return Who(person_id, visitor[0], visitor[1], self.flat_of(visitor[1]), True)
        return Who(person_id)

    def flat_of(self, household_id: str | None) -> str | None:
        """The household's name in the roster (its flat), or None."""
        if not household_id:
            return None
        if household_id not in self._flats:
            row = self.db.execute("SELECT name FROM households WHERE household_id = ?",
                                  [household_id]).fetchone()
            self._flats[household_id] = (row[0] or None) if row else None
        return self._flats[household_id]

    def _visitor_pass(self, pass_id: str) -> dict[str, Any] | None:
        if pass_id not in self._visitor_passes:
            row = self.db.execute(
                "SELECT valid_from, valid_until FROM panel_visitors WHERE pass_id = ?",
                [pass_id]).fetchone()
            self._visitor_passes[pass_id] = (
                {"valid_from": row[0], "valid_until": row[1]} if row else None)
        return self._visitor_passes[pass_id]

    def from_pass(self, person_id: str, pass_id: str | None = None,
                  colour: str | None = None) -> PermitSource | None:
        """The pass permit of a person without one in the roster: the pass seen last (with its
        validity), else the visitor pass the panel issued, else what a passage recorded."""
        seen = self.passes.get(person_id)
        if seen is not None and (pass_id is None or seen.pass_id == pass_id):
            return PermitSource(PASS, seen.colour, seen.valid_from, seen.valid_until,
                                seen.pass_id, seen.seen_at)
        if pass_id is None:
            return None
        issued = self._visitor_pass(pass_id)
        return PermitSource(PASS, colour, _time(issued["valid_from"]) if issued else None,
                            _time(issued["valid_until"]) if issued else None, pass_id)

    def source_of(self, passage: dict[str, Any]) -> PermitSource | None:
        """Where the permit a passage was decided by comes from (in force now): the roster's
        permit when the roster has one, else the pass shown; None without a colour."""
        person_id = passage.get("person_id")
        if not person_id or not passage.get("colour") or _pass_refused(passage):
            return None
        who = self.who(person_id)
        if who is not None and who.roster_permit:
            return PermitSource(ROSTER, passage["colour"])
        pass_id = passage.get("pass_id")
        if not pass_id:
            return None
        return self.from_pass(person_id, pass_id, passage["colour"])

    def last_pass(self, person_id: str, passages: list[dict[str, Any]]) -> PermitSource | None:
        """The pass permit of a person the roster gives none: the pass seen last, else the
        newest passage (newest first in `passages`) that showed one."""
        found = self.from_pass(person_id)
        if found is not None:
            return found
        shown = next((p for p in passages if p.get("pass_id") and p.get("colour")
                      and not _pass_refused(p)), None)
        if shown is None:
            return None
        source = self.from_pass(person_id, shown["pass_id"], shown["colour"])
        return None if source is None else PermitSource(
            PASS, source.colour, source.valid_from, source.valid_until, source.pass_id,
            source.seen_at or _time(shown["at"]))

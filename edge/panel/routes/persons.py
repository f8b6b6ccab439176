"""Looking people up: permit, last passages, trajectory (with the gate of each passage) and
contacts at every gate of the compound; who is out; counts per hour today."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import IntEnum
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel

from edge.panel.deps import GuardView, Services
from edge.panel.lookup import ContactGroup, contact_groups, counts_today, person_view, search
from edge.panel.models import PassageOut
from edge.panel.people import People
from edge.panel.services import PanelServices
from edge.panel.views import render

router = APIRouter()
PersonId = Annotated[str, Path(min_length=1, max_length=64)]
CONTACT_DAYS = 14  # contacts of the person's passages of the last two weeks
CONTACTS_SHOWN = 300  # passages on the page at most (`gridgate contacts` lists them all)


class ContactWindow(IntEnum):
    """How close in time (minutes) a passage must be to count as a contact: a fixed choice."""

    FIVE = 5
    TEN = 10
    THIRTY = 30
    SIXTY = 60


Within = Annotated[ContactWindow, Query(description="Minutes: 5, 10, 30 or 60.")]


class PermitOut(BaseModel):
    """The permit in force: the roster's, or (none there) the one the pass carries."""

    colour: str
    valid_from: str | None
    valid_until: str | None
    observation_until: str | None
    observation_over: bool
    reason: str
    issuer: str
    source: Literal["roster", "pass"] = "roster"
    pass_id: str | None = None  # a pass: which one
    seen_at: str | None = None  # a pass: when it was last shown here


class PersonOut(BaseModel):
    person_id: str
    name: str | None
    household_id: str | None
    grid_id: str | None
    kind: str | None
    host_household_id: str | None
    permit: PermitOut | None
    is_out: bool
    passages: list[PassageOut]


class ContactOut(PassageOut):
    """A passage of someone else at the same gate near one of the person's passages."""

    gap_s: float
    offset_s: float  # after (+) or before (-) the person's passage
    near_event_id: str
    near_at: str


class HourOut(BaseModel):
    hour: int
    granted_in: int
    granted_out: int
    denied: int


class DayCountsOut(BaseModel):
    date: str
    hours: list[HourOut]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _person_out(svc: PanelServices, person_id: str) -> PersonOut:
    view = person_view(svc.db.conn(), person_id)
    person, permit, visitor = view.person, view.permit, view.visitor
    now = svc.clock.now()
    permit_out = None
    if permit is not None:
        permit_out = PermitOut(
            colour=permit.colour.value, valid_from=_iso(permit.valid_from),
            valid_until=_iso(permit.valid_until), observation_until=_iso(permit.observation_until),
            observation_over=bool(permit.observation_until and permit.observation_until <= now),
            reason=permit.reason, issuer=permit.issuer)
    else:  # no permit in the roster: the gate decides by the colour of the pass shown
        shown = People(svc.db.conn(), svc.pass_permits).last_pass(person_id, view.passages)
        if shown is not None and shown.colour:
            permit_out = PermitOut(
                colour=shown.colour, valid_from=_iso(shown.valid_from),
                valid_until=_iso(shown.valid_until), observation_until=None,
                observation_over=False, reason="", issuer="", source="pass",
                pass_id=shown.pass_id, seen_at=_iso(shown.seen_at))
    last = view.passages[0] if view.passages else {}
    return PersonOut(
        person_id=person_id,
        name=person.name if person else (visitor["name"] if visitor else None),
        household_id=person.household_id if person else (
            visitor["host_household_id"] if visitor else last.get("household_id")),
        grid_id=person.grid_id if person else (
            visitor["grid_id"] if visitor else last.get("grid_id")),
        kind=person.kind.value if person else ("visitor" if visitor else None),
        host_household_id=person.host_household_id if person else (
            visitor["host_household_id"] if visitor else None),
        permit=permit_out, is_out=view.is_out,
        passages=[PassageOut.model_validate(p) for p in view.passages])


def _contacts(svc: PanelServices, person_id: str, within: ContactWindow) -> list[ContactGroup]:
    since = svc.clock.now() - timedelta(days=CONTACT_DAYS)
    return contact_groups(svc.db.conn(), person_id, timedelta(minutes=int(within)), since)


def _gap(seconds: float) -> str:
    """4:05 (minutes:seconds), 1:02:05 past an hour."""
    hours, rest = divmod(round(abs(seconds)), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _shown(groups: list[ContactGroup]) -> tuple[list[ContactGroup], int]:
    """The groups the page shows (at most CONTACTS_SHOWN passages), and how many passages
    there are in all."""
    total, shown, room = sum(len(g.passages) for g in groups), [], CONTACTS_SHOWN
    for group in groups:
        if room <= 0:
            break
        rows = [{**r, "gap": _gap(r["offset_s"])} for r in group.passages[:room]]
        shown.append(ContactGroup(group.person_id, group.household_id, rows))
        room -= len(rows)
    return shown, total


def _counts(svc: PanelServices) -> DayCountsOut:
    day = counts_today(svc.db.conn(), svc.clock.now(), svc.gate.rules.policy.zone)
    return DayCountsOut(date=day.date, hours=[HourOut(hour=h.hour, granted_in=h.granted_in,
                                                      granted_out=h.granted_out,
                                                      denied=h.denied) for h in day.hours])


@router.get("/persons", response_class=HTMLResponse)
def persons_page(request: Request, svc: Services, session: GuardView,
                 q: Annotated[str, Query(max_length=64)] = "") -> Response:
    """Search persons; who is out; today's passages per hour."""
    counts = _counts(svc)
    peak = max((h.granted_in + h.granted_out + h.denied for h in counts.hours), default=0)
    return render(request, "persons.html", {
        "q": q, "results": search(svc.db.conn(), q) if q else [],
        "out": svc.queries().who_is_out(), "counts": counts, "peak": max(peak, 1)})


@router.get("/persons/{person_id}", response_class=HTMLResponse)
def person_page(request: Request, svc: Services, session: GuardView,
                person_id: PersonId, within: Within = ContactWindow.TEN) -> Response:
    """One person: permit, trajectory with gates, whether out now, contacts."""
    groups, total = _shown(_contacts(svc, person_id, within))
    return render(request, "person.html", {
        "p": _person_out(svc, person_id), "contacts": groups, "contacts_total": total,
        "contacts_shown": sum(len(g.passages) for g in groups), "within": int(within),
        "windows": [int(w) for w in ContactWindow], "contact_days": CONTACT_DAYS})


@router.get("/api/persons/{person_id}", response_model=PersonOut)
def person_api(svc: Services, session: GuardView, person_id: PersonId) -> PersonOut:
    """One person as JSON: permit, trajectory, whether out now."""
    return _person_out(svc, person_id)


@router.get("/api/persons/{person_id}/contacts", response_model=list[ContactOut])
def contacts_api(svc: Services, session: GuardView, person_id: PersonId,
                 within: Within = ContactWindow.TEN) -> list[dict[str, Any]]:
    """Everyone who passed the same gate of the compound within `within` minutes of one of
    the person's granted passages of the last CONTACT_DAYS days, oldest first."""
    rows = [r for g in _contacts(svc, person_id, within) for r in g.passages]
    return sorted(rows, key=lambda r: (r["at"], r["id"]))


@router.get("/api/who-is-out", response_model=list[PassageOut])
def who_is_out(svc: Services, session: GuardView) -> list[dict[str, Any]]:
    """Persons whose last granted passage was an exit."""
    return svc.queries().who_is_out()


@router.get("/api/counts/today", response_model=DayCountsOut)
def counts(svc: Services, session: GuardView) -> DayCountsOut:
    """Today's passages per local hour: granted in, granted out, denied."""
    return _counts(svc)

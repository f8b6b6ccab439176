"""Looking people up: permit, last passages, trajectory; who is out; counts per hour today."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel

from edge.panel.deps import GuardView, Services
from edge.panel.lookup import counts_today, person_view, search
from edge.panel.models import PassageOut
from edge.panel.services import PanelServices
from edge.panel.views import render

router = APIRouter()
PersonId = Annotated[str, Path(min_length=1, max_length=64)]


class PermitOut(BaseModel):
    colour: str
    valid_from: str | None
    valid_until: str | None
    observation_until: str | None
    observation_over: bool
    reason: str
    issuer: str


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


class HourOut(BaseModel):
    hour: int
    granted_in: int
    granted_out: int
    denied: int


class DayCountsOut(BaseModel):
    date: str
    hours: list[HourOut]


def _person_out(svc: PanelServices, person_id: str) -> PersonOut:
    view = person_view(svc.db.conn(), person_id)
    person, permit, visitor = view.person, view.permit, view.visitor
    now = svc.clock.now()
    permit_out = None
    if permit is not None:
        permit_out = PermitOut(
            colour=permit.colour.value,
            valid_from=permit.valid_from.isoformat() if permit.valid_from else None,
            valid_until=permit.valid_until.isoformat() if permit.valid_until else None,
            observation_until=(permit.observation_until.isoformat()
                               if permit.observation_until else None),
            observation_over=bool(permit.observation_until and permit.observation_until <= now),
            reason=permit.reason, issuer=permit.issuer)
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
                person_id: PersonId) -> Response:
    """One person: permit, trajectory, whether out now."""
    return render(request, "person.html", {"p": _person_out(svc, person_id)})


@router.get("/api/persons/{person_id}", response_model=PersonOut)
def person_api(svc: Services, session: GuardView, person_id: PersonId) -> PersonOut:
    """One person as JSON: permit, trajectory, whether out now."""
    return _person_out(svc, person_id)


@router.get("/api/who-is-out", response_model=list[PassageOut])
def who_is_out(svc: Services, session: GuardView) -> list[dict[str, Any]]:
    """Persons whose last granted passage was an exit."""
    return svc.queries().who_is_out()


@router.get("/api/counts/today", response_model=DayCountsOut)
def counts(svc: Services, session: GuardView) -> DayCountsOut:
    """Today's passages per local hour: granted in, granted out, denied."""
    return _counts(svc)

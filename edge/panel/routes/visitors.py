"""Visitors: register one (name, host household, until when) and print their pass QR."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Path, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field

from edge.panel.deps import GuardAction, GuardView, Services
from edge.panel.errors import VisitorError
from edge.panel.services import PanelServices
from edge.panel.views import language_of, redirect, render
from edge.panel.visitors import VisitorPass

router = APIRouter()
PassId = Annotated[str, Path(pattern=r"^vp-[0-9a-f]{16}$")]


class VisitorIn(BaseModel):
    name: str = Field(..., min_length=1, max_length=80)
    host_household_id: str = Field(..., min_length=1, max_length=64)
    valid_until: datetime = Field(..., description="End of validity; without a zone it is "
                                  "taken as the gate's local time.")


class VisitorOut(BaseModel):
    pass_id: str
    person_id: str
    name: str
    host_household_id: str
    host_known: bool
    grid_id: str | None
    valid_from: str
    valid_until: str
    key_id: str
    created_by: str
    created_at: str
    pass_text: str


def _out(svc: PanelServices, v: VisitorPass) -> VisitorOut:
    return VisitorOut(host_known=svc.visitors.household_known(v.host_household_id),
                      **v.__dict__)


def _register(svc: PanelServices, body: VisitorIn, by: str) -> VisitorPass:
    """Register and sign; VisitorError says what is not acceptable."""
    until = body.valid_until
    if until.tzinfo is None:
        until = until.replace(tzinfo=svc.gate.rules.policy.zone)
    return svc.visitors.register(name=body.name, host_household_id=body.host_household_id,
                                 valid_until=until, by=by)


def _page(request: Request, svc: PanelServices, *, error: str = "",
          form: dict[str, str] | None = None,
          status: int = 200) -> Response:
    zone = svc.gate.rules.policy.zone
    default_until = (svc.clock.now() + timedelta(hours=4)).astimezone(zone)
    return render(request, "visitors.html", {
        "visitors": svc.visitors.recent(30), "error": error,
        "form": form or {"name": "", "host": "",
                         "until": default_until.strftime("%Y-%m-%dT%H:%M")},
        "max_hours": svc.settings.visitor_max_hours}, status=status)


@router.get("/visitors", response_class=HTMLResponse)
def visitors_page(request: Request, svc: Services, session: GuardView) -> Response:
    """Register a visitor; the latest visitors."""
    return _page(request, svc)


@router.post("/visitors", response_class=HTMLResponse)
def register_form(request: Request, svc: Services, session: GuardAction,
                  name: Annotated[str, Form(max_length=80)],
                  host: Annotated[str, Form(max_length=64)],
                  until: Annotated[str, Form(max_length=32)]) -> Response:
    """Register a visitor from the form (until-time in the gate's local time)."""
    form = {"name": name, "host": host, "until": until}
    try:
        valid_until = datetime.fromisoformat(until)
    except ValueError:
        t = svc.i18n.bound(language_of(request))
        return _page(request, svc, error=t("visitors.bad_time"), form=form, status=400)
    try:
        visitor = _register(svc, VisitorIn(name=name or " ", host_household_id=host or " ",
                                           valid_until=valid_until), session.user.name)
    except VisitorError as exc:
        error = svc.i18n.error(language_of(request), exc)
        return _page(request, svc, error=error, form=form, status=400)
    return redirect(f"/visitors/{visitor.pass_id}", "msg.visitor_registered")


@router.get("/visitors/{pass_id}", response_class=HTMLResponse)
def visitor_page(request: Request, svc: Services, session: GuardView,
                 pass_id: PassId) -> Response:
    """A visitor's printable pass."""
    visitor = svc.visitors.get(pass_id)
    if visitor is None:
        raise HTTPException(404, "error.not_found")
    return render(request, "visitor_pass.html", {"v": _out(svc, visitor)})


@router.get("/visitors/{pass_id}/qr.png", response_class=Response,
            responses={200: {"content": {"image/png": {}}}})
def visitor_qr(svc: Services, session: GuardView, pass_id: PassId) -> Response:
    """A visitor's pass as a PNG QR code."""
    visitor = svc.visitors.get(pass_id)
    if visitor is None:
        raise HTTPException(404, "error.not_found")
    return Response(svc.visitors.qr_png(visitor), media_type="image/png",
                    headers={"Cache-Control": "private, max-age=3600"})


@router.get("/api/visitors", response_model=list[VisitorOut])
def visitors_api(svc: Services, session: GuardView) -> list[VisitorOut]:
    """The latest visitors as JSON."""
    return [_out(svc, v) for v in svc.visitors.recent(100)]


@router.post("/api/visitors", response_model=VisitorOut)
def register_api(svc: Services, session: GuardAction, body: VisitorIn) -> VisitorOut:
    """Register a visitor and sign their pass with the local visitor key."""
    try:
        return _out(svc, _register(svc, body, session.user.name))
    except VisitorError as exc:
        raise HTTPException(400, str(exc)) from exc

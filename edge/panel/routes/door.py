"""Door control by guards: open once with a reason, lockdown, hold-open with a time limit.

Every override goes through the gate's door controls (gate/controls.py), the same path the
platform's commands take: an open-once is an override passage, a lockdown or hold-open a door
event, each with an "override" alert, so all of them go out as events. The panel adds the
guard's name, the reason and a snapshot of the reader's camera as evidence.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from edge.panel.deps import GuardAction, GuardView, Services, client_address
from edge.panel.health import DoorHealth, door_health
from edge.panel.i18n import Translator
from edge.panel.services import PanelServices
from edge.panel.views import language_of, redirect, templates
from gate.approvals import ApprovalError, PendingOverride
from gate.door import Door, DoorMode
from gate.errors import DoorError
from gate.vocabulary import EventType

log = logging.getLogger(__name__)
router = APIRouter()

REASONS = ("resident_no_pass", "delivery", "visitor_checked", "emergency", "security", "drill",
           "maintenance", "other")
ReaderId = Annotated[str, Path(max_length=64)]


class OpenIn(BaseModel):
    reason: str = Field(..., min_length=1, max_length=200)


class ModeIn(BaseModel):
    mode: DoorMode
    minutes: float | None = Field(None, gt=0, le=24 * 60,
                                  description="Hold-open time limit; required for hold_open.")
    # Room for a listed reason in both languages plus a 200-character note.
    reason: str = Field("", max_length=300,
                        description="Why; required for lockdown and hold_open.")


class OverrideOut(BaseModel):
    reader_id: str
    released: bool
    passage_event_id: str | None
    snapshot: str | None
    # Over a red-permit refusal: the request a second account must approve (gate/approvals.py)
    approval_request: str | None = None
    approval_expires_at: str | None = None


class ModeOut(DoorHealth):
    """The door after a mode change, with the snapshot kept as evidence; `saved` false: the
    mode is in force but the database cannot be written yet (a restart would lose it)."""

    snapshot: str | None
    saved: bool = True
    # A hold-open over a red-permit refusal: the request a second account must approve.
    approval_request: str | None = None
    approval_expires_at: str | None = None


def reason_text(i18n: Translator, code: str, note: str) -> str:
    """What the journal keeps as the reason: a listed reason in both languages, plus any note."""
    note = " ".join(note.split())[:200]
    if code not in REASONS or code == "other":
        if not note:
            raise HTTPException(400, "error.reason_required")
        return note
    listed = f"{i18n.text('zh', f'reason.{code}')} / {i18n.text('en', f'reason.{code}')}"
    return f"{listed}: {note}" if note else listed


def evidence(svc: PanelServices, reader_id: str) -> str | None:
    """Save the reader's current camera image as a snapshot; None without an image."""
    image = svc.frames.latest(reader_id)
    if image is None:
        return None
    try:
        return svc.snapshots.save(image, svc.clock.now())
    except OSError as exc:  # a full disk must not keep the guard from acting
        log.error("panel: override snapshot not saved: %s", exc)
        return None


def open_once(svc: PanelServices, reader_id: str, actor: str, reason: str,
              address: str | None = None) -> OverrideOut:
    """Open the reader's door once for a guard; refused in lockdown. Over a red-permit
    refusal the door stays shut until a second account approves (gate/approvals.py)."""
    controls = svc.gate.controls
    door = controls.door(reader_id)
    if door is None:
        raise HTTPException(404, "error.not_found")
    if door.mode is DoorMode.LOCKDOWN:
        raise HTTPException(409, "error.lockdown")
    snapshot = evidence(svc, reader_id)
    try:
        outcome = svc.gate.approvals.open_once(reader_id, actor=actor, reason=reason,
                                               snapshot=snapshot, address=address)
    except ApprovalError as exc:
        raise HTTPException(409, f"error.{exc.code}") from None
    if isinstance(outcome, PendingOverride):
        log.warning("panel: %s asked to open %s over a red-permit refusal; waiting for a "
                    "second account (request %s)", actor, reader_id, outcome.request_id)
        return OverrideOut(reader_id=reader_id, released=False, passage_event_id=None,
                           snapshot=snapshot, approval_request=outcome.request_id,
                           approval_expires_at=outcome.expires_at.isoformat())
    passage = next((e for e in outcome.events if e.kind is EventType.PASSAGE), None)
    return OverrideOut(reader_id=reader_id, released=outcome.released,
                       passage_event_id=passage.event_id if passage else None, snapshot=snapshot)


def set_mode(svc: PanelServices, reader_id: str, actor: str, change: ModeIn,
             address: str | None = None) -> ModeOut:
    """Put the reader's door in normal, lockdown or hold-open (which needs minutes); lockdown
    and hold-open need a reason and are recorded with a snapshot and an override alert. A
    hold-open over a red-permit refusal waits for a second account (gate/approvals.py)."""
    if svc.gate.controls.door(reader_id) is None:
        raise HTTPException(404, "error.not_found")
    reason = " ".join(change.reason.split())
    override = change.mode is not DoorMode.NORMAL
    if override and not reason:
        raise HTTPException(400, "error.reason_required")
    seconds = None
    if change.mode is DoorMode.HOLD_OPEN:
        if change.minutes is None or change.minutes > svc.settings.hold_open_max_minutes:
            raise HTTPException(400, "error.hold_minutes")
        seconds = change.minutes * 60
    snapshot = evidence(svc, reader_id) if override else None
    pending = None
    doors: list[Door] = []
    try:
        if change.mode is DoorMode.HOLD_OPEN and seconds is not None:
            held = svc.gate.approvals.hold_open(reader_id, seconds=seconds, actor=actor,
                                                reason=reason, snapshot=snapshot,
                                                address=address)
            pending = held if isinstance(held, PendingOverride) else None
            doors = held if isinstance(held, list) else []
        else:
            doors = svc.gate.controls.set_mode(change.mode, actor=actor, reason=reason,
                                               reader_id=reader_id, snapshot=snapshot)
    except DoorError as exc:
        raise HTTPException(400, str(exc)) from exc
    except ApprovalError as exc:
        raise HTTPException(409, f"error.{exc.code}") from None
    state = next(d for d in door_health(svc) if d.reader_id == reader_id)
    if pending is None:
        return ModeOut(**state.model_dump(), snapshot=snapshot,
                       saved=not svc.gate.controls.unsaved(doors))
    log.warning("panel: %s asked to hold %s open over a red-permit refusal; waiting for a "
                "second account (request %s)", actor, reader_id, pending.request_id)
    return ModeOut(**state.model_dump(), snapshot=snapshot,
                   approval_request=pending.request_id,
                   approval_expires_at=pending.expires_at.isoformat())


def door_states(request: Request, svc: PanelServices) -> dict[str, str]:
    """Each reader's door state as a small piece of HTML in the page's language."""
    t = svc.i18n.bound(language_of(request))
    template = templates.get_template("_door_state.html")
    return {d.reader_id: template.render(t=t, d=d) for d in door_health(svc)}


@router.post("/door/{reader_id}/open")
def open_form(request: Request, svc: Services, session: GuardAction, reader_id: ReaderId,
              reason: Annotated[str, Form(max_length=32)],
              note: Annotated[str, Form(max_length=200)] = "") -> Response:
    """Open the reader's door once from the live page, with a listed or typed reason."""
    result = open_once(svc, reader_id, session.user.name, reason_text(svc.i18n, reason, note),
                       client_address(request))
    if result.approval_request is not None:
        return redirect("/", "msg.approval_needed")
    return redirect("/", "msg.opened" if result.released else "msg.not_opened")


@router.post("/door/{reader_id}/mode")
def mode_form(request: Request, svc: Services, session: GuardAction, reader_id: ReaderId,
              mode: Annotated[DoorMode, Form()],
              minutes: Annotated[float | None, Form(gt=0, le=24 * 60)] = None,
              reason: Annotated[str, Form(max_length=32)] = "",
              note: Annotated[str, Form(max_length=200)] = "") -> Response:
    # Back to normal needs no reason; lockdown and hold-open do (set_mode checks).
    """Lockdown, hold-open or back to normal from the live page."""
    text = "" if not reason and not note.strip() else reason_text(svc.i18n, reason, note)
    result = set_mode(svc, reader_id, session.user.name,
                      ModeIn(mode=mode, minutes=minutes, reason=text), client_address(request))
    if result.approval_request is not None:
        return redirect("/", "msg.approval_needed")
    return redirect("/", f"msg.mode_{mode.value}" if result.saved else "msg.mode_not_saved")


@router.get("/door/states", response_model=dict[str, str])
def states(request: Request, svc: Services, session: GuardView) -> dict[str, str]:
    """Each reader's door state as HTML pieces, for the live page to refresh."""
    return door_states(request, svc)


@router.get("/api/doors", response_model=list[DoorHealth])
def doors(svc: Services, session: GuardView) -> list[DoorHealth]:
    """Mode and relay state of each reader's door."""
    return door_health(svc)


@router.post("/api/doors/{reader_id}/open", response_model=OverrideOut)
def open_api(request: Request, svc: Services, session: GuardAction, reader_id: ReaderId,
             body: OpenIn) -> OverrideOut:
    """Open the reader's door once; the reason is required. Over a red-permit refusal the
    answer names the request a second account must approve (`approval_request`)."""
    return open_once(svc, reader_id, session.user.name,
                     reason_text(svc.i18n, "other", body.reason), client_address(request))


@router.post("/api/doors/{reader_id}/mode", response_model=ModeOut)
def mode_api(request: Request, svc: Services, session: GuardAction, reader_id: ReaderId,
             body: ModeIn) -> ModeOut:
    """Change the door's mode; lockdown and hold-open need a reason. A hold-open over a
    red-permit refusal answers with the request a second account must approve
    (`approval_request`) and leaves the door as it was."""
    return set_mode(svc, reader_id, session.user.name, body, client_address(request))

"""Two-person overrides: a second account approves a guard's open-once or hold-open over a
red-permit refusal (gate/approvals.py); until then the door stays shut. Listed on the alerts
page."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel

from edge.panel.deps import GuardAction, GuardView, Services, client_address
from edge.panel.services import PanelServices
from edge.panel.views import redirect
from gate.approvals import ApprovalError, PendingOverride
from gate.vocabulary import EventType

log = logging.getLogger(__name__)
router = APIRouter()
RequestId = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[0-9a-f]+$")]


class ApprovalOut(BaseModel):
    request_id: str
    reader_id: str
    requested_by: str
    reason: str
    requested_at: str
    expires_at: str
    person_id: str | None  # whose red-permit refusal it overrides (the newest)
    action: str  # open_once or hold_open
    minutes: float | None  # a hold-open's time limit


class ApprovedOut(BaseModel):
    request_id: str
    reader_id: str
    action: str
    released: bool  # opened once, or held open
    passage_event_id: str | None  # an open-once's override passage


def _out(p: PendingOverride) -> ApprovalOut:
    return ApprovalOut(request_id=p.request_id, reader_id=p.reader_id,
                       requested_by=p.requested_by, reason=p.reason,
                       requested_at=p.requested_at.isoformat(),
                       expires_at=p.expires_at.isoformat(),
                       person_id=p.denied_passage.get("person_id"), action=p.action,
                       minutes=None if p.seconds is None else p.seconds / 60)


def approve(svc: PanelServices, request_id: str, approver: str,
            address: str | None) -> ApprovedOut:
    """Approve a waiting override; 404 when it is gone, 409 for the account that asked."""
    try:
        approved = svc.gate.approvals.approve(request_id, approver=approver, address=address)
    except ApprovalError as exc:
        raise HTTPException(409 if exc.code == "approval_same_account" else 404,
                            f"error.{exc.code}") from None
    events = approved.outcome.events if approved.outcome is not None else []
    passage = next((e for e in events if e.kind is EventType.PASSAGE), None)
    return ApprovedOut(request_id=request_id, reader_id=approved.request.reader_id,
                       action=approved.request.action, released=approved.released,
                       passage_event_id=passage.event_id if passage else None)


@router.get("/api/approvals", response_model=list[ApprovalOut])
def approvals_api(svc: Services, session: GuardView) -> list[ApprovalOut]:
    """Overrides waiting for a second account, oldest first."""
    return [_out(p) for p in svc.gate.approvals.pending()]


@router.post("/approvals/{request_id}/approve")
def approve_form(request: Request, svc: Services, session: GuardAction,
                 request_id: RequestId) -> Response:
    """Approve from the alerts page: the door opens once, or is held open."""
    result = approve(svc, request_id, session.user.name, client_address(request))
    if not result.released:
        return redirect("/alerts", "msg.not_opened")
    return redirect("/alerts", "msg.mode_hold_open" if result.action == "hold_open"
                    else "msg.opened")


@router.post("/api/approvals/{request_id}/approve", response_model=ApprovedOut)
def approve_api(request: Request, svc: Services, session: GuardAction,
                request_id: RequestId) -> ApprovedOut:
    """Approve a waiting override as a second account: the door opens once, or is held
    open."""
    return approve(svc, request_id, session.user.name, client_address(request))

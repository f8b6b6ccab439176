"""Two-person overrides: a second account approves a guard's open-once over a red-permit
refusal (gate/approvals.py); until then the door stays shut. Listed on the alerts page."""

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
    person_id: str | None  # whose red-permit refusal it overrides


class ApprovedOut(BaseModel):
    request_id: str
    reader_id: str
    released: bool
    passage_event_id: str | None


def _out(p: PendingOverride) -> ApprovalOut:
    return ApprovalOut(request_id=p.request_id, reader_id=p.reader_id,
                       requested_by=p.requested_by, reason=p.reason,
                       requested_at=p.requested_at.isoformat(),
                       expires_at=p.expires_at.isoformat(),
                       person_id=p.denied_passage.get("person_id"))


def approve(svc: PanelServices, request_id: str, approver: str,
            address: str | None) -> ApprovedOut:
    """Approve a waiting override; 404 when it is gone, 409 for the account that asked."""
    try:
        outcome = svc.gate.approvals.approve(request_id, approver=approver, address=address)
    except ApprovalError as exc:
        raise HTTPException(409 if exc.code == "approval_same_account" else 404,
                            f"error.{exc.code}") from None
    passage = next((e for e in outcome.events if e.kind is EventType.PASSAGE), None)
    return ApprovedOut(request_id=request_id, reader_id=outcome.observation.reader.reader_id,
                       released=outcome.released,
                       passage_event_id=passage.event_id if passage else None)


@router.get("/api/approvals", response_model=list[ApprovalOut])
def approvals_api(svc: Services, session: GuardView) -> list[ApprovalOut]:
    """Overrides waiting for a second account, oldest first."""
    return [_out(p) for p in svc.gate.approvals.pending()]


@router.post("/approvals/{request_id}/approve")
def approve_form(request: Request, svc: Services, session: GuardAction,
                 request_id: RequestId) -> Response:
    """Approve from the alerts page: the door opens once."""
    result = approve(svc, request_id, session.user.name, client_address(request))
    return redirect("/alerts", "msg.opened" if result.released else "msg.not_opened")


@router.post("/api/approvals/{request_id}/approve", response_model=ApprovedOut)
def approve_api(request: Request, svc: Services, session: GuardAction,
                request_id: RequestId) -> ApprovedOut:
    """Approve a waiting override as a second account: the door opens once."""
    return approve(svc, request_id, session.user.name, client_address(request))

"""Alerts: list and filter by severity and grid, acknowledge with a comment (one or many).

Every acknowledgement goes through the journal with an `alert_ack` event for the platform in
the same transaction (gate/journal/acks.py); the live feeds hear it from the journal."""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Form, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field

from edge.panel.deps import GuardAction, GuardView, Services
from edge.panel.models import AlertOut
from edge.panel.services import PanelServices
from edge.panel.views import redirect, render, safe_next
from gate.model import Severity

log = logging.getLogger(__name__)
router = APIRouter()

SeverityQ = Annotated[Severity | None, Query()]
GridQ = Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9_.-]*$")]
StateQ = Annotated[Literal["open", "all"], Query()]
AlertId = Annotated[int, Path(ge=1)]


MAX_BULK = 200  # as many as the page lists


class AckIn(BaseModel):
    comment: str = Field("", max_length=500)


class BulkAckIn(BaseModel):
    ids: list[Annotated[int, Field(ge=1)]] = Field(..., min_length=1, max_length=MAX_BULK)
    comment: str = Field("", max_length=500)


class BulkAckOut(BaseModel):
    acknowledged: list[int]  # the alerts this request acknowledged
    skipped: list[int]  # unknown, or acknowledged already


def _list(svc: PanelServices, state: str, severity: Severity | None,
          grid: str | None) -> list[dict[str, Any]]:
    return svc.queries().alerts(open_only=state == "open",
                                severity=severity.value if severity else None,
                                grid_id=grid or None, limit=200)


def acknowledge(svc: PanelServices, alert_id: int, by: str, comment: str) -> dict[str, Any]:
    """Acknowledge an open alert; 404 when unknown, 409 when already acknowledged."""
    if svc.queries().alert(alert_id) is None:
        raise HTTPException(404, "error.not_found")
    if not svc.gate.journal.acknowledge_alerts([alert_id], by, comment):
        raise HTTPException(409, "error.already_acknowledged")
    log.info("panel: %s acknowledged alert %d", by, alert_id)
    row = svc.queries().alert(alert_id)
    assert row is not None
    return row


def acknowledge_many(svc: PanelServices, ids: list[int], by: str, comment: str) -> BulkAckOut:
    """Acknowledge the open ones of `ids` in one transaction (one event each)."""
    events = svc.gate.journal.acknowledge_alerts(ids, by, comment)
    done = [int(e.row["alert_id"]) for e in events]
    log.info("panel: %s acknowledged %d alerts at once", by, len(done))
    return BulkAckOut(acknowledged=done, skipped=[i for i in dict.fromkeys(ids) if i not in done])


@router.get("/alerts", response_class=HTMLResponse)
def alerts_page(request: Request, svc: Services, session: GuardView,
                severity: SeverityQ = None, grid: GridQ = None,
                state: StateQ = "open") -> Response:
    """The alerts page, filtered by state, severity and grid."""
    grids = [r[0] for r in svc.db.conn().execute(
        "SELECT DISTINCT grid_id FROM alerts WHERE grid_id IS NOT NULL ORDER BY grid_id")]
    query = urlencode({k: v for k, v in (("state", state), ("grid", grid or ""),
                                         ("severity", severity.value if severity else "")) if v})
    return render(request, "alerts.html", {
        "alerts": _list(svc, state, severity, grid), "severities": list(Severity),
        "approvals": svc.gate.approvals.pending(),
        "back": f"/alerts?{query}",
        "grids": grids, "f": {"severity": severity.value if severity else "",
                              "grid": grid or "", "state": state}})


@router.post("/alerts/{alert_id}/ack")
def ack_form(svc: Services, session: GuardAction, alert_id: AlertId,
             comment: Annotated[str, Form(max_length=500)] = "",
             back: Annotated[str, Form(max_length=512)] = "/alerts") -> Response:
    """Acknowledge an alert from the page, with the guard's comment."""
    acknowledge(svc, alert_id, session.user.name, comment)
    target = safe_next(back)
    return redirect(target if target.startswith("/") else "/alerts", "msg.acknowledged")


@router.post("/alerts/ack")
def bulk_ack_form(svc: Services, session: GuardAction,
                  ids: Annotated[list[Annotated[int, Field(ge=1)]],
                                 Form(max_length=MAX_BULK)] = [],  # noqa: B006 (FastAPI copies)
                  comment: Annotated[str, Form(max_length=500)] = "",
                  back: Annotated[str, Form(max_length=512)] = "/alerts") -> Response:
    """Acknowledge the alerts ticked on the page, with one comment."""
    if not ids:
        raise HTTPException(400, "error.none_selected")
    acknowledge_many(svc, ids, session.user.name, comment)
    target = safe_next(back)
    return redirect(target if target.startswith("/") else "/alerts", "msg.acknowledged_many")


@router.post("/api/alerts/ack", response_model=BulkAckOut)
def bulk_ack_api(svc: Services, session: GuardAction, body: BulkAckIn) -> BulkAckOut:
    """Acknowledge many alerts at once; says which were acknowledged and which skipped."""
    return acknowledge_many(svc, body.ids, session.user.name, body.comment)


@router.get("/api/alerts", response_model=list[AlertOut])
def alerts_api(svc: Services, session: GuardView, severity: SeverityQ = None,
               grid: GridQ = None, state: StateQ = "open") -> list[dict[str, Any]]:
    """Alerts as JSON, newest first, filtered like the page."""
    return _list(svc, state, severity, grid)


@router.post("/api/alerts/{alert_id}/ack", response_model=AlertOut)
def ack_api(svc: Services, session: GuardAction, alert_id: AlertId,
            body: AckIn) -> dict[str, Any]:
    """Acknowledge an alert with a comment; 409 when it already was."""
    return acknowledge(svc, alert_id, session.user.name, body.comment)

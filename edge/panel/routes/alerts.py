"""Alerts: list and filter by severity and grid, acknowledge with a comment."""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Form, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field

from edge.panel.deps import GuardAction, GuardView, Services
from edge.panel.live import LiveItem
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


class AckIn(BaseModel):
    comment: str = Field("", max_length=500)


def _list(svc: PanelServices, state: str, severity: Severity | None,
          grid: str | None) -> list[dict[str, Any]]:
    return svc.queries().alerts(open_only=state == "open",
                                severity=severity.value if severity else None,
                                grid_id=grid or None, limit=200)


def acknowledge(svc: PanelServices, alert_id: int, by: str, comment: str) -> dict[str, Any]:
    """Acknowledge an open alert; 404 when unknown, 409 when already acknowledged."""
    rows = _alert(svc, alert_id)
    if not rows:
        raise HTTPException(404, "error.not_found")
    if not svc.gate.journal.acknowledge_alert(alert_id, by, " ".join(comment.split())):
        raise HTTPException(409, "error.already_acknowledged")
    log.info("panel: %s acknowledged alert %d", by, alert_id)
    svc.hub.publish(LiveItem("ack", {"id": alert_id}))
    return _alert(svc, alert_id)[0]


def _alert(svc: PanelServices, alert_id: int) -> list[dict[str, Any]]:
    db = svc.db.conn()
    cursor = db.execute("SELECT * FROM alerts WHERE id = ?", [alert_id])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


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

"""Gate health: cameras, broker, outbox, versions of roster, keys and policy, disk space."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from edge.panel.deps import GuardView, Services
from edge.panel.health import HealthOut, gather
from edge.panel.views import render

router = APIRouter()


@router.get("/health", response_class=HTMLResponse)
def health_page(request: Request, svc: Services, session: GuardView) -> Response:
    """Gate health: cameras, broker, outbox, versions, disk."""
    return render(request, "health.html", {"h": gather(svc)})


@router.get("/api/health", response_model=HealthOut)
def health_api(svc: Services, session: GuardView) -> HealthOut:
    """Gate health as JSON."""
    return gather(svc)

"""The live view: camera images with boxes, the decision feed over Server-Sent Events."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from edge.display.screen import MESSAGES
from edge.panel.deps import GuardView, Services
from edge.panel.live import SESSIONS_CHANGED, LiveItem
from edge.panel.lookup import open_alert_count
from edge.panel.models import PassageOut
from edge.panel.routes.display import display_states
from edge.panel.routes.door import REASONS, door_states
from edge.panel.services import DISPLAY, PanelServices
from edge.panel.snapshots import thumb_key
from edge.panel.views import fragment, language_of, render
from gate.vocabulary import EventType

log = logging.getLogger(__name__)
router = APIRouter()
KEEPALIVE_S = 15.0
SESSION_CHECK_S = 2.0  # how often an open stream re-checks its session
_NO_STORE = {"Cache-Control": "no-store"}


def thumb_url(svc: PanelServices, row: dict[str, Any]) -> str | None:
    """Where the feed finds a picture of this passage, if there is one."""
    if row.get("snapshot"):
        return f"/{row['snapshot']}"
    key = thumb_key(row)
    return f"/api/thumbs/{key}.jpg" if key in svc.thumbs else None


@router.get("/", response_class=HTMLResponse)
def live_page(request: Request, svc: Services, session: GuardView) -> Response:
    """The live view: camera images, door controls and the decision feed."""
    passages = svc.queries().recent_passages(30)
    return render(request, "live.html", {
        "readers": [p.reader for p in svc.gate.pipelines.values()], "reasons": REASONS,
        "states": door_states(request, svc),
        "feed": [{"p": p, "thumb": thumb_url(svc, p)} for p in passages],
        "hold_max": svc.settings.hold_open_max_minutes, "prompts": svc.prompts.by_reader(),
        "screens": display_states(request, svc), "screen_messages": list(MESSAGES)})


def _gate_name(svc: PanelServices) -> str:
    return svc.gate.settings.gate.name or svc.gate.settings.gate.gate_id


def _payload(request: Request, svc: PanelServices, item: LiveItem) -> dict[str, Any]:
    if item.kind == EventType.PASSAGE:
        payload: dict[str, Any] = {"html": fragment(
            request, "_passage.html", {"p": item.row, "thumb": thumb_url(svc, item.row)})}
        prompt = svc.prompts.get(item.row.get("event_id"))
        if prompt is not None:  # the guard decides: a prompt at the reader
            lang = language_of(request)
            payload["prompt"] = {"reader": prompt.reader_id, "event_id": prompt.event_id,
                                 "title": svc.i18n.text(lang, "guard.title"),
                                 "text": svc.i18n.text(lang, "chime.prompt",
                                                       reader=prompt.reader_id),
                                 "html": fragment(request, "_guard_prompt.html", {"g": prompt})}
        return payload
    if item.kind == EventType.ALERT:
        row, lang = item.row, language_of(request)
        return {"id": row["id"], "open_alerts": open_alert_count(svc.db.conn()),
                "severity": row["severity"], "count": row.get("count") or 1,
                "escalated": bool(row.get("escalated_at")),
                "title": svc.i18n.text(lang, "chime.title", severity=svc.i18n.text(
                    lang, f"severity.{row['severity']}"), gate=_gate_name(svc)),
                "text": row["message_zh"] if lang == "zh" else row["message_en"],
                "html": fragment(request, "_alert.html", {"a": row})}
    if item.kind == "guard":  # a guard prompt answered: every page drops it
        return {"event_id": item.row["event_id"]}
    if item.kind == DISPLAY:
        reader_id = item.row["reader_id"]
        board = svc.gate.boards.get(reader_id)
        return {"reader_id": reader_id, "html": fragment(
            request, "_display_state.html", {"d": board.last() if board else None})}
    if item.kind == "ack":
        return {"id": item.row["id"], "open_alerts": open_alert_count(svc.db.conn())}
    return {"door": item.row.get("door"), "kind": item.row.get("kind")}


@router.get("/api/events")
async def events(request: Request, svc: Services, session: GuardView) -> StreamingResponse:
    """Passages, alerts and door changes as they are journaled (text/event-stream); the stream
    ends within SESSION_CHECK_S of its session ending, however busy the gate is."""

    async def alive() -> bool:
        # Database work runs in the thread pool: the event loop never waits on it.
        return await run_in_threadpool(svc.sessions.get_by_hash, session.token_hash) is not None

    async def stream() -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        yield "retry: 2000\n\n"
        async with svc.hub.subscribe() as sub:
            yield ": subscribed\n\n"
            checked = sent = loop.time()
            while True:
                # A removed account, a logout or a password change (here or by `gridgate user`
                # in another process) must end the feed even while events keep coming.
                if loop.time() - checked >= SESSION_CHECK_S:
                    if not await alive():
                        break
                    checked = loop.time()
                if loop.time() - sent >= KEEPALIVE_S:
                    yield ": keepalive\n\n"
                    sent = loop.time()
                due = min(checked + SESSION_CHECK_S, sent + KEEPALIVE_S)
                try:
                    item = await sub.get(max(0.01, due - loop.time()))
                except TimeoutError:
                    continue
                if item is None:
                    break
                if item.kind == SESSIONS_CHANGED:
                    if not await alive():
                        break
                    checked = loop.time()
                    continue
                try:
                    payload = await run_in_threadpool(_payload, request, svc, item)
                    data = json.dumps(payload, ensure_ascii=False)
                except Exception:  # one bad item must not end the guard's feed
                    log.exception("panel: cannot render live item %s", item.kind)
                    continue
                yield f"event: {item.kind}\ndata: {data}\n\n"
                sent = loop.time()

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={**_NO_STORE, "X-Accel-Buffering": "no"})


@router.get("/api/readers/{reader_id}/frame.jpg", response_class=Response,
            responses={200: {"content": {"image/jpeg": {}}}, 503: {"description": "no image"}})
def frame(svc: Services, session: GuardView,
          reader_id: Annotated[str, Path(max_length=64)]) -> Response:
    """The reader's latest camera image with boxes around QR codes and faces."""
    if reader_id not in svc.gate.pipelines:
        raise HTTPException(404, "error.not_found")
    data = svc.frames.jpeg(reader_id)
    if data is None:
        raise HTTPException(503, "error.no_image")
    return Response(data, media_type="image/jpeg", headers=_NO_STORE)


@router.get("/api/thumbs/{key}.jpg", response_class=Response,
            responses={200: {"content": {"image/jpeg": {}}}})
def thumbnail(svc: Services, session: GuardView,
              key: Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]) -> Response:
    """The camera at the moment of a recent passage (kept in memory, newest 200)."""
    data = svc.thumbs.get(key)
    if data is None:
        raise HTTPException(404, "error.not_found")
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private"})


@router.get("/snapshots/{day}/{name}", response_class=FileResponse)
def snapshot(svc: Services, session: GuardView,
             day: Annotated[str, Path(pattern=r"^\d{4}-\d{2}-\d{2}$")],
             name: Annotated[str, Path(pattern=r"^[0-9a-f]{32}\.jpg$")]) -> FileResponse:
    """An override snapshot kept as evidence."""
    path = svc.snapshots.path(f"snapshots/{day}/{name}")
    if path is None:
        raise HTTPException(404, "error.not_found")
    return FileResponse(path, media_type="image/jpeg")


@router.get("/api/passages", response_model=list[PassageOut])
def passages(svc: Services, session: GuardView,
             limit: Annotated[int, Query(ge=1, le=500)] = 50) -> list[dict[str, Any]]:
    """The latest passages, newest first."""
    return svc.queries().recent_passages(limit)

"""The gate display's web app: one full-screen page per reader, pushed live, read only.

Every screen listens on an address of its own (edge/display/server.py) and the app tells the
screens apart by the port a request came in on, so a screen shows only its own reader. There
is no login and nothing to change: `ScreenGuard` answers any method but GET and HEAD with 405
and any request with a body with 413 before reading it, and refuses clients outside the
screen's `allowed_clients` (loopback is always allowed). The panel's security headers apply,
with a policy that also lets the page play its own prompts.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import threading
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, HTMLResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from edge.display.board import DisplayBoard
from edge.display.prompts import file_name
from edge.panel.app import SecurityHeaders
from edge.panel.frames import LiveFrames
from edge.settings.display import DisplaySettings, ScreenSettings

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
TICK_S = 1.0  # a heartbeat at least this often: the page shows "offline" when they stop
OFFLINE_MS = 3000  # the page's "offline" after this long without a word from the gate
_NO_STORE = {"Cache-Control": "no-store"}
_CSP = ("default-src 'self'; img-src 'self'; media-src 'self'; style-src 'self'; "
        "script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'")
HEADERS = [
    (b"content-security-policy", _CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), autoplay=(self)"),
]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass
class Site:
    """One screen as served: its settings, its board and who may open it."""

    screen: ScreenSettings
    board: DisplayBoard
    port: int
    allowed: list[Network] = field(default_factory=list)

    def admits(self, host: str | None) -> bool:
        """True for loopback and for the screen's allowed clients."""
        try:
            address = ipaddress.ip_address((host or "").split("%")[0])
        except ValueError:
            return False
        if address.is_loopback:
            return True
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.allowed)


@dataclass
class DisplayServices:
    """What the display's routes use; kept on `app.state.display`."""

    sites: dict[int, Site]  # by the local port a request came in on
    settings: DisplaySettings
    frames: LiveFrames
    prompts_dir: Path | None
    closing: threading.Event = field(default_factory=threading.Event)

    def prompt_urls(self, prompt: str | None) -> list[str]:
        """The files of a prompt in the configured languages, in order; those present only."""
        if prompt is None or self.prompts_dir is None:
            return []
        names = [file_name(prompt, language) for language in self.settings.voice]
        return [f"/prompts/{name}" for name in names if (self.prompts_dir / name).is_file()]


def site_of(scope: Scope, sites: Mapping[int, Site]) -> Site | None:
    """The screen a request is for, by the port it came in on."""
    server = scope.get("server")
    return sites.get(server[1]) if server else None


class ScreenGuard:
    """Refuses strangers, state changes and bodies before anything reads them (see module)."""

    def __init__(self, app: ASGIApp, *, sites: Mapping[int, Site]) -> None:
        self.app = app
        self.sites = sites

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        site = site_of(scope, self.sites)
        client = scope.get("client")
        headers = Headers(scope=scope)
        if site is None or not site.admits(client[0] if client else None):
            answer = PlainTextResponse("forbidden", status_code=403)
        elif scope["method"] not in ("GET", "HEAD"):
            answer = PlainTextResponse("read only", status_code=405,
                                       headers={"Allow": "GET, HEAD"})
        elif "transfer-encoding" in headers or headers.get("content-length", "0") != "0":
            answer = PlainTextResponse("no body is taken here", status_code=413)
        else:
            await self.app(scope, receive, send)
            return
        answer.headers["connection"] = "close"  # the rest of a body is never read
        await answer(scope, receive, send)


def services(request: Request) -> DisplayServices:
    """The display's services."""
    svc: DisplayServices = request.app.state.display
    return svc


def site(request: Request) -> Site:
    """The screen this request came in for."""
    found = site_of(request.scope, services(request).sites)
    if found is None:  # ScreenGuard refused it already; kept for the type checker
        raise HTTPException(404)
    return found


Services = Annotated[DisplayServices, Depends(services)]
ThisSite = Annotated[Site, Depends(site)]
router = APIRouter()


def _payload(svc: DisplayServices, board: DisplayBoard) -> dict[str, Any]:
    view = board.view()
    return {**view, "prompt_urls": svc.prompt_urls(view["prompt"])}


@router.get("/", response_class=HTMLResponse)
def page(request: Request, svc: Services, here: ThisSite) -> HTMLResponse:
    """The full-screen page for the screen beside the door."""
    settings = svc.settings
    return templates.TemplateResponse(request, "display.html", {
        "s": here.board.view(), "preview": settings.preview, "mirror": settings.mirror_preview,
        "interval": settings.frame_interval_ms, "offline_ms": OFFLINE_MS}, headers=_NO_STORE)


@router.get("/screen.json")
def screen(svc: Services, here: ThisSite) -> dict[str, Any]:
    """What the screen shows now."""
    return _payload(svc, here.board)


@router.get("/events")
async def events(svc: Services, here: ThisSite) -> StreamingResponse:
    """The screen as it changes (text/event-stream), and a tick every second meanwhile."""
    board = here.board

    async def stream() -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        changed = asyncio.Event()

        def poke() -> None:  # from the gate's threads
            with contextlib.suppress(RuntimeError):  # the loop is gone: nobody listens
                loop.call_soon_threadsafe(changed.set)

        remove = board.add_listener(poke)
        try:
            yield "retry: 1000\n\n"
            sent: tuple[str, int] | None = None
            while not svc.closing.is_set():
                payload = _payload(svc, board)
                shown = (payload["key"], payload["prompt_seq"])
                if shown != sent:
                    sent = shown
                    yield f"event: screen\ndata: {json.dumps(payload, ensure_ascii=False)}\n\n"
                else:
                    yield "event: tick\ndata: {}\n\n"
                due = board.seconds_to_change()
                wait = TICK_S if due is None else min(TICK_S, due + 0.01)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), wait)
                changed.clear()
        finally:
            remove()

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={**_NO_STORE, "X-Accel-Buffering": "no"})


@router.get("/frame.jpg", response_class=Response,
            responses={200: {"content": {"image/jpeg": {}}}, 503: {"description": "no image"}})
def frame(svc: Services, here: ThisSite) -> Response:
    """The camera now, for the preview (encoded off the event loop)."""
    if not svc.settings.preview:
        raise HTTPException(404)
    data = svc.frames.jpeg(here.screen.reader_id, max_width=640, quality=70)
    if data is None:
        raise HTTPException(503, "no image yet")
    return Response(data, media_type="image/jpeg", headers=_NO_STORE)


@router.get("/prompts/{name}", response_class=FileResponse)
def prompt(svc: Services, here: ThisSite,
           name: Annotated[str, PathParam(pattern=r"^[a-z_]{1,32}\.(zh|en)\.wav$")]
           ) -> FileResponse:
    """One spoken prompt."""
    path = svc.prompts_dir / name if svc.prompts_dir is not None else None
    if path is None or not path.is_file():
        raise HTTPException(404)
    return FileResponse(path, media_type="audio/wav", headers={"Cache-Control": "max-age=3600"})


def create_display_app(svc: DisplayServices) -> FastAPI:
    """The display app over its screens."""
    app = FastAPI(title="gridgate display", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.display = svc
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(router)
    app.add_middleware(ScreenGuard, sites=svc.sites)
    app.add_middleware(SecurityHeaders, tls=False, headers=HEADERS)
    return app

"""The panel's FastAPI app: services on app.state, one router per resource, security headers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from http import HTTPStatus
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from fastapi import FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from edge.errors import EXPECTED_ERRORS
from edge.panel.deps import (
    LoginRequired,
    anonymous_csrf,
    login_required,
    optional_session,
    services,
)
from edge.panel.gate import PanelGate
from edge.panel.limits import RequestGuard
from edge.panel.routes import (
    alerts,
    approvals,
    auth,
    display,
    door,
    guard,
    health,
    live,
    persons,
    users,
    visitors,
)
from edge.panel.routes import (
    settings as settings_routes,
)
from edge.panel.services import PanelServices, SyncStatus, build_services
from edge.panel.views import language_of, render
from edge.settings.panel import PanelSettings
from gate.clock import Clock

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).parent / "static"

# Everything comes from the gate itself: it may have no internet, and guards' browsers must
# not be made to load or send anything elsewhere.
_CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'")
_HEADERS = [
    (b"content-security-policy", _CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]


class SecurityHeaders:
    """Adds the security headers to every response (pure ASGI: streams pass untouched)."""

    def __init__(self, app: ASGIApp, *, tls: bool,
                 headers: list[tuple[bytes, bytes]] | None = None) -> None:
        self.app = app
        self.headers = list(_HEADERS if headers is None else headers)  # the gate display's own
        if tls:
            self.headers.append((b"strict-transport-security", b"max-age=31536000"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                headers += [h for h in self.headers if h[0] not in names]
                if b"cache-control" not in names and not scope["path"].startswith("/static/"):
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _error(request: Request, status: int, detail: str) -> Response:
    if _is_api(request):
        return JSONResponse({"detail": detail}, status_code=status)
    svc = services(request)
    lang = language_of(request)
    shown = svc.i18n.text(lang, detail) if svc.i18n.has(detail) else detail
    if detail == _phrase(status):  # Starlette's own ("Not Found"): said in the page's language
        shown = svc.i18n.exact(lang, f"error.http_{status}", {}) or svc.i18n.exact(
            lang, "error.http", {"status": status, "phrase": detail}) or detail
    return render(request, "error.html", {"status": status, "detail": shown}, status=status)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    async def no_login(request: Request, exc: LoginRequired) -> Response:
        return login_required(request.url.path, request.method)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return _error(request, exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        if _is_api(request):
            return JSONResponse({"detail": jsonable(exc.errors())}, status_code=422)
        fields = ", ".join(".".join(str(p) for p in e["loc"][1:]) for e in exc.errors())
        text = services(request).i18n.text(language_of(request), "error.invalid")
        return _error(request, 400, f"{text}: {fields}")

    async def expected_error(request: Request, exc: Exception) -> Response:
        if _is_api(request):
            return _error(request, 400, str(exc))
        return _error(request, 400, services(request).i18n.error(language_of(request), exc))

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> Response:
        # A bug: logged with its traceback by the server; the guard gets a page in their
        # language (or JSON), never a bare "Internal Server Error".
        return _error(request, 500, "Internal Server Error" if _is_api(request)
                      else "error.internal")

    # Errors raised on purpose (gridgate's and vision's, e.g. an unreadable photo) answer 400
    # with their message; starlette picks a handler by class, so one for each root.
    for error in EXPECTED_ERRORS:
        app.add_exception_handler(error, expected_error)


def jsonable(errors: Any) -> Any:
    """Validation errors without the raw input objects (which may not be JSON)."""
    return [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in errors]


def create_app(gate: PanelGate, settings: PanelSettings, *, clock: Clock | None = None,
               hasher: PasswordHasher | None = None, sync: SyncStatus | None = None,
               config_path: Path | None = None) -> FastAPI:
    """Build the panel for a running gate; services live on `app.state.panel`. With
    `config_path`, admins may edit that configuration file (it takes effect at restart)."""
    panel: PanelServices = build_services(gate, settings, clock=clock, hasher=hasher, sync=sync,
                                          config_path=config_path)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        panel.close()

    app = FastAPI(title="gridgate panel", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.panel = panel
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    _install_handlers(app)
    for module in (auth, live, door, guard, display, alerts, approvals, visitors, persons, health,
                   users, settings_routes):
        app.include_router(module.router)
    # Bodies are bounded and anonymous state changes refused before anything reads a body;
    # the security headers go on those refusals too (the last middleware added runs first).
    app.add_middleware(RequestGuard, anonymous=anonymous_paths(app), lookup=optional_session,
                       login_required=login_required)
    app.add_middleware(SecurityHeaders, tls=settings.tls)
    return app


def _routes(routes: list[Any]) -> list[APIRoute]:
    """Every endpoint, also inside included routers (FastAPI may keep those nested)."""
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif getattr(route, "original_router", None) is not None:
            found += _routes(route.original_router.routes)
    return found


def _calls(dependant: Dependant) -> Iterator[Any]:
    for dependency in dependant.dependencies:
        yield dependency.call
        yield from _calls(dependency)


def anonymous_paths(app: FastAPI) -> frozenset[str]:
    """Paths of the routes that may change state before login: those taking the anonymous
    CSRF check (login, setup, language). Every other state change needs a session."""
    paths = frozenset(route.path for route in _routes(app.routes)
                      if anonymous_csrf in _calls(route.dependant))
    if any("{" in path for path in paths):  # RequestGuard matches them as plain paths
        raise RuntimeError(f"anonymous routes with path parameters: {sorted(paths)}")
    return paths

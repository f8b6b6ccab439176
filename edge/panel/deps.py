"""Authentication, roles and CSRF as FastAPI dependencies.

Every state-changing route takes `GuardAction` or `AdminAction` (login, role, then the CSRF
token of the session), or `anonymous_csrf` before login (a double-submit cookie). In front of
them, edge/panel/limits.py refuses state changes without a session before reading a body
(all but the `anonymous_csrf` routes) and bounds every body.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from edge.panel.services import PanelServices
from edge.panel.sessions import Session
from edge.panel.users import Role

SESSION_COOKIE = "gridgate_session"
CSRF_COOKIE = "gridgate_csrf"  # before login only; a session carries its own token
LANG_COOKIE = "gridgate_lang"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class LoginRequired(Exception):
    """No valid session: pages redirect to the login, the API answers 401."""


def login_required(path: str, method: str) -> Response:
    """The answer without a session: 401 under /api/, else a redirect to the login (back to
    the page for a GET). The routes raise LoginRequired; edge/panel/limits.py answers the
    same before reading a body."""
    if path.startswith("/api/"):
        return JSONResponse({"detail": "login required"}, status_code=401)
    target = path if method == "GET" else "/"
    return RedirectResponse(f"/login?next={target}", status_code=303)


def services(request: Request) -> PanelServices:
    """The panel's services."""
    panel: PanelServices = request.app.state.panel  # set by the app factory
    return panel


Services = Annotated[PanelServices, Depends(services)]


def optional_session(request: Request) -> Session | None:
    """The request's live session, or None (looked up once per request)."""
    if not hasattr(request.state, "session"):
        token = request.cookies.get(SESSION_COOKIE, "")
        request.state.session = services(request).sessions.get(token) if token else None
    session: Session | None = request.state.session
    return session


def current_session(request: Request) -> Session:
    """The live session; LoginRequired without one."""
    session = optional_session(request)
    if session is None:
        raise LoginRequired()
    return session


async def sent_csrf(request: Request) -> str:
    """The CSRF token the request carries: the X-CSRF-Token header or the form field."""
    token = request.headers.get(CSRF_HEADER)
    if token is None and request.headers.get("content-type", "").startswith(_FORM_TYPES):
        value = (await request.form()).get(CSRF_FIELD)
        token = value if isinstance(value, str) else None
    return token or ""


def _same(sent: str, expected: str) -> bool:
    return bool(sent) and bool(expected) and hmac.compare_digest(sent.encode("utf-8", "replace"),
                                                                 expected.encode())


def _viewer(role: Role) -> Callable[[Session], Session]:
    def dependency(session: Annotated[Session, Depends(current_session)]) -> Session:
        if not session.user.role.allows(role):
            raise HTTPException(403, "error.role")
        return session

    return dependency


def _action(role: Role) -> Callable[[Request, Session], Awaitable[Session]]:
    async def dependency(request: Request,
                         session: Annotated[Session, Depends(current_session)]) -> Session:
        if not session.user.role.allows(role):
            raise HTTPException(403, "error.role")
        if not _same(await sent_csrf(request), session.csrf_token):
            raise HTTPException(403, "error.csrf")
        return session

    return dependency


async def anonymous_csrf(request: Request,
                         session: Annotated[Session | None, Depends(optional_session)],
                         ) -> Session | None:
    """CSRF check for requests that may come before login (login, setup, language)."""
    expected = session.csrf_token if session else request.cookies.get(CSRF_COOKIE, "")
    if not _same(await sent_csrf(request), expected):
        raise HTTPException(403, "error.csrf")
    return session


GuardView = Annotated[Session, Depends(_viewer(Role.GUARD))]
AdminView = Annotated[Session, Depends(_viewer(Role.ADMIN))]
GuardAction = Annotated[Session, Depends(_action(Role.GUARD))]
AdminAction = Annotated[Session, Depends(_action(Role.ADMIN))]
AnonymousAction = Annotated[Session | None, Depends(anonymous_csrf)]


def client_address(request: Request) -> str:
    """The peer address (the panel is served directly, not behind a proxy)."""
    return request.client.host if request.client else "unknown"

"""Request bodies are bounded before they are read, and refused without a login before that.

The panel runs in the process that drives the doors, so no request may make it hold more than
a small, known amount of memory. `RequestGuard` is a pure ASGI middleware, in front of every
route:

1. A declared `Content-Length` above what the path and content type may ever take is answered
   413 before a byte of the body is read; multipart bodies (no route takes files) get 415.
2. A state-changing request (anything but GET, HEAD, OPTIONS) without a live session is
   answered as the routes answer it (401 JSON under /api/, a redirect to the login for pages)
   before its body is read; only the anonymous endpoints (login, setup, language) read a body
   before login, and only up to the form limit.
3. The body is then read here, counting bytes as they arrive (chunked bodies declare nothing):
   the moment the limit is passed reading stops and the answer is 413. The app gets the body
   as one message, so nothing behind this middleware ever sees more than the limit.

Every refusal closes the connection, so the rest of a body is never read or buffered.
The limits come from the routes' own fields (see `BodyLimits`).
"""

from __future__ import annotations

from collections.abc import Callable, Container
from dataclasses import dataclass

import anyio.to_thread
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from edge.panel.deps import SESSION_COOKIE
from edge.panel.sessions import Session
from edge.panel.users import Role

KIB = 1024
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# JSON bodies: the largest legitimate one is an acknowledgement's 500-character comment, at
# most 12 bytes a character as JSON (an escaped surrogate pair): 6 KB.
JSON_LIMIT = 16 * KIB
# Forms: the largest besides the settings is the password change, three 1,024-character
# fields, at most 12 bytes a character once form-encoded (4 UTF-8 bytes, each as %XX): 36 KB.
FORM_LIMIT = 64 * KIB
# The settings (admins only) post the whole TOML file. The form parser refuses a field over
# 1 MiB (starlette's max_part_size), so no larger settings form could ever be taken; the JSON
# API gets the same room.
CONFIG_LIMIT = 1024 * KIB + FORM_LIMIT
CONFIG_PATHS = frozenset({"/settings", "/api/settings"})


@dataclass(frozen=True)
class BodyLimits:
    """How many body bytes a request may send, by content type and path."""

    json: int = JSON_LIMIT  # also any other content type: the routes only parse JSON
    form: int = FORM_LIMIT  # application/x-www-form-urlencoded
    config: int = CONFIG_LIMIT  # an admin's settings, form or JSON
    config_paths: frozenset[str] = CONFIG_PATHS

    def limit(self, path: str, content_type: str, *, admin: bool) -> int | None:
        """The limit for this request; None when its content type is refused outright."""
        kind = content_type.split(";", 1)[0].strip().lower()
        if kind.startswith("multipart/"):
            return None  # no panel route takes files
        base = self.form if kind == "application/x-www-form-urlencoded" else self.json
        if admin and path in self.config_paths:
            return max(base, self.config)
        return base


SessionLookup = Callable[[Request], Session | None]
LoginAnswer = Callable[[str, str], Response]


class _Disconnected(Exception):
    """The client went away while its body was being read."""


class RequestGuard:
    """Refuses oversize bodies and anonymous state changes before reading them (see module)."""

    def __init__(self, app: ASGIApp, *, anonymous: Container[str], lookup: SessionLookup,
                 login_required: LoginAnswer, limits: BodyLimits | None = None) -> None:
        self.app = app
        self.anonymous = anonymous  # paths that may change state before login
        self.lookup = lookup  # finds the session (and keeps it on the request's state)
        self.login_required = login_required  # (path, method) -> the routes' own answer
        self.limits = limits or BodyLimits()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        path, method = scope["path"], scope["method"]
        content_type = headers.get("content-type", "")
        try:
            declared = int(headers["content-length"]) if "content-length" in headers else None
        except ValueError:
            await _refuse(scope, receive, send, _answer(path, 400, "bad content-length"))
            return
        has_body = "transfer-encoding" in headers or bool(declared)
        ceiling = self.limits.limit(path, content_type, admin=True)
        if has_body and ceiling is None:
            await _refuse(scope, receive, send, _answer(path, 415, "content type not accepted"))
            return
        if ceiling is not None and declared is not None and declared > ceiling:
            await _refuse(scope, receive, send, _too_large(path, ceiling))
            return
        session: Session | None = None
        if method not in SAFE_METHODS and path not in self.anonymous:
            session = await self._session(scope)
            if session is None:
                answer = self.login_required(path, method)
                await (_refuse if has_body else _send)(scope, receive, send, answer)
                return
        if not has_body:
            await self.app(scope, receive, send)
            return
        admin = session is not None and session.user.role.allows(Role.ADMIN)
        limit = self.limits.limit(path, content_type, admin=admin) or 0  # None: refused above
        if declared is not None and declared > limit:
            await _refuse(scope, receive, send, _too_large(path, limit))
            return
        try:
            body = await _read(receive, limit)
        except _Disconnected:
            return
        if body is None:
            await _refuse(scope, receive, send, _too_large(path, limit))
            return
        await self.app(scope, _replay(body, receive), send)

    async def _session(self, scope: Scope) -> Session | None:
        request = Request(scope)
        if not request.cookies.get(SESSION_COOKIE):
            return None  # no cookie, no session: answered without touching the database
        # The lookup reads (and now and then touches) the session row: off the event loop.
        return await anyio.to_thread.run_sync(self.lookup, request)


async def _read(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None as soon as it passes `limit` (the rest is never read)."""
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        body += message.get("body", b"")
        if len(body) > limit:
            return None
        if not message.get("more_body", False):
            return bytes(body)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands over the body read already, then waits for the disconnect."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _answer(path: str, status: int, detail: str) -> Response:
    if path.startswith("/api/"):
        return JSONResponse({"detail": detail}, status_code=status)
    return PlainTextResponse(detail, status_code=status)


def _too_large(path: str, limit: int) -> Response:
    if path.startswith("/api/"):
        return JSONResponse({"detail": "request body too large", "limit": limit},
                            status_code=413)
    return PlainTextResponse(f"请求内容过大 / request body too large (limit {limit} bytes)",
                             status_code=413)


async def _send(scope: Scope, receive: Receive, send: Send, response: Response) -> None:
    await response(scope, receive, send)


async def _refuse(scope: Scope, receive: Receive, send: Send, response: Response) -> None:
    """Answer without reading the body, and close the connection: the unread rest of the
    body is dropped by the server instead of being read into memory."""
    response.headers["connection"] = "close"
    await response(scope, receive, send)

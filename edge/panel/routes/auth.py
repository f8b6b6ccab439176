"""Logging in and out, the first admin by setup token, language, changing one's own password."""

from __future__ import annotations

import logging
import math
import threading
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel

from edge.panel.audit import audit
from edge.panel.deps import (
    CSRF_COOKIE,
    LANG_COOKIE,
    SESSION_COOKIE,
    AnonymousAction,
    GuardAction,
    GuardView,
    Services,
    client_address,
    optional_session,
)
from edge.panel.errors import UserError
from edge.panel.i18n import LANGUAGES
from edge.panel.throttle import LoginAttempt
from edge.panel.users import Role
from edge.panel.views import cookie_options, language_of, redirect, render, safe_next
from gate.errors import JournalError
from gate.model import AlertSpec, Severity
from gate.vocabulary import AlertKind, AuditKind

log = logging.getLogger(__name__)
router = APIRouter()
_SETUP_ACCOUNT = "(setup)"  # throttle key of the setup form


class MeOut(BaseModel):
    name: str
    role: Role
    csrf_token: str
    expires_at: str


def _start_session(request: Request, svc: Services, name: str, target: str) -> Response:
    user = svc.users.get(name)
    assert user is not None
    token, session = svc.sessions.create(user, client_address(request))
    response = redirect(safe_next(target))
    max_age = int((session.expires_at - session.created_at).total_seconds())
    response.set_cookie(SESSION_COOKIE, token, max_age=max_age, **cookie_options(request))
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


def _wait_text(request: Request, svc: Services, attempt: LoginAttempt) -> str:
    t = svc.i18n.bound(language_of(request))
    if attempt.busy:  # refused while other attempts are being checked, not locked
        return t("login.busy")
    # Whole seconds first: float noise must not turn 15 minutes into 16.
    minutes = max(1, math.ceil(round(attempt.wait) / 60))
    if attempt.paced:  # a locked account, and this new address's turn has not come yet
        return t("login.paced", minutes=minutes)
    return t("login.locked", minutes=minutes)


def _alert_guessing(svc: Services, attempt: LoginAttempt) -> None:
    """Tell the admins (journal alert, once per lockout) that an account is being guessed at:
    its name and how many addresses, never what was typed as the password. Names that are
    no account raise nothing (the admins have nothing to protect there)."""
    guessing = attempt.guessing
    if guessing is None:
        return
    user = svc.users.get(guessing.account)
    if user is None:
        return
    minutes = f"{svc.settings.lockout_minutes:g}"
    log.warning("panel: account %r locked after %d failed logins from %d addresses",
                user.name, guessing.failures, guessing.addresses)
    try:
        svc.gate.journal.record_alert(AlertSpec(
            AlertKind.LOGIN_GUESSING, Severity.WARNING,
            f"账号 {user.name} 正被猜测密码：{guessing.addresses} 个地址共登录失败 "
            f"{guessing.failures} 次；这些地址已被锁定 {minutes} 分钟，账号在其他设备上仍可登录",
            f"someone is guessing the password of account {user.name}: {guessing.failures} "
            f"failed logins from {guessing.addresses} addresses; those addresses are locked "
            f"out for {minutes} minutes, the account still signs in elsewhere"))
    except JournalError as exc:  # the log above keeps the record
        log.error("panel: login guessing alert not journaled: %s", exc)


def _locked(request: Request, svc: Services, attempt: LoginAttempt,
            **ctx: object) -> HTMLResponse:
    error = _wait_text(request, svc, attempt)
    return render(request, "login.html", {"error": error, **ctx}, status=429)


_SETUP_LOCK = threading.Lock()


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, svc: Services, next: str = "/") -> Response:
    """The login form (or the setup page on a gate without accounts)."""
    if optional_session(request) is not None:
        return redirect(safe_next(next))
    if svc.setup.active and not svc.users.list():  # a fresh gate: nobody could log in yet
        return redirect("/setup")
    return render(request, "login.html", {"next": safe_next(next), "name": ""})


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, svc: Services, _: AnonymousAction,
          name: Annotated[str, Form(max_length=64)],
          password: Annotated[str, Form(max_length=1024)],
          next: Annotated[str, Form(max_length=512)] = "/") -> Response:
    """Check name and password under the throttle; start a session on success."""
    address = client_address(request)
    ctx = {"next": safe_next(next), "name": name}
    # The try is reserved before the slow password check, so parallel guesses cannot all
    # pass the lockout test before any of them is counted.
    with svc.throttle.attempt(name, address) as attempt:
        if attempt.wait:
            log.warning("panel login refused for %r from %s: %s", name, address,
                        "other attempts being checked" if attempt.busy else
                        "not this address's turn on a locked account" if attempt.paced else
                        "locked out")
            return _locked(request, svc, attempt, **ctx)
        user = svc.users.authenticate(name, password)
        if user is None:
            attempt.failed()
            log.warning("panel login failed for %r from %s", name, address)
            # Checked failures only: the throttle bounds them; refusals while locked are not
            # journaled one by one (the login_guessing alert speaks for them).
            audit(svc, AuditKind.LOGIN_FAILED, actor=name, address=address,
                  detail="wrong name or password")
            _alert_guessing(svc, attempt)
            if attempt.wait:
                return _locked(request, svc, attempt, **ctx)
            t = svc.i18n.bound(language_of(request))
            return render(request, "login.html", {"error": t("login.failed"), **ctx},
                          status=401)
        attempt.succeeded()
    log.info("panel login: %s (%s) from %s", user.name, user.role, address)
    audit(svc, AuditKind.LOGIN, actor=user.name, address=address, detail=f"role {user.role}")
    return _start_session(request, svc, user.name, next)


@router.post("/logout")
def logout(request: Request, svc: Services, session: GuardAction) -> Response:
    """End this session on the server and drop its cookie."""
    svc.sessions.revoke_hash(session.token_hash)
    audit(svc, AuditKind.LOGOUT, actor=session.user.name, address=client_address(request))
    response = redirect("/login", "msg.logged_out")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _setup_closed(svc: Services) -> bool:
    """True when the setup form is over: an admin exists or no token waits (expired, used)."""
    if svc.users.has_admin():
        if svc.setup.active:  # made with `gridgate user add` meanwhile: spend the token
            svc.setup.revoke()
        return True
    return not svc.setup.active


@router.get("/setup", response_class=HTMLResponse)
def setup_page(request: Request, svc: Services) -> Response:
    """The first-admin form, while a setup token waits and no admin exists."""
    if _setup_closed(svc):
        return redirect("/login")
    return render(request, "setup.html", {"name": ""})


@router.post("/setup", response_class=HTMLResponse)
def setup(request: Request, svc: Services, _: AnonymousAction,
          token: Annotated[str, Form(max_length=128)],
          name: Annotated[str, Form(max_length=64)],
          password: Annotated[str, Form(max_length=1024)],
          password2: Annotated[str, Form(max_length=1024)]) -> Response:
    """Create the first admin with the one-time setup token, then spend the token."""
    if _setup_closed(svc):
        return redirect("/login")
    address = client_address(request)
    t = svc.i18n.bound(language_of(request))
    with svc.throttle.attempt(_SETUP_ACCOUNT, address) as attempt:
        if attempt.wait:
            return render(request, "setup.html", {
                "error": _wait_text(request, svc, attempt), "name": name}, status=429)
        if not svc.setup.matches(token):
            attempt.failed()
            log.warning("panel setup: wrong token from %s", address)
            audit(svc, AuditKind.LOGIN_FAILED, actor=_SETUP_ACCOUNT, address=address,
                  detail="wrong setup token")
            return render(request, "setup.html", {"error": t("setup.bad_token"),
                                                  "name": name}, status=401)
    if password != password2:
        return render(request, "setup.html", {"error": t("password.mismatch"), "name": name},
                      status=400)
    # One first admin per token: two requests holding the token must not both get through.
    with _SETUP_LOCK:
        if _setup_closed(svc) or not svc.setup.matches(token):
            return redirect("/login")
        try:
            svc.users.add(name, Role.ADMIN, password)
        except UserError as exc:
            return render(request, "setup.html", {
                "error": svc.i18n.error(language_of(request), exc), "name": name}, status=400)
        svc.setup.revoke()
    log.warning("panel setup: first admin %r created from %s", name, address)
    audit(svc, AuditKind.SETUP_ADMIN, actor=name, address=address, target=name,
          detail="first admin, made with the setup token")
    return _start_session(request, svc, name, "/users")


@router.post("/language")
def language(request: Request, _: AnonymousAction,
             lang: Annotated[str, Form(max_length=8)],
             next: Annotated[str, Form(max_length=512)] = "/") -> Response:
    """Remember the chosen language in a cookie and go back to the page."""
    response = redirect(safe_next(next))
    if lang in LANGUAGES:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 24 * 3600,
                            **cookie_options(request))
    return response


@router.get("/account", response_class=HTMLResponse)
def account_page(request: Request, session: GuardView) -> Response:
    """The guard's own account: session end, password change."""
    return render(request, "account.html", {"session": session})


@router.post("/account/password", response_class=HTMLResponse)
def change_password(request: Request, svc: Services, session: GuardAction,
                    current: Annotated[str, Form(max_length=1024)],
                    password: Annotated[str, Form(max_length=1024)],
                    password2: Annotated[str, Form(max_length=1024)]) -> Response:
    """Change one's own password (the current one is asked); ends every session."""
    t = svc.i18n.bound(language_of(request))
    address = client_address(request)
    with svc.throttle.attempt(session.user.name, address) as attempt:
        if attempt.wait:
            return render(request, "account.html", {
                "session": session, "error": _wait_text(request, svc, attempt)},
                status=429)
        if svc.users.authenticate(session.user.name, current) is None:
            attempt.failed()
            audit(svc, AuditKind.LOGIN_FAILED, actor=session.user.name, address=address,
                  detail="wrong current password when changing it")
            _alert_guessing(svc, attempt)
            return render(request, "account.html", {
                "session": session, "error": t("account.wrong_current")}, status=400)
        attempt.succeeded()
    if password != password2:
        return render(request, "account.html", {"session": session,
                                                "error": t("password.mismatch")}, status=400)
    try:
        svc.users.set_password(session.user.name, password)  # ends every session of the user
    except UserError as exc:
        return render(request, "account.html", {
            "session": session, "error": svc.i18n.error(language_of(request), exc)}, status=400)
    log.info("panel: %s changed their password", session.user.name)
    audit(svc, AuditKind.PASSWORD_CHANGED, actor=session.user.name, address=address,
          target=session.user.name)
    response = redirect("/login", "msg.password_changed")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/api/me", response_model=MeOut)
def me(session: GuardView) -> MeOut:
    """Who is logged in, with the session's CSRF token for API clients."""
    return MeOut(name=session.user.name, role=session.user.role, csrf_token=session.csrf_token,
                 expires_at=session.expires_at.isoformat())

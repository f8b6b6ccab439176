"""Account management for admins: add guards and admins, reset passwords, remove accounts."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel

from edge.panel.audit import audit
from edge.panel.deps import AdminAction, AdminView, Services, client_address
from edge.panel.errors import UserError
from edge.panel.users import Role
from edge.panel.views import language_of, redirect, render
from gate.vocabulary import AuditKind

log = logging.getLogger(__name__)
router = APIRouter()
UserName = Annotated[str, Path(min_length=1, max_length=64)]


class UserOut(BaseModel):
    id: int
    name: str
    role: Role
    created_at: str
    password_changed_at: str


def _page(request: Request, svc: Services, *, error: str = "", status: int = 200) -> Response:
    return render(request, "users.html", {"users": svc.users.list(), "roles": list(Role),
                                          "error": error}, status=status)


@router.get("/users", response_class=HTMLResponse)
def users_page(request: Request, svc: Services, session: AdminView) -> Response:
    """The accounts page (admins)."""
    return _page(request, svc)


@router.post("/users", response_class=HTMLResponse)
def add_user(request: Request, svc: Services, session: AdminAction,
             name: Annotated[str, Form(max_length=64)], role: Annotated[str, Form(max_length=8)],
             password: Annotated[str, Form(max_length=1024)],
             password2: Annotated[str, Form(max_length=1024)]) -> Response:
    """Create a guard or admin account (admins)."""
    if password != password2:
        t = svc.i18n.bound(language_of(request))
        return _page(request, svc, error=t("password.mismatch"), status=400)
    try:
        svc.users.add(name, role, password)
    except UserError as exc:
        return _page(request, svc, error=svc.i18n.error(language_of(request), exc), status=400)
    log.info("panel: %s added %s user %r", session.user.name, role, name)
    audit(svc, AuditKind.ACCOUNT_ADDED, actor=session.user.name,
          address=client_address(request), target=name, detail=f"role {role}")
    return redirect("/users", "msg.user_added")


@router.post("/users/{name}/password", response_class=HTMLResponse)
def reset_password(request: Request, svc: Services, session: AdminAction, name: UserName,
                   password: Annotated[str, Form(max_length=1024)],
                   password2: Annotated[str, Form(max_length=1024)]) -> Response:
    """Set a user's password (admins); ends that user's sessions."""
    if password != password2:
        t = svc.i18n.bound(language_of(request))
        return _page(request, svc, error=t("password.mismatch"), status=400)
    try:
        svc.users.set_password(name, password)  # ends that user's sessions
    except UserError as exc:
        return _page(request, svc, error=svc.i18n.error(language_of(request), exc), status=400)
    log.info("panel: %s set a new password for %r", session.user.name, name)
    audit(svc, AuditKind.PASSWORD_SET, actor=session.user.name,
          address=client_address(request), target=name)
    if name.lower() == session.user.name.lower():
        return redirect("/login", "msg.password_changed")
    return redirect("/users", "msg.password_set")


@router.post("/users/{name}/remove", response_class=HTMLResponse)
def remove_user(request: Request, svc: Services, session: AdminAction,
                name: UserName) -> Response:
    """Remove an account and its sessions (admins); the last admin stays."""
    try:
        svc.users.remove(name)
    except UserError as exc:
        return _page(request, svc, error=svc.i18n.error(language_of(request), exc), status=400)
    log.info("panel: %s removed user %r", session.user.name, name)
    audit(svc, AuditKind.ACCOUNT_REMOVED, actor=session.user.name,
          address=client_address(request), target=name)
    return redirect("/users", "msg.user_removed")


@router.get("/api/users", response_model=list[UserOut])
def users_api(svc: Services, session: AdminView) -> list[UserOut]:
    """The accounts as JSON (admins)."""
    return [UserOut(id=u.id, name=u.name, role=u.role, created_at=u.created_at,
                    password_changed_at=u.password_changed_at) for u in svc.users.list()]

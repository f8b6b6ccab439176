"""Panel accounts: guards and admins, passwords hashed with Argon2id."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from edge.panel.db import PanelDatabase
from edge.panel.errors import UserError
from gate.clock import Clock, SystemClock
from gate.journal.queries import utc_text

NAME_PATTERN = re.compile(r"^[\w.-]{1,32}$")
MIN_PASSWORD, MAX_PASSWORD = 10, 256


class Role(StrEnum):
    """What an account may do: guards run the gate; admins also manage accounts."""

    GUARD = "guard"
    ADMIN = "admin"

    def allows(self, needed: Role) -> bool:
        """True when this role may do what `needed` may do."""
        return self is Role.ADMIN or needed is Role.GUARD


@dataclass(frozen=True)
class PanelUser:
    """One account, without its password hash."""

    id: int
    name: str
    role: Role
    created_at: str
    password_changed_at: str


def check_name(name: str) -> str:
    """The name, or a UserError saying what a name may contain."""
    if not NAME_PATTERN.match(name):
        raise UserError("a user name is 1 to 32 letters, digits, '_', '.' or '-'",
                        "usererror.name")
    return name


def check_password(password: str, name: str) -> str:
    """The password, or a UserError saying why it is too weak."""
    if len(password) < MIN_PASSWORD:
        raise UserError(f"the password needs at least {MIN_PASSWORD} characters",
                        "usererror.password_short", n=MIN_PASSWORD)
    if len(password) > MAX_PASSWORD:
        raise UserError(f"the password may have at most {MAX_PASSWORD} characters",
                        "usererror.password_long", n=MAX_PASSWORD)
    if password.strip().lower() == name.lower():
        raise UserError("the password must not be the user name", "usererror.password_name")
    return password


def check_role(role: str) -> Role:
    """The role, or a UserError naming the roles there are."""
    try:
        return Role(role)
    except ValueError:
        raise UserError(f"unknown role {role!r}; use 'guard' or 'admin'", "usererror.role",
                        role=role) from None


def _user(row: dict[str, Any]) -> PanelUser:
    return PanelUser(row["id"], row["name"], Role(row["role"]), row["created_at"],
                     row["password_changed_at"])


class UserStore:
    """Accounts in the gate database; changing a password ends that user's sessions."""

    def __init__(self, db: PanelDatabase, *, clock: Clock | None = None,
                 hasher: PasswordHasher | None = None) -> None:
        self.db = db
        self.clock = clock or SystemClock()
        self.hasher = hasher or PasswordHasher(type=Type.ID)
        # Verifying against this when the name is unknown makes both cases cost the same time.
        self._dummy_hash = self.hasher.hash("not a password of anybody")
        # Told after sessions were ended here (the panel ends their live feeds at once).
        self.on_revoke: Callable[[], None] = lambda: None

    def _rows(self, where: str = "1 = 1", params: list[Any] | None = None) -> list[dict[str, Any]]:
        return list(self.db.conn()["panel_users"].rows_where(where, params or [], order_by="id"))

    def get(self, name: str) -> PanelUser | None:
        """The user of that name (case-insensitive), or None."""
        rows = self._rows("name = ?", [name])
        return _user(rows[0]) if rows else None

    def by_id(self, user_id: int) -> PanelUser | None:
        """The user with that id, or None."""
        rows = self._rows("id = ?", [user_id])
        return _user(rows[0]) if rows else None

    def list(self) -> list[PanelUser]:
        """Every account, oldest first."""
        return [_user(r) for r in self._rows()]

    def has_admin(self) -> bool:
        """True when at least one admin account exists."""
        return bool(self._rows("role = 'admin'"))

    def add(self, name: str, role: Role | str, password: str) -> PanelUser:
        """Create an account; UserError when the name is taken or the password too weak."""
        check_name(name)
        role = check_role(str(role))
        check_password(password, name)
        now = utc_text(self.clock.now())
        row = {"name": name, "role": role.value, "password_hash": self.hasher.hash(password),
               "created_at": now, "password_changed_at": now}
        try:
            with self.db.write() as db:
                db.table("panel_users").insert(row)
        except sqlite3.IntegrityError:
            raise UserError(f"a user named {name!r} already exists", "usererror.exists",
                            name=name) from None
        user = self.get(name)
        assert user is not None
        return user

    def authenticate(self, name: str, password: str) -> PanelUser | None:
        """The user when name and password match, else None (same cost either way)."""
        rows = self._rows("name = ?", [name]) if NAME_PATTERN.match(name) else []
        stored = rows[0]["password_hash"] if rows else self._dummy_hash
        try:
            self.hasher.verify(stored, password[:MAX_PASSWORD])
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if not rows:
            return None
        if self.hasher.check_needs_rehash(stored):  # cost parameters were raised since
            rehashed = self.hasher.hash(password)  # outside the write lock: hashing is slow
            with self.db.write() as db:
                db.table("panel_users").update(rows[0]["id"], {"password_hash": rehashed})
        return _user(rows[0])

    def set_password(self, name: str, password: str) -> PanelUser:
        """Set a new password and end every session of that user."""
        user = self._require(name)
        check_password(password, user.name)
        hashed = self.hasher.hash(password)  # outside the write lock: hashing is slow
        with self.db.write() as db:
            db.table("panel_users").update(user.id, {
                "password_hash": hashed, "password_changed_at": utc_text(self.clock.now())})
            db.execute("DELETE FROM panel_sessions WHERE user_id = ?", [user.id])
        self.on_revoke()
        return self._require(name)

    def remove(self, name: str) -> PanelUser:
        """Delete an account and its sessions; the last admin cannot be removed."""
        user = self._require(name)
        if user.role is Role.ADMIN and len(self._rows("role = 'admin'")) == 1:
            raise UserError(f"{user.name!r} is the last admin; add another admin first",
                            "usererror.last_admin", name=user.name)
        with self.db.write() as db:
            db.execute("DELETE FROM panel_sessions WHERE user_id = ?", [user.id])
            db.execute("DELETE FROM panel_users WHERE id = ?", [user.id])
        self.on_revoke()
        return user

    def _require(self, name: str) -> PanelUser:
        user = self.get(name)
        if user is None:
            raise UserError(f"no user named {name!r}; `gridgate user list` shows them",
                            "usererror.unknown", name=name)
        return user

"""Server-side login sessions: the browser holds a random token, the database its hash,
so a logout, a password change or `gridgate user passwd` ends the session at once."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from edge.panel.db import PanelDatabase
from edge.panel.users import PanelUser, Role
from gate.clock import Clock
from gate.journal.queries import utc_text

_TOUCH_EVERY = timedelta(seconds=30)  # fewer writes to the SD card than one per request


def _nothing() -> None:
    """No one to tell (a store used outside the panel, e.g. by `gridgate user`)."""


def token_hash(token: str) -> str:
    """What the database keeps of a session token."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


@dataclass(frozen=True)
class Session:
    """One logged-in browser."""

    token_hash: str
    user: PanelUser
    csrf_token: str
    created_at: datetime
    expires_at: datetime
    last_seen_at: datetime


class SessionStore:
    """Creates, finds, ends and expires sessions."""

    def __init__(self, db: PanelDatabase, *, clock: Clock, lifetime: timedelta,
                 idle: timedelta) -> None:
        self.db = db
        self.clock = clock
        self.lifetime = lifetime
        self.idle = idle
        self.on_revoke: Callable[[], None] = _nothing  # e.g. end the live feeds of the session

    def create(self, user: PanelUser, address: str = "") -> tuple[str, Session]:
        """Start a session; returns the token for the cookie and the session."""
        token = secrets.token_urlsafe(32)
        now = self.clock.now()
        hashed, csrf = token_hash(token), secrets.token_urlsafe(32)
        row = {"token_hash": hashed, "user_id": user.id, "csrf_token": csrf,
               "created_at": utc_text(now), "expires_at": utc_text(now + self.lifetime),
               "last_seen_at": utc_text(now), "address": address[:64]}
        with self.db.write() as db:
            db.table("panel_sessions").insert(row)
        return token, Session(hashed, user, csrf, now, now + self.lifetime, now)

    def get(self, token: str) -> Session | None:
        """The live session for a token; None when unknown, expired, idle too long or revoked."""
        if not token or len(token) > 128:
            return None
        return self.get_by_hash(token_hash(token))

    def get_by_hash(self, key: str) -> Session | None:
        """The live session with this token hash (see `get`)."""
        cursor = self.db.conn().execute(
            "SELECT s.*, u.name, u.role, u.created_at AS user_created_at, "
            "u.password_changed_at FROM panel_sessions s JOIN panel_users u ON u.id = s.user_id "
            "WHERE s.token_hash = ?", [key])
        # fetchall: a half-read cursor would keep a stale snapshot that later writes trip on.
        found = cursor.fetchall()
        if not found:
            return None
        row: dict[str, Any] = dict(zip([d[0] for d in cursor.description], found[0], strict=True))
        now = self.clock.now()
        expires = datetime.fromisoformat(row["expires_at"])
        last_seen = datetime.fromisoformat(row["last_seen_at"])
        if now >= expires or now - last_seen >= self.idle:
            self._delete(key)
            return None
        if now - last_seen >= _TOUCH_EVERY:
            with self.db.write() as db:
                db.execute("UPDATE panel_sessions SET last_seen_at = ? WHERE token_hash = ?",
                           [utc_text(now), key])
            last_seen = now
        user = PanelUser(row["user_id"], row["name"], Role(row["role"]), row["user_created_at"],
                         row["password_changed_at"])
        return Session(key, user, row["csrf_token"], datetime.fromisoformat(row["created_at"]),
                       expires, last_seen)

    def revoke(self, token: str) -> None:
        """End the session of this token (logout)."""
        self.revoke_hash(token_hash(token))

    def revoke_hash(self, key: str) -> None:
        """End the session with this token hash."""
        self._delete(key)
        self.on_revoke()

    def _delete(self, key: str) -> None:
        with self.db.write() as db:
            db.execute("DELETE FROM panel_sessions WHERE token_hash = ?", [key])

    def revoke_user(self, user_id: int) -> int:
        """End every session of a user; returns how many there were."""
        with self.db.write() as db:
            cursor = db.execute("DELETE FROM panel_sessions WHERE user_id = ?", [user_id])
        self.on_revoke()
        return cursor.rowcount

    def purge(self) -> int:
        """Delete expired sessions; returns how many."""
        now = self.clock.now()
        with self.db.write() as db:
            cursor = db.execute(
                "DELETE FROM panel_sessions WHERE expires_at <= ? OR last_seen_at <= ?",
                [utc_text(now), utc_text(now - self.idle)])
        return cursor.rowcount

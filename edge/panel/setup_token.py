"""The one-time setup token: how the first admin is created from a browser when none exists."""

from __future__ import annotations

import hmac
import secrets
import threading


class SetupToken:
    """A random token printed at first start; it creates one admin and is then spent."""

    def __init__(self) -> None:
        self._token: str | None = None
        self._lock = threading.Lock()

    def issue(self) -> str:
        """A new token (replacing any earlier one)."""
        with self._lock:
            self._token = secrets.token_urlsafe(18)
            return self._token

    @property
    def active(self) -> bool:
        """True while a token waits to be used."""
        return self._token is not None

    def matches(self, candidate: str) -> bool:
        """True when `candidate` is the waiting token (compared in constant time)."""
        with self._lock:
            token = self._token
        return token is not None and hmac.compare_digest(
            candidate.encode("utf-8", "replace"), token.encode())

    def revoke(self) -> None:
        """Spend the token (the admin was created, here or with `gridgate user add`)."""
        with self._lock:
            self._token = None

"""The one-time setup token: how the first admin is created from a browser when none exists.

The token grants an admin account, so it never goes to the log (the systemd journal is readable
by whole groups): it is written to a file only gridgate's own account can read, and it lasts a
limited time. The file goes when the token is used, expires, or the panel stops.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import threading
from datetime import datetime, timedelta
from pathlib import Path

from gate.clock import Clock, SystemClock
from gate.files import write_private

log = logging.getLogger(__name__)


def token_path(state_dir: Path) -> Path:
    """Where the waiting setup token is kept."""
    return state_dir / "panel" / "setup-token"


class SetupToken:
    """A random token stored at first start; it creates one admin and is then spent."""

    def __init__(self, path: Path, *, lifetime: timedelta, clock: Clock | None = None) -> None:
        self.path = path
        self.lifetime = lifetime
        self.clock = clock or SystemClock()
        self._token: str | None = None
        self._expires_at: datetime | None = None
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()

    def issue(self) -> str:
        """A new token (replacing any earlier one), written to `path` with mode 0600.
        Raises OSError when the file cannot be written (then no token waits)."""
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._drop()
            write_private(self.path, (token + "\n").encode())
            self._token = token
            self._expires_at = self.clock.now() + self.lifetime
            # The file must go at expiry even if nobody visits the panel meanwhile.
            self._arm(self.lifetime.total_seconds())
        return token

    def _arm(self, seconds: float) -> None:
        self._timer = threading.Timer(seconds, self._expire_if_due)
        self._timer.daemon = True
        self._timer.start()

    @property
    def expires_at(self) -> datetime | None:
        """When the waiting token stops working; None when none waits."""
        with self._lock:
            self._expire_locked()
            return self._expires_at

    @property
    def active(self) -> bool:
        """True while a token waits to be used."""
        with self._lock:
            self._expire_locked()
            return self._token is not None

    def matches(self, candidate: str) -> bool:
        """True when `candidate` is the waiting, unexpired token (compared in constant time)."""
        with self._lock:
            self._expire_locked()
            token = self._token
        return token is not None and hmac.compare_digest(
            candidate.encode("utf-8", "replace"), token.encode())

    def revoke(self) -> None:
        """Spend the token (the admin was created, here or with `gridgate user add`) and
        delete its file, also one left behind by an earlier run."""
        with self._lock:
            self._drop()

    close = revoke  # the panel stops: a token only its memory held is void, so is the file

    def _expire_if_due(self) -> None:
        with self._lock:
            self._expire_locked()
            if self._expires_at is not None:  # not quite yet by the wall clock: look again
                left = (self._expires_at - self.clock.now()).total_seconds()
                self._arm(max(0.05, left))

    def _expire_locked(self) -> None:
        if self._expires_at is not None and self.clock.now() >= self._expires_at:
            log.warning("panel: the setup token expired unused; restart gridgate for a new one "
                        "or run `gridgate user add NAME --role admin`")
            self._drop()

    def _drop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._token = None
        self._expires_at = None
        try:
            self.path.unlink(missing_ok=True)
        except OSError as exc:
            log.error("panel: cannot delete the setup token file %s: %s", self.path, exc)

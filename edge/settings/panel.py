"""Settings of the guards' web panel: where it listens, TLS, sessions, login lockout, language."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from edge.settings.core import Section


class PanelSettings(Section):
    """The local web panel."""

    enabled: bool = Field(False, description="Serve the guards' web panel.")
    host: str = Field(
        "127.0.0.1", min_length=1, max_length=253,
        description="Address to listen on; '0.0.0.0' lets phones on the gate's network connect. "
        "Any address other than loopback needs tls = true (or allow_insecure_http = true).",
    )
    port: int = Field(8080, ge=0, le=65535, description="TCP port (0 picks a free one).")
    tls: bool = Field(
        False, description="Serve HTTPS; create a self-signed certificate with "
        "`gridgate panel cert`.",
    )
    allow_insecure_http: bool = Field(
        False, description="Serve plain HTTP on a non-loopback host. Risky: guards' passwords "
        "and session cookies then cross the network unencrypted, so anyone on that network can "
        "capture them and open the door. Leave false and use tls = true instead.",
    )
    tls_cert: Path | None = Field(
        None, strict=False,
        description="PEM certificate; default <state_dir>/panel/tls.crt when tls is on.",
    )
    tls_key: Path | None = Field(
        None, strict=False,
        description="PEM private key; default <state_dir>/panel/tls.key when tls is on.",
    )
    session_hours: float = Field(
        12.0, gt=0, le=24 * 30, description="A login lasts at most this long (one shift).",
    )
    idle_minutes: float = Field(
        60.0, gt=0, le=24 * 60, description="A login ends after this long without a request.",
    )
    lockout_account_failures: int = Field(
        5, ge=1, le=100, description="Failed logins on one account that lock that account.",
    )
    lockout_address_failures: int = Field(
        20, ge=1, le=1000, description="Failed logins from one address that lock that address.",
    )
    lockout_window_minutes: float = Field(
        15.0, gt=0, le=24 * 60, description="Failures older than this are forgotten.",
    )
    lockout_minutes: float = Field(
        15.0, gt=0, le=24 * 60, description="How long a lockout lasts.",
    )
    setup_token_minutes: float = Field(
        60.0, gt=0, le=24 * 60, description="While no admin exists, each start writes a "
        "one-time setup token to <state_dir>/panel/setup-token (readable only by gridgate's "
        "account; never logged) that creates the first admin at /setup. It stops working, and "
        "the file is deleted, after this long or once used.",
    )
    language: Literal["zh", "en"] = Field(
        "zh", description="Default language of the panel: 'zh' (中文) or 'en' (English).",
    )
    frame_interval_ms: int = Field(
        200, ge=50, le=5000, description="How often the live camera image is refreshed.",
    )
    hold_open_max_minutes: int = Field(
        240, ge=1, le=24 * 60, description="Longest hold-open a guard may set.",
    )
    visitor_max_hours: int = Field(
        72, ge=1, le=24 * 31, description="Longest validity of a visitor pass.",
    )
    visitor_key: Path | None = Field(
        None, strict=False,
        description="Local Ed25519 key that signs visitor passes (trusted for visitors "
        "only); default <state_dir>/keys/visitor.key, created on first start.",
    )

    @model_validator(mode="after")
    def _check_tls_pair(self) -> PanelSettings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("panel.tls_cert and panel.tls_key go together; set both or neither")
        return self

    @model_validator(mode="after")
    def _check_plain_http_stays_local(self) -> PanelSettings:
        if (self.tls or self.allow_insecure_http or is_loopback(self.host)
                or not _plain_http_check.get()):
            return self
        raise ValueError(
            f"panel.host = {self.host!r} is reachable from the network but panel.tls is off, so "
            "passwords and session cookies would cross it in plain text; run `gridgate panel "
            "cert`, then set panel.tls = true (or, accepting that risk, set "
            "panel.allow_insecure_http = true)")


# Off only while `gridgate panel cert` reads the config: the certificate is the fix.
_plain_http_check: ContextVar[bool] = ContextVar("panel_plain_http_check", default=True)


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    name = host.strip().strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # any other name may resolve to a network address


@contextmanager
def plain_http_allowed() -> Iterator[None]:
    """Read a config whose panel still serves plain HTTP on the network (to make its cert)."""
    token = _plain_http_check.set(False)
    try:
        yield
    finally:
        _plain_http_check.reset(token)

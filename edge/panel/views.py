"""Rendering pages: the Jinja2 environment, the context every page gets, local times."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from edge.panel.deps import CSRF_COOKIE, LANG_COOKIE, optional_session, services
from edge.panel.lookup import open_alert_count
from edge.panel.people import People

TEMPLATES_DIR = Path(__file__).parent / "templates"
templates = Jinja2Templates(directory=str(TEMPLATES_DIR))


def zone_label(when: datetime) -> str:
    """The UTC offset of a local time, as people read it: UTC+8, UTC+5:30, UTC-3, UTC.
    (Abbreviations such as CST name several zones; the offset names one.)"""
    minutes = int((when.utcoffset() or timedelta(0)).total_seconds() // 60)
    if minutes == 0:
        return "UTC"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{'+' if minutes > 0 else '-'}{hours}" + (f":{rest:02d}" if rest else "")


def local_time(value: str | datetime | None, zone: Any, fmt: str = "%m-%d %H:%M:%S") -> str:
    """A journal time (UTC text) in the compound's time zone, with the zone wherever it says
    a time of day ("11-23 18:09:45 UTC+8"); a date alone stays a date."""
    if not value:
        return ""
    when = (datetime.fromisoformat(value) if isinstance(value, str) else value).astimezone(zone)
    text = when.strftime(fmt)
    return f"{text} {zone_label(when)}" if "%H" in fmt else text


def utc_text(value: str | datetime | None) -> str:
    """A time as a `<time datetime>` attribute: UTC, ISO 8601."""
    if not value:
        return ""
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    return when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def language_of(request: Request) -> str:
    """The page language: the cookie when set, else the panel's default."""
    return services(request).i18n.language(request.cookies.get(LANG_COOKIE))


def cookie_options(request: Request) -> dict[str, Any]:
    """HttpOnly, SameSite=Strict, Secure when served over TLS."""
    return {"httponly": True, "samesite": "strict", "secure": services(request).tls,
            "path": "/"}


def safe_next(target: str | None) -> str:
    """A redirect target on this site only (no scheme, no host, no '//')."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    parts = urlsplit(target)
    return "/" if parts.scheme or parts.netloc else target


def redirect(url: str, msg: str | None = None) -> RedirectResponse:
    """A 303 to a page, with an optional message key shown there."""
    if msg:
        url += ("&" if "?" in url else "?") + f"msg={msg}"
    return RedirectResponse(url, status_code=303)


def page_context(request: Request) -> dict[str, Any]:
    """What every page template can use."""
    svc = services(request)
    session = optional_session(request)
    lang = language_of(request)
    zone = svc.gate.rules.policy.zone
    msg = request.query_params.get("msg", "")
    csrf = session.csrf_token if session else request.cookies.get(CSRF_COOKIE) or ""
    open_alerts = open_alert_count(svc.db.conn()) if session else 0
    people = People(svc.db.conn(), svc.pass_permits)
    now = svc.clock.now()
    return {
        "request": request,
        "t": svc.i18n.bound(lang),
        "lang": lang,
        "user": session.user if session else None,
        "csrf": csrf,
        "gate_name": svc.gate.settings.gate.name or svc.gate.settings.gate.gate_id,
        "gate_id": svc.gate.settings.gate.gate_id,
        "time": lambda value, fmt="%m-%d %H:%M:%S": local_time(value, zone, fmt),
        "utc": lambda value: utc_text(value),
        "zone_name": svc.gate.rules.policy.timezone,
        "now": now, "zone_label": zone_label(now.astimezone(zone)),
        "who": people.who, "flat_of": people.flat_of, "permit_source": people.source_of,
        "msg": msg if msg.startswith("msg.") and svc.i18n.has(msg) else "",
        "open_alerts": open_alerts,
        "path": request.url.path,
        "frame_interval_ms": svc.settings.frame_interval_ms,
    }


def render(request: Request, name: str, context: dict[str, Any] | None = None, *,
           status: int = 200) -> HTMLResponse:
    """Render a page; pages before login also get their CSRF cookie."""
    ctx = page_context(request)
    new_csrf = ""
    if ctx["user"] is None and not ctx["csrf"]:
        new_csrf = ctx["csrf"] = secrets.token_urlsafe(32)
    ctx.update(context or {})
    response = templates.TemplateResponse(request, name, ctx, status_code=status)
    if new_csrf:
        response.set_cookie(CSRF_COOKIE, new_csrf, **cookie_options(request))
    return response


def fragment(request: Request, name: str, context: dict[str, Any]) -> str:
    """Render a partial template to a string (for live items)."""
    ctx = page_context(request)
    ctx.update(context)
    return templates.get_template(name).render(ctx)

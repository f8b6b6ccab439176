"""Times as a person at the gate reads them: local time of the compound's zone, with the zone.

The zone is the policy's (`policy.timezone`); JSON output keeps UTC ISO 8601.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

UTC_ZONE = ZoneInfo("UTC")


def zone_name(when: datetime) -> str:
    """'CST', 'CET' or, for zones without a letter name, the offset ('+08')."""
    return when.tzname() or when.strftime("%z")


def local_time(when: datetime, zone: ZoneInfo | None) -> str:
    """'18:09:45 CST': the time of day in `zone` (UTC when None)."""
    local = _aware(when).astimezone(zone or UTC_ZONE)
    return f"{local:%H:%M:%S} {zone_name(local)}"


def local_datetime(when: datetime, zone: ZoneInfo | None, *, seconds: bool = True) -> str:
    """'2026-11-23 18:09:45 CST' (or without seconds)."""
    local = _aware(when).astimezone(zone or UTC_ZONE)
    return f"{local:%Y-%m-%d %H:%M{':%S' if seconds else ''}} {zone_name(local)}"


def parse_utc_text(text: str) -> datetime:
    """A stored ISO 8601 time (aware, or naive meaning UTC)."""
    return _aware(datetime.fromisoformat(text))


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)

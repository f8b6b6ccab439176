"""Local-time arithmetic for yellow rules: quota periods and exit windows."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from gate.policy import YellowRules


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """The instant a local calendar day starts (DST-safe: built from the date, not hours)."""
    return datetime.combine(day, time.min, tzinfo=zone)


def period_bounds(rules: YellowRules, now: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """Start (inclusive) and end (exclusive) of the quota period that contains `now`."""
    if rules.quota_mode == "rolling":
        return now - timedelta(days=rules.period_days), now + timedelta(microseconds=1)
    today = now.astimezone(zone).date()
    anchor = date.fromisoformat(rules.period_anchor)
    offset = (today - anchor).days % rules.period_days
    first = today - timedelta(days=offset)
    return (local_midnight(first, zone),
            local_midnight(first + timedelta(days=rules.period_days), zone))


def exits_in_period(exit_times: list[datetime], rules: YellowRules, now: datetime,
                    zone: ZoneInfo) -> list[datetime]:
    """The given exit times that fall in the current period, oldest first."""
    start, end = period_bounds(rules, now, zone)
    return sorted(t for t in exit_times if start <= t < end)


def next_exit_allowed(exit_times: list[datetime], rules: YellowRules, now: datetime,
                      zone: ZoneInfo) -> datetime:
    """When the household may next leave: the next period, or (rolling) when the oldest counted
    exit ages out."""
    counted = exits_in_period(exit_times, rules, now, zone)
    if rules.quota_mode == "rolling" and counted:
        index = len(counted) - rules.exits_per_household
        return counted[max(index, 0)] + timedelta(days=rules.period_days)
    return period_bounds(rules, now, zone)[1]


def in_window(now: datetime, window: tuple[time, time], zone: ZoneInfo) -> bool:
    """Whether local `now` is inside [start, end); windows may cross midnight (22:00-06:00)."""
    start, end = window
    local = now.astimezone(zone).time()
    if start <= end:
        return start <= local < end or (end == time.max and local >= start)
    return local >= start or local < end

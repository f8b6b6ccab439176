"""How current the gate's references are: the age of the trust list and policy in force, and
whether the wall clock can be trusted. Each turns into one alert when it goes wrong (again
only after it was right in between), and a trust list or policy past its maximum age makes
the gate apply the configured fallback (gate/rulebook.py `fallback`).

Ages count from when the platform issued the document in force (the version table); files set
at install carry no such time and never age here: their owner is the installer, and doctor
shows their dates. The platform is expected to issue trust list and policy again, as a new
version even when nothing changed, well within the maximum age (docs/mqtt.md).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from gate.clock import Clock
from gate.journal.keeper import RecordKeeper
from gate.model import AlertSpec
from gate.reasons import CLOCK_IMPLAUSIBLE, CLOCK_UNSYNCED, STALE, STALE_ACTIONS
from gate.rulebook import Rulebook
from gate.vocabulary import AlertKind

log = logging.getLogger(__name__)

EARLIEST_YEAR = 2025  # a Pi has no battery clock: before NTP it may think it is 1970
StaleAction = Literal["alert", "guard"]


def clock_doubt(now: datetime, synchronised: bool | None) -> str | None:
    """Why the wall clock cannot be trusted now, or None (synchronisation unknown: trusted)."""
    if now.year < EARLIEST_YEAR:
        return f"it says {now:%Y-%m-%d %H:%M} UTC, which cannot be right"
    if synchronised is False:
        return "it is not synchronised"
    return None


@dataclass(frozen=True)
class FreshnessRules:
    """Maximum ages (days; 0: no limit) and what the gate does past them."""

    trust_max_age_days: float = 30.0
    policy_max_age_days: float = 30.0
    when_stale: StaleAction = "alert"


class RulesFreshness:
    """Checks the age of the platform's trust list and policy in force."""

    def __init__(self, rules: Rulebook, keeper: RecordKeeper, clock: Clock,
                 limits: FreshnessRules | None = None) -> None:
        self.rules = rules
        self.keeper = keeper
        self.clock = clock
        self.limits = limits or FreshnessRules()

    def check(self) -> list[AlertSpec]:
        """Mark each document stale or fresh; the alerts raised now (once per episode)."""
        now = self.clock.now()
        raised = []
        for document, kind, days in (
                ("trust", AlertKind.TRUST_STALE, self.limits.trust_max_age_days),
                ("policy", AlertKind.POLICY_STALE, self.limits.policy_max_age_days)):
            issued = self.rules.issued(document)
            age = now - issued[1] if issued is not None else None
            stale = age is not None and days > 0 and age > timedelta(days=days)
            was = document in self.rules.stale
            self.rules.mark_stale(document, self.limits.when_stale if stale else None)
            if stale and not was and issued is not None and age is not None:
                severity, zh, en = STALE[kind]
                action_zh, action_en = STALE_ACTIONS[self.limits.when_stale]
                fields = {"version": issued[0], "days": age.days, "limit": f"{days:g}"}
                spec = AlertSpec(kind, severity, zh.format(**fields, action=action_zh),
                                 en.format(**fields, action=action_en))
                log.warning("%s", spec.message_en)
                self.keeper.alert(spec)
                raised.append(spec)
            elif was and not stale:
                log.info("the %s in force is current again", document)
        return raised


class ClockWatch:
    """Alerts once when the wall clock is not synchronised or cannot be right."""

    def __init__(self, keeper: RecordKeeper, clock: Clock,
                 synchronised: Callable[[], bool | None]) -> None:
        self.keeper = keeper
        self.clock = clock
        self.synchronised = synchronised  # None: cannot be told (never alerted on)
        self._alerted = False

    def check(self) -> AlertSpec | None:
        """The alert raised now, if any."""
        now = self.clock.now()
        implausible = now.year < EARLIEST_YEAR
        wrong = implausible or self.synchronised() is False
        if not wrong:
            self._alerted = False
            return None
        if self._alerted:
            return None
        self._alerted = True
        severity, zh, en = CLOCK_IMPLAUSIBLE if implausible else CLOCK_UNSYNCED
        text = f"{now:%Y-%m-%d %H:%M} UTC"
        spec = AlertSpec(AlertKind.CLOCK_UNSYNCED, severity, zh.format(now=text),
                         en.format(now=text))
        log.warning("%s", spec.message_en)
        self.keeper.alert(spec)
        return spec

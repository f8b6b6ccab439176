"""Permit policy as data: the rules per colour, set in the config file or pushed by the platform."""

from __future__ import annotations

import re
from collections.abc import Set
from datetime import time
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from gate.model import Colour

# The end may be 24:00 (midnight at the end of the day), nothing later.
_WINDOW = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-(([01]\d|2[0-3]):[0-5]\d|24:00)$")


class _Strict(BaseModel):
    """Unknown keys are errors and no value is converted from another type: a boolean is no
    integer, a string no number or flag. The conversions kept are those of the formats the
    policy comes in (TOML, JSON): an integer is taken where a number is expected, and
    colours, like other names, come as their strings (the fields that take them say so)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


_COLOUR_NAMES = [c.value for c in Colour]
_ONE_OF_THE_COLOURS = (", ".join(repr(n) for n in _COLOUR_NAMES[:-1])
                       + f" or {_COLOUR_NAMES[-1]!r}")


class YellowRules(_Strict):
    """Yellow: may enter; leaving is limited per household (每户每两天一人外出采购)."""

    exits_per_household: int = Field(
        1, ge=0, le=100, description="Granted exits allowed per household in one period."
    )
    period_days: int = Field(
        2, ge=1, le=60, description="Length of the quota period in local calendar days."
    )
    quota_mode: str = Field(
        "calendar",
        pattern="^(calendar|rolling)$",
        description=(
            "'calendar': periods are blocks of period_days local days counted from period_anchor "
            "(residents understand 'today and tomorrow'); 'rolling': the last period_days*24 hours."
        ),
    )
    period_anchor: str = Field(
        "2020-01-01",
        pattern=r"^\d{4}-\d{2}-\d{2}$",
        description="Local date on which calendar quota periods start counting (YYYY-MM-DD).",
    )
    companion_window_s: int = Field(
        300,
        ge=0,
        le=86400,
        description=(
            "A yellow exit within this many seconds after another person's yellow exit at this "
            "gate is denied as travelling together (禁止结伴出行). 0 disables."
        ),
    )
    exit_window: str | None = Field(
        None,
        description="Local time window for yellow exits, 'HH:MM-HH:MM' (e.g. '08:00-18:00'); "
        "unset means any time.",
    )

    @field_validator("exit_window")
    @classmethod
    def _check_window(cls, value: str | None) -> str | None:
        if value is not None and not _WINDOW.match(value):
            raise ValueError("must look like 'HH:MM-HH:MM', e.g. '08:00-18:00'")
        return value

    def exit_window_times(self) -> tuple[time, time] | None:
        """The exit window as (start, end) local times, or None when unrestricted."""
        if self.exit_window is None:
            return None
        start, end = self.exit_window.split("-")
        end_time = time.max if end == "24:00" else time.fromisoformat(end)
        return time.fromisoformat(start), end_time


class AntiPassbackRules(_Strict):
    """How long a passage in one direction blocks another in the same direction."""

    reset_hours: float = Field(
        24.0,
        gt=0,
        le=24 * 30,
        description="After this many hours a repeated direction is no longer a passback "
        "(a missed read must not lock a resident out forever).",
    )


def _colour_set(value: Any) -> Any:
    """A list of colour names, as TOML and JSON write it; anything else (one name, a number,
    an unknown colour) is refused, never converted."""
    if not isinstance(value, list | tuple | Set):
        raise PydanticCustomError("list_type", "Input should be a valid list")
    if not all(isinstance(c, str) and c in _COLOUR_NAMES for c in value):
        raise PydanticCustomError("enum", "Input should be a list of {expected}",
                                  {"expected": _ONE_OF_THE_COLOURS})
    return frozenset(Colour(c) for c in value)


class StaticPassRules(_Strict):
    """Static passes (printed, or the pass itself on a screen) as against live codes, which the
    holder's phone signs anew every 30 s. Printed passes stay for residents without a phone."""

    accepted: frozenset[Colour] = Field(
        frozenset(Colour),
        description="Colours whose static passes are accepted; a colour left out must be shown "
        "as a live code from the holder's phone (pass.live_required). A holder-bound pass is "
        "never accepted static.")
    face_match_required: frozenset[Colour] = Field(
        frozenset(),
        description="Colours whose static passes must also be shown by the holder's own face "
        "(at readers with face recognition), on top of the policy's face_match_required.")

    @field_validator("accepted", "face_match_required", mode="before")
    @classmethod
    def _colour_names(cls, value: Any) -> Any:
        return _colour_set(value)


StaleAction = Literal["local", "deny", "guard"]


class CompoundRules(_Strict):
    """What a gate does while it cannot hear the other gates of its compound (a partition)."""

    stale_after_s: int = Field(
        30, ge=1, le=86400,
        description="The compound view is out of date once this gate has not heard another "
        "gate (or the broker) for this many seconds.")
    quota_when_stale: StaleAction = Field(
        "local",
        description="A yellow exit while the compound view is out of date: 'local' decides on "
        "what this gate knows (a quota conflict is raised if two gates both let one household "
        "out), 'deny' refuses it, 'guard' refuses it and asks the guard to decide.")
    anti_passback_when_stale: StaleAction = Field(
        "local",
        description="A passage at an anti-passback reader while the compound view is out of "
        "date: 'local', 'deny' or 'guard', as for quota_when_stale.")


class RedOverrideRules(_Strict):
    """A guard's open-once or hold-open right after a red-permit exit denial at the gate needs
    a second account."""

    second_approval: bool = Field(
        True, description="While a red-permit exit refused at any reader of this gate (within "
        "lookback_s) is unresolved, a guard's open-once or hold-open at any door of the gate "
        "waits for a second panel account's approval; without it the door stays as it is. "
        "Both names are journaled. Signed platform commands are not asked.")
    approval_window_s: int = Field(
        120, ge=10, le=1800,
        description="Seconds the second account has to approve before the request lapses.")
    lookback_s: int = Field(
        300, ge=10, le=3600,
        description="A red-permit exit refused at the gate this recently is unresolved until "
        "an approved override or a later grant to that same person.")


class Policy(_Strict):
    """All permit rules a gate applies; a policy document from the platform replaces them."""

    version: str = Field("builtin-1", description="Version label of this policy document.")
    timezone: str = Field(
        "Asia/Shanghai",
        description="IANA time zone for day boundaries, quota periods and time windows.",
    )
    yellow: YellowRules = Field(default_factory=YellowRules)
    anti_passback: AntiPassbackRules = Field(default_factory=AntiPassbackRules)
    compound: CompoundRules = Field(default_factory=CompoundRules)
    static_passes: StaticPassRules = Field(default_factory=StaticPassRules)
    red_override: RedOverrideRules = Field(default_factory=RedOverrideRules)
    red_entry_alert: bool = Field(
        True, description="Alert the grid worker when a red-permit holder enters."
    )
    face_match_required: frozenset[Colour] = Field(
        frozenset({Colour.RED, Colour.YELLOW}),
        description="Colours whose passes must be shown by the holder's own face.",
    )
    liveness_required: frozenset[Colour] = Field(
        frozenset(),
        description="Colours for which a face must pass the liveness check.",
    )

    @field_validator("face_match_required", "liveness_required", mode="before")
    @classmethod
    def _colour_names(cls, value: Any) -> Any:
        return _colour_set(value)

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}; use an IANA name such as "
                             "'Asia/Shanghai'") from exc
        return value

    @property
    def zone(self) -> ZoneInfo:
        """The policy's time zone."""
        return ZoneInfo(self.timezone)

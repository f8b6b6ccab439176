"""How long the gate keeps each class of personal data (docs/journal.md, "Retention")."""

from __future__ import annotations

from pydantic import Field

from edge.settings.core import Section


class RetentionSettings(Section):
    """Days each class of record is kept; a daily prune removes the rest. Short by default:
    the platform holds the compound's records, the gate only what its guards and rules use."""

    passages_days: int = Field(
        30, ge=1, le=3650,
        description="Granted passages (trajectories, who is out, contacts). 30 days covers "
        "contact tracing over an incubation period. Never shorter than the rules need "
        "(policy.yellow.period_days + 1 days and policy.anti_passback.reset_hours): a shorter "
        "value is raised to that.",
    )
    denied_days: int = Field(
        14, ge=1, le=3650,
        description="Denied attempts (strangers, expired or forged passes): evidence for the "
        "guards' review of the last two weeks; no rule reads them.",
    )
    alerts_days: int = Field(
        90, ge=1, le=3650,
        description="Alerts: long enough to follow up an incident with the street office.",
    )
    door_events_days: int = Field(
        30, ge=1, le=3650,
        description="Door events (released, opened, forced...): kept as long as the passages "
        "they belong to.",
    )
    override_snapshot_days: int = Field(
        30, ge=0, le=3650,
        description="Camera snapshots taken as evidence when a guard opens the door or sets a "
        "door mode; 0 removes them at the next prune.",
    )
    panel_sessions_days: int = Field(
        0, ge=0, le=365,
        description="Panel login sessions (with the address they came from) after they "
        "ended; 0 removes them at the next prune.",
    )

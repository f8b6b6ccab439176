"""Settings of the alert loop and of how old the gate's rules may get."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from edge.settings.core import Section

if TYPE_CHECKING:  # the rules' modules load the journal: settings must load fast (CLI start)
    from gate.alert_folding import FoldRules
    from gate.freshness import FreshnessRules

_AUDIENCE = r"^(street_office|(grid|webhook):[A-Za-z0-9][A-Za-z0-9_.-]{0,63})$"


class AlertsSettings(Section):
    """Folding repeated alerts, probing patterns, escalation of unanswered urgent alerts."""

    fold_window_minutes: float = Field(
        10.0, ge=0, le=24 * 60,
        description="Alerts of one kind, reader and person repeated within this many minutes "
        "of the first, while it is open, fold into it with a count (one alert, an "
        "`alert_update` event per repeat). 0 folds nothing.")
    probing_count: int = Field(
        3, ge=2, le=1000,
        description="This many refusals of one pattern (forged, unknown-key or unreadable "
        "passes at a reader; one pass refused again and again; unknown faces at a reader) "
        "within probing_window_s make one `probing` alert with their count.")
    probing_window_s: float = Field(
        60.0, gt=0, le=3600, description="The window probing_count is counted in (seconds).")
    escalate_after_minutes: float = Field(
        10.0, ge=0, le=24 * 60,
        description="An urgent alert nobody acknowledges for this many minutes is sent again, "
        "once, marked `escalated`, to escalate_to. 0 never escalates.")
    escalate_to: str = Field(
        "street_office", pattern=_AUDIENCE,
        description="The second audience of escalated alerts: 'street_office' (MQTT topic "
        "PREFIX/v1/COMPOUND/street/alerts), 'grid:GRID' (that grid's alert topic) or "
        "'webhook:NAME' (one of mqtt.webhooks, which then gets escalated alerts only).")

    def fold_rules(self) -> FoldRules:
        """The folding rules as gate/alert_folding.py takes them."""
        from gate.alert_folding import FoldRules
        from gate.probing import ProbingRules
        return FoldRules(window_s=self.fold_window_minutes * 60,
                         probing=ProbingRules(self.probing_count, self.probing_window_s))

    @property
    def escalation_webhook(self) -> str | None:
        """The webhook named by escalate_to, if it names one."""
        kind, _, name = self.escalate_to.partition(":")
        return name if kind == "webhook" else None


class FreshnessSettings(Section):
    """How old the platform's trust list and policy in force may get, and what then."""

    trust_max_age_days: float = Field(
        30.0, ge=0, le=3650,
        description="Days after its issue that the platform's trust list in force is out of "
        "date (the platform issues it again well before). 0: no limit. A trust list file set "
        "at install has no issue time and never ages here (doctor shows its date).")
    policy_max_age_days: float = Field(
        30.0, ge=0, le=3650,
        description="The same for the platform's policy document; the config file's policy "
        "never ages.")
    when_stale: Literal["alert", "guard"] = Field(
        "alert",
        description="Past a maximum age: 'alert' raises an urgent alert and decides as "
        "before; 'guard' also refuses what would be granted (rule rules.stale), so the guard "
        "decides each passage (open once) until a current document arrives.")

    def rules(self) -> FreshnessRules:
        """The limits as gate/freshness.py takes them."""
        from gate.freshness import FreshnessRules
        return FreshnessRules(self.trust_max_age_days, self.policy_max_age_days,
                              self.when_stale)

"""The decision: a pure function of (observation, person, permit, history, policy, clock).

Checks run in order and the first that denies decides: the pass itself, who it is, the
permit's validity, how the pass was shown (static or live), the face, the colour rules,
the door's mode (a locked-down door denies what the rules would grant), then anti-passback.
Alerts accumulate.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from gate.model import (
    AlertSpec,
    AntiPassback,
    Colour,
    Decision,
    Direction,
    History,
    Method,
    Permit,
    Person,
    PersonKind,
)
from gate.observation import Observation
from gate.passes.claims import PassReason
from gate.policy import Policy
from gate.quota import exits_in_period, in_window, next_exit_allowed
from gate.reasons import OBSERVATION_OVER, alert, reason
from gate.vocabulary import AlertKind, DoorMode, Rule

_FORGED = {PassReason.BAD_SIGNATURE, PassReason.UNKNOWN_KEY, PassReason.KEY_NOT_ALLOWED,
           PassReason.BAD_PROOF}
# The rule of a refused pass: "pass." + its reason (OK never refuses).
_PASS_RULES = {
    PassReason.MALFORMED: Rule.PASS_MALFORMED,
    PassReason.BAD_SIGNATURE: Rule.PASS_BAD_SIGNATURE,
    PassReason.UNKNOWN_KEY: Rule.PASS_UNKNOWN_KEY,
    PassReason.KEY_NOT_ALLOWED: Rule.PASS_KEY_NOT_ALLOWED,
    PassReason.EXPIRED: Rule.PASS_EXPIRED,
    PassReason.NOT_YET_VALID: Rule.PASS_NOT_YET_VALID,
    PassReason.REVOKED: Rule.PASS_REVOKED,
    PassReason.OTHER_COMPOUND: Rule.PASS_OTHER_COMPOUND,
    PassReason.STALE_CODE: Rule.PASS_STALE_CODE,
    PassReason.FUTURE_CODE: Rule.PASS_FUTURE_CODE,
    PassReason.REPLAYED: Rule.PASS_REPLAYED,
    PassReason.BAD_PROOF: Rule.PASS_BAD_PROOF,
}
# Alerts that tell of a passage that happened; a passage the door did not let through drops them.
_PASSED = {AlertKind.RED_ENTRY, AlertKind.TAILGATING, AlertKind.PASSBACK}


class _Verdict:
    """Accumulates alerts while the checks run; `grant`/`deny` make the Decision."""

    def __init__(self, person: Person | None, permit: Permit | None) -> None:
        self.person_id = person.person_id if person else (permit.person_id if permit else None)
        self.colour = permit.colour if permit else None
        self.alerts: list[AlertSpec] = []

    def alert(self, kind: AlertKind) -> None:
        self.alerts.append(alert(kind, self.person_id))

    def make(self, granted: bool, rule: Rule, extra: tuple[str, str] | None = None) -> Decision:
        zh, en = reason(rule, extra)
        return Decision(granted, rule, zh, en, tuple(self.alerts), self.person_id, self.colour)


def decide(observation: Observation, person: Person | None, permit: Permit | None,
           history: History, policy: Policy, now: datetime, *,
           door_mode: DoorMode = DoorMode.NORMAL) -> Decision:
    """Granted or denied, the rule that decided, and why in Chinese and English; `door_mode`
    is the mode of the reader's door now."""
    v = _Verdict(person, permit)
    check = observation.pass_check
    if check is not None and not check.valid:
        if check.reason in _FORGED:
            v.alert(AlertKind.FORGED_PASS)
        elif check.reason is PassReason.REVOKED:
            v.alert(AlertKind.REVOKED_PASS)
        return v.make(False, _PASS_RULES[check.reason])
    if person is None:
        return v.make(False, Rule.FACE_UNKNOWN if observation.method is Method.FACE
                      else Rule.PERSON_UNKNOWN)
    if permit is None:
        return v.make(False, Rule.PERMIT_MISSING)
    if permit.valid_from is not None and now < permit.valid_from:
        return v.make(False, Rule.PERMIT_NOT_YET_VALID)
    if permit.valid_until is not None and now > permit.valid_until:
        return v.make(False, Rule.PERMIT_EXPIRED)
    if _static(observation) and permit.colour not in policy.static_passes.accepted:
        return v.make(False, Rule.PASS_LIVE_REQUIRED)
    denial = _face(observation, person, permit, policy, v)
    if denial is not None:
        return denial
    if person.kind is PersonKind.VISITOR and not person.host_household_id:
        return v.make(False, Rule.VISITOR_NO_HOST)
    granted, rule, extra = _colour(observation, person, permit, history, policy, now, v)
    if not granted:
        return v.make(False, rule, extra)
    if door_mode is DoorMode.LOCKDOWN:
        v.alerts = [a for a in v.alerts if a.kind not in _PASSED]
        return v.make(False, Rule.GATE_LOCKDOWN)
    stale = _stale(observation, rule, history, policy)
    if stale is not None:
        return v.make(False, stale)
    if _passback(observation, history, policy, now, v):
        return v.make(False, Rule.ANTI_PASSBACK)
    if observation.faces_in_view > 1:
        v.alert(AlertKind.TAILGATING)
    return v.make(True, rule, extra)


def _static(observation: Observation) -> bool:
    """A pass shown as it is (printed, or on a screen), not as a live code."""
    return observation.pass_check is not None and observation.pass_check.live_step is None


def not_released(decision: Decision) -> Decision:
    """A grant the door did not carry out (lockdown set meanwhile, no relay), as it is
    recorded: denied, so it counts for no who-is-out, quota or anti-passback."""
    zh, en = reason(Rule.DOOR_NOT_RELEASED)
    alerts = tuple(a for a in decision.alerts if a.kind not in _PASSED)
    return Decision(False, Rule.DOOR_NOT_RELEASED, zh, en, alerts, decision.person_id,
                    decision.colour)


def _face(observation: Observation, person: Person, permit: Permit, policy: Policy,
          v: _Verdict) -> Decision | None:
    if not observation.face_checked:
        return None  # this reader has no face recognition; face rules cannot apply
    static_face = _static(observation) and permit.colour in policy.static_passes.face_match_required
    if observation.pass_check is not None and (permit.colour in policy.face_match_required
                                               or static_face):
        if observation.face_person_id is None and not observation.face_unknown:
            return v.make(False, Rule.FACE_MISSING)
        if observation.face_person_id != person.person_id:  # someone else, or a stranger
            v.alert(AlertKind.PASS_SHARED)
            return v.make(False, Rule.FACE_MISMATCH)
    if permit.colour in policy.liveness_required and observation.live is not True:
        return v.make(False, Rule.FACE_NOT_LIVE)
    return None


_Outcome = tuple[bool, Rule, tuple[str, str] | None]  # granted, rule, extra reason clause


def _colour(observation: Observation, person: Person, permit: Permit, history: History,
            policy: Policy, now: datetime, v: _Verdict) -> _Outcome:
    entering = observation.reader.direction is Direction.IN
    colour = permit.colour
    if colour is Colour.GREEN:
        return True, Rule.GREEN_IN if entering else Rule.GREEN_OUT, None
    if colour is Colour.WHITE:
        return False, Rule.WHITE_UNVERIFIED, None
    if colour is Colour.RED:
        # The gate never upgrades a colour: it only says the observation period is over.
        over = (OBSERVATION_OVER if permit.observation_until is not None
                and now >= permit.observation_until else None)
        if entering:
            if policy.red_entry_alert:
                v.alert(AlertKind.RED_ENTRY)
            return True, Rule.RED_IN, over
        v.alert(AlertKind.RED_EXIT_ATTEMPT)
        return False, Rule.RED_EXIT_DENIED, over
    if entering:
        return True, Rule.YELLOW_IN, None
    return _yellow_exit(observation, person, history, policy, now)


def _yellow_exit(observation: Observation, person: Person, history: History, policy: Policy,
                 now: datetime) -> _Outcome:
    rules, zone = policy.yellow, policy.zone
    window = rules.exit_window_times()
    if window is not None and not in_window(now, window, zone):
        hours = rules.exit_window or ""
        return False, Rule.YELLOW_EXIT_WINDOW, (f"允许时段 {hours}", f"exit hours {hours}")
    # Only yellow exits use the household's quota: a green member or a visitor of the
    # household going out is not "the one person who went shopping".
    household = [p.at for p in history.household_exits
                 if p.household_id == person.household_id and p.direction is Direction.OUT
                 and p.colour is Colour.YELLOW]
    if len(exits_in_period(household, rules, now, zone)) >= rules.exits_per_household:
        when = _local_text(next_exit_allowed(household, rules, now, zone), zone)
        return (False, Rule.YELLOW_HOUSEHOLD_QUOTA,
                (f"下次可外出：{when}", f"next exit from {when}"))
    window_start = now - timedelta(seconds=rules.companion_window_s)
    companions = [p for p in history.recent_exits
                  if p.person_id != person.person_id and p.colour is Colour.YELLOW
                  and p.direction is Direction.OUT and window_start <= p.at <= now]
    if observation.faces_in_view > 1 or (rules.companion_window_s and companions):
        return False, Rule.YELLOW_COMPANIONS, None
    return True, Rule.YELLOW_EXIT, None


def _stale(observation: Observation, rule: Rule, history: History,
           policy: Policy) -> Rule | None:
    """The refusal a partition calls for, when the policy will not decide on local knowledge
    of a rule that needs the compound's history (a yellow exit's quota, anti-passback)."""
    rules = policy.compound
    age = history.compound_age_s
    if age is None or age <= rules.stale_after_s:
        return None
    actions = []
    if rule is Rule.YELLOW_EXIT:
        actions.append(rules.quota_when_stale)
    if observation.reader.anti_passback is not AntiPassback.OFF:
        actions.append(rules.anti_passback_when_stale)
    if "guard" in actions:
        return Rule.COMPOUND_GUARD
    if "deny" in actions:
        return Rule.COMPOUND_STALE
    return None


def _passback(observation: Observation, history: History, policy: Policy, now: datetime,
              v: _Verdict) -> bool:
    """True when a hard anti-passback reader must deny; a soft one only alerts."""
    mode = observation.reader.anti_passback
    last = history.last_passage
    if mode is AntiPassback.OFF or last is None:
        return False
    recent = now - last.at < timedelta(hours=policy.anti_passback.reset_hours)
    if last.direction is not observation.reader.direction or not recent:
        return False
    if mode is AntiPassback.HARD:
        return True
    v.alert(AlertKind.PASSBACK)
    return False


def _local_text(when: datetime, zone: ZoneInfo) -> str:
    return when.astimezone(zone).strftime("%Y-%m-%d %H:%M")

"""The gate's vocabulary: decide speaks only in Rule and AlertKind members, and every rule of a
decision (all but the checkpoint's overrides) and every decision alert really comes out of it."""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass, field
from datetime import timedelta

from gate.decide import decide, not_released
from gate.model import (
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
from gate.passes.claims import PassCheck, PassReason
from gate.policy import CompoundRules, Policy, StaticPassRules, YellowRules
from gate.reasons import ALERTS, REASONS
from gate.vocabulary import AlertKind, AuditKind, DoorEventKind, DoorMode, EventType, Rule
from tests.gate.decide_support import (
    ALICE,
    ALICE_SISTER,
    NEIGHBOUR,
    NO_HISTORY,
    NOON_ISH,
    entry_of,
    exit_of,
    permit,
    seen,
    valid_pass,
)

# Decided by the checkpoint around decide, not by decide itself.
CHECKPOINT_RULES = {Rule.OVERRIDE_OPEN_ONCE, Rule.OVERRIDE_REFUSED, Rule.RULES_STALE}
HOSTLESS_VISITOR = Person("v-2", "h-1", kind=PersonKind.VISITOR)


@dataclass(frozen=True)
class Situation:
    """One variation of the circumstances around a (colour, direction, method)."""

    pass_check: PassCheck | None = None  # None: a valid pass where the method shows one
    face: dict[str, object] = field(default_factory=dict)
    person: Person | None = ALICE
    permit: dict[str, object] | None = field(default_factory=dict)  # None: no permit
    history: History = NO_HISTORY
    policy: Policy = Policy()
    anti_passback: AntiPassback = AntiPassback.SOFT
    door_mode: DoorMode = DoorMode.NORMAL


def situations(colour: Colour, direction: Direction) -> list[Situation]:
    same_way = (exit_of(ALICE, NOON_ISH - timedelta(hours=1)) if direction is Direction.OUT
                else entry_of(ALICE, NOON_ISH - timedelta(hours=1)))
    return [
        Situation(),
        *(Situation(pass_check=PassCheck(False, reason, "x"), person=None, permit=None)
          for reason in PassReason if reason is not PassReason.OK),
        Situation(pass_check=PassCheck(False, PassReason.REVOKED, "x")),
        Situation(person=None),
        Situation(permit=None),
        Situation(permit={"valid_from": NOON_ISH + timedelta(hours=1)}),
        Situation(permit={"valid_until": NOON_ISH - timedelta(seconds=1)}),
        Situation(permit={"observation_until": NOON_ISH - timedelta(days=1)}),
        Situation(face={"face_person_id": "p-9"}),
        Situation(face={"face_person_id": None}),
        Situation(face={"face_person_id": None, "face_unknown": True}),
        Situation(face={"live": False}, policy=Policy(liveness_required=frozenset({colour}))),
        Situation(person=HOSTLESS_VISITOR),
        Situation(face={"faces_in_view": 2}),
        Situation(history=History(household_exits=(
            exit_of(ALICE_SISTER, NOON_ISH - timedelta(hours=1)),))),
        Situation(history=History(recent_exits=(
            exit_of(NEIGHBOUR, NOON_ISH - timedelta(seconds=60)),))),
        Situation(policy=Policy(yellow=YellowRules(exit_window="20:00-22:00"))),
        Situation(history=History(last_passage=same_way)),
        Situation(history=History(last_passage=same_way), anti_passback=AntiPassback.HARD),
        Situation(policy=Policy(red_entry_alert=False)),
        # Printed passes of this colour refused, or needing the holder's face.
        Situation(policy=Policy(static_passes=StaticPassRules(accepted=frozenset()))),
        Situation(face={"face_person_id": "p-9"}, policy=Policy(
            face_match_required=frozenset(),
            static_passes=StaticPassRules(face_match_required=frozenset({colour})))),
        Situation(door_mode=DoorMode.LOCKDOWN),
        Situation(door_mode=DoorMode.HOLD_OPEN),
        # The gates cannot hear each other (a partition), under each stale action.
        *(Situation(history=History(compound_age_s=600.0),
                    policy=Policy(compound=CompoundRules(quota_when_stale=action,
                                                         anti_passback_when_stale=action)))
          for action in ("local", "deny", "guard")),
    ]


@functools.cache
def sweep() -> tuple[Decision, ...]:
    """Every colour x direction x method, each in every situation above."""
    decisions = []
    for colour, direction, method in itertools.product(Colour, Direction, Method):
        for s in situations(colour, direction):
            shows_pass = method in (Method.PASS, Method.PASS_FACE)
            face: dict[str, object] = {}
            if method in (Method.FACE, Method.PASS_FACE):
                face = {"face_checked": True, "face_person_id": "p-1", "live": True}
            face.update(s.face)
            obs = seen(direction, method=method, anti_passback=s.anti_passback,
                       pass_check=(s.pass_check or valid_pass()) if shows_pass else None,
                       **face)
            holder = s.person or ALICE
            perm: Permit | None = (None if s.permit is None
                                   else permit(colour, holder, **s.permit))
            decision = decide(obs, s.person, perm, s.history, s.policy, NOON_ISH,
                              door_mode=s.door_mode)
            decisions.append(decision)
            if decision.granted:  # and the same grant when the door could not be released
                decisions.append(not_released(decision))
    return tuple(decisions)


def test_every_decision_names_a_rule_and_alert_kinds_of_the_vocabulary() -> None:
    decisions = sweep()
    assert len(decisions) > 500
    for decision in decisions:
        assert type(decision.rule) is Rule, decision
        assert decision.rule in REASONS
        for alert in decision.alerts:
            assert type(alert.kind) is AlertKind, alert
            assert alert.kind in ALERTS


def test_the_sweep_reaches_every_rule_and_alert_of_decide() -> None:
    decisions = sweep()
    assert {d.rule for d in decisions} == set(Rule) - CHECKPOINT_RULES
    assert {a.kind for d in decisions for a in d.alerts} == set(ALERTS)


def test_every_rule_decide_can_name_has_its_texts_and_nothing_else_has() -> None:
    # rules.stale is the checkpoint's, but the person at the gate reads its text too; an
    # override's text names the guard, so the gate display has words of its own for those.
    assert set(REASONS) == set(Rule) - CHECKPOINT_RULES | {Rule.RULES_STALE}
    assert all(type(kind) is AlertKind for kind in ALERTS)


def test_members_are_their_plain_strings() -> None:
    for vocabulary in (Rule, AlertKind, DoorEventKind, DoorMode, EventType, AuditKind):
        # __members__ keeps aliases, which iteration skips: a repeated value would hide there.
        values = [member.value for member in vocabulary.__members__.values()]
        assert len(set(values)) == len(values)
        for member in vocabulary:
            assert member == member.value and f"{member}" == member.value
    assert Rule("green.in") is Rule.GREEN_IN
    assert [e.value for e in EventType] == ["passage", "alert", "door", "alert_ack",
                                            "alert_update", "audit", "wipe", "command_result",
                                            "snapshot_request"]

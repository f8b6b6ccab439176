"""The pure decision: every rule, both directions, alerts and precedence."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gate.decide import decide
from gate.model import AntiPassback, Colour, Direction, History, Method, Person, PersonKind
from gate.passes.claims import PassCheck, PassReason
from gate.policy import Policy
from gate.reasons import REASONS
from gate.vocabulary import AlertKind, Rule
from tests.gate.decide_support import (
    ALICE,
    NEIGHBOUR,
    NO_HISTORY,
    NOON_ISH,
    VISITOR,
    entry_of,
    exit_of,
    permit,
    seen,
    valid_pass,
)

POLICY = Policy()
IN, OUT = Direction.IN, Direction.OUT


def rule(obs, person=ALICE, perm=None, history=NO_HISTORY, policy=POLICY, now=NOON_ISH):  # type: ignore[no-untyped-def]
    return decide(obs, person, perm, history, policy, now)


@pytest.mark.parametrize(("colour", "direction", "granted", "expected"), [
    (Colour.GREEN, IN, True, "green.in"),
    (Colour.GREEN, OUT, True, "green.out"),
    (Colour.YELLOW, IN, True, "yellow.in"),
    (Colour.YELLOW, OUT, True, "yellow.exit"),
    (Colour.RED, IN, True, "red.in"),
    (Colour.RED, OUT, False, "red.exit_denied"),
    (Colour.WHITE, IN, False, "white.unverified"),
    (Colour.WHITE, OUT, False, "white.unverified"),
])
def test_colour_rules(colour: Colour, direction: Direction, granted: bool, expected: str) -> None:
    decision = rule(seen(direction), perm=permit(colour))
    assert (decision.granted, decision.rule) == (granted, expected)
    assert decision.person_id == "p-1" and decision.colour is colour
    assert decision.reason_zh and decision.reason_en


def test_red_exit_is_an_urgent_alert_and_red_entry_a_warning() -> None:
    out = rule(seen(OUT), perm=permit(Colour.RED))
    assert [(a.kind, a.severity.value) for a in out.alerts] == [("red_exit_attempt", "urgent")]
    came = rule(seen(IN), perm=permit(Colour.RED))
    assert [(a.kind, a.severity.value) for a in came.alerts] == [("red_entry", "warning")]
    quiet = rule(seen(IN), perm=permit(Colour.RED),
                 policy=Policy(red_entry_alert=False))
    assert quiet.granted and quiet.alerts == ()


def test_red_observation_over_is_said_but_never_upgraded() -> None:
    over = permit(Colour.RED, observation_until=NOON_ISH - timedelta(days=1))
    decision = rule(seen(OUT), perm=over)
    assert decision.rule == "red.exit_denied" and not decision.granted
    assert "awaiting confirmation" in decision.reason_en and "待社区确认" in decision.reason_zh
    ongoing = rule(seen(OUT), perm=permit(Colour.RED,
                                          observation_until=NOON_ISH + timedelta(days=3)))
    assert "awaiting" not in ongoing.reason_en


@pytest.mark.parametrize(("reason", "alert"), [
    (PassReason.MALFORMED, None),
    (PassReason.BAD_SIGNATURE, "forged_pass"),
    (PassReason.UNKNOWN_KEY, "forged_pass"),
    (PassReason.KEY_NOT_ALLOWED, "forged_pass"),
    (PassReason.EXPIRED, None),
    (PassReason.NOT_YET_VALID, None),
    (PassReason.REVOKED, "revoked_pass"),
    (PassReason.OTHER_COMPOUND, None),
])
def test_invalid_passes(reason: PassReason, alert: str | None) -> None:
    check = PassCheck(False, reason, "x")
    decision = rule(seen(OUT, pass_check=check), person=None, perm=None)
    assert not decision.granted and decision.rule == f"pass.{reason.value}"
    assert [a.kind for a in decision.alerts] == ([alert] if alert else [])


def test_unknown_people_and_missing_permits() -> None:
    assert rule(seen(IN, method=Method.FACE, face_checked=True), person=None).rule \
        == "face.unknown"
    assert rule(seen(IN), person=None).rule == "person.unknown"
    assert rule(seen(IN), perm=None).rule == "permit.missing"


def test_permit_validity_window() -> None:
    later = permit(Colour.GREEN, valid_from=NOON_ISH + timedelta(hours=1))
    assert rule(seen(IN), perm=later).rule == "permit.not_yet_valid"
    lapsed = permit(Colour.GREEN, valid_until=NOON_ISH - timedelta(seconds=1))
    assert rule(seen(IN), perm=lapsed).rule == "permit.expired"
    edge = permit(Colour.GREEN, valid_until=NOON_ISH)
    assert rule(seen(IN), perm=edge).granted


@pytest.mark.parametrize(("colour", "face", "expected"), [
    (Colour.YELLOW, "p-1", "yellow.exit"),
    (Colour.YELLOW, "p-9", "face.mismatch"),
    (Colour.YELLOW, None, "face.missing"),
    (Colour.RED, "p-9", "face.mismatch"),
    (Colour.GREEN, "p-9", "green.out"),  # not required for green by default
])
def test_pass_must_be_shown_by_its_holder(colour: Colour, face: str | None,
                                         expected: str) -> None:
    obs = seen(OUT, method=Method.PASS_FACE, pass_check=valid_pass(), face_checked=True,
               face_person_id=face)
    decision = rule(obs, perm=permit(colour))
    assert decision.rule == expected
    if expected == "face.mismatch":
        assert [a.kind for a in decision.alerts] == ["pass_shared"]
        assert "another person" in decision.reason_en


def test_a_stranger_presenting_a_pass_is_a_mismatch_not_a_missing_face() -> None:
    obs = seen(OUT, method=Method.PASS_FACE, pass_check=valid_pass(), face_checked=True,
               face_unknown=True)
    decision = rule(obs, perm=permit(Colour.YELLOW))
    assert decision.rule == "face.mismatch" and not decision.granted
    assert [a.kind for a in decision.alerts] == ["pass_shared"]


def test_face_rules_do_not_apply_without_face_recognition() -> None:
    assert rule(seen(OUT), perm=permit(Colour.YELLOW)).rule == "yellow.exit"


def test_liveness_when_required() -> None:
    policy = Policy(liveness_required=frozenset({Colour.GREEN}))
    obs = seen(IN, method=Method.FACE, pass_check=None, face_checked=True,
               face_person_id="p-1", live=False)
    assert rule(obs, perm=permit(Colour.GREEN), policy=policy).rule == "face.not_live"
    unknown = replace(obs, live=None)
    assert rule(unknown, perm=permit(Colour.GREEN), policy=policy).rule == "face.not_live"
    alive = replace(obs, live=True)
    assert rule(alive, perm=permit(Colour.GREEN), policy=policy).rule == "green.in"


def test_visitors() -> None:
    assert rule(seen(IN), person=VISITOR, perm=permit(Colour.GREEN, VISITOR)).rule == "green.in"
    stray = Person("v-2", "h-1", kind=PersonKind.VISITOR)
    assert rule(seen(IN), person=stray, perm=permit(Colour.GREEN, stray)).rule \
        == "visitor.no_host"


@pytest.mark.parametrize(("mode", "granted", "expected_rule", "alerts"), [
    (AntiPassback.OFF, True, "green.in", []),
    (AntiPassback.SOFT, True, "green.in", ["passback"]),
    (AntiPassback.HARD, False, "anti_passback", []),
])
def test_anti_passback(mode: AntiPassback, granted: bool, expected_rule: str,
                       alerts: list[str]) -> None:
    history = History(last_passage=entry_of(ALICE, NOON_ISH - timedelta(hours=1)))
    decision = rule(seen(IN, anti_passback=mode), perm=permit(Colour.GREEN), history=history)
    assert (decision.granted, decision.rule) == (granted, expected_rule)
    assert [a.kind for a in decision.alerts] == alerts


def test_anti_passback_resets_and_ignores_the_other_direction() -> None:
    stale = History(last_passage=entry_of(ALICE, NOON_ISH - timedelta(hours=25)))
    hard = seen(IN, anti_passback=AntiPassback.HARD)
    assert rule(hard, perm=permit(Colour.GREEN), history=stale).granted
    went_out = History(last_passage=exit_of(ALICE, NOON_ISH - timedelta(minutes=5)))
    assert rule(hard, perm=permit(Colour.GREEN), history=went_out).granted


def test_colour_denial_takes_precedence_over_anti_passback() -> None:
    history = History(last_passage=exit_of(ALICE, NOON_ISH - timedelta(hours=1), Colour.RED))
    decision = rule(seen(OUT, anti_passback=AntiPassback.HARD), perm=permit(Colour.RED),
                    history=history)
    assert decision.rule == "red.exit_denied"


def test_tailgating_alert_when_several_faces_pass() -> None:
    decision = rule(seen(IN, faces_in_view=2), perm=permit(Colour.GREEN))
    assert decision.granted and [a.kind for a in decision.alerts] == ["tailgating"]


def test_every_rule_has_both_languages() -> None:
    for rule_id, (zh, en) in REASONS.items():
        assert zh and en and zh != en, rule_id


@settings(max_examples=300, deadline=None)
@given(
    colour=st.sampled_from(list(Colour)) | st.none(),
    direction=st.sampled_from(list(Direction)),
    method=st.sampled_from([Method.PASS, Method.FACE, Method.PASS_FACE]),
    reason=st.sampled_from(list(PassReason)),
    face=st.sampled_from([None, "p-1", "p-9"]),
    faces=st.integers(0, 4),
    live=st.sampled_from([None, True, False]),
    mode=st.sampled_from(list(AntiPassback)),
    person=st.sampled_from([None, ALICE, NEIGHBOUR, VISITOR]),
    offset_h=st.floats(-100, 100),
)
def test_decide_never_raises_and_always_explains(colour, direction, method, reason, face,  # type: ignore[no-untyped-def]
                                                 faces, live, mode, person, offset_h) -> None:
    check = None if method is Method.FACE else PassCheck(reason is PassReason.OK, reason, "x")
    obs = seen(direction, method=method, pass_check=check, anti_passback=mode,
               face_checked=method is not Method.PASS, face_person_id=face,
               faces_in_view=faces, live=live)
    perm = permit(colour, person or ALICE) if colour else None
    at = NOON_ISH + timedelta(hours=offset_h)
    history = History(last_passage=entry_of(ALICE, at - timedelta(hours=1)),
                      household_exits=(exit_of(ALICE, at - timedelta(hours=30)),),
                      recent_exits=(exit_of(NEIGHBOUR, at - timedelta(seconds=60)),))
    decision = decide(obs, person, perm, history, POLICY, at)
    assert decision.rule in REASONS or decision.rule.startswith("pass.")
    assert isinstance(decision.rule, Rule)
    assert all(isinstance(a.kind, AlertKind) for a in decision.alerts)
    assert decision.reason_zh and decision.reason_en
    if decision.granted:
        assert perm is not None and perm.colour is not Colour.WHITE

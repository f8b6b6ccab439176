"""Partitions in the pure decision: while a gate cannot hear the rest of its compound, the
policy says per rule whether it decides on what it knows, refuses, or leaves it to the guard."""

from __future__ import annotations

import pytest

from gate.clock import ManualClock
from gate.compound import CompoundView
from gate.decide import decide
from gate.model import AntiPassback, Colour, Direction, History
from gate.policy import CompoundRules, Policy
from gate.vocabulary import Rule
from tests.gate.decide_support import ALICE, NOON_ISH, permit, seen

STALE = History(compound_age_s=120.0)


def policy(quota: str = "local", passback: str = "local") -> Policy:
    return Policy(compound=CompoundRules(stale_after_s=30, quota_when_stale=quota,  # type: ignore[arg-type]
                                         anti_passback_when_stale=passback))


@pytest.mark.parametrize(("quota", "rule"), [("local", Rule.YELLOW_EXIT),
                                             ("deny", Rule.COMPOUND_STALE),
                                             ("guard", Rule.COMPOUND_GUARD)])
def test_a_yellow_exit_while_the_gates_cannot_hear_each_other(quota: str, rule: Rule) -> None:
    d = decide(seen(Direction.OUT, anti_passback=AntiPassback.OFF), ALICE,
               permit(Colour.YELLOW), STALE, policy(quota=quota), NOON_ISH)
    assert d.rule == rule and d.granted is (quota == "local")


def test_a_current_view_or_a_gate_alone_decides_as_always() -> None:
    strict = policy(quota="deny", passback="deny")
    for history in (History(), History(compound_age_s=10.0)):
        d = decide(seen(Direction.OUT), ALICE, permit(Colour.YELLOW), history, strict, NOON_ISH)
        assert d.granted and d.rule == Rule.YELLOW_EXIT


def test_anti_passback_readers_follow_their_own_stale_action() -> None:
    deny_passback = policy(passback="deny")
    green_out = decide(seen(Direction.OUT, anti_passback=AntiPassback.SOFT), ALICE,
                       permit(Colour.GREEN), STALE, deny_passback, NOON_ISH)
    assert green_out.rule == Rule.COMPOUND_STALE
    no_passback = decide(seen(Direction.OUT, anti_passback=AntiPassback.OFF), ALICE,
                         permit(Colour.GREEN), STALE, deny_passback, NOON_ISH)
    assert no_passback.granted  # nothing at this reader needs the compound's history
    red = decide(seen(Direction.OUT), ALICE, permit(Colour.RED), STALE, deny_passback,
                 NOON_ISH)
    assert red.rule == Rule.RED_EXIT_DENIED  # a denial stays what it is


def test_the_view_ages_while_the_link_or_a_peer_is_down() -> None:
    clock = ManualClock(NOON_ISH)
    view = CompoundView(clock.monotonic)
    clock.advance(5)
    assert view.age_s() == 5.0  # not connected yet
    view.link_up()
    assert view.age_s() == 0.0
    view.peer_offline("gate-b")
    clock.advance(40)
    view.link_down()
    clock.advance(20)
    assert view.age_s() == 60.0  # since gate-b went quiet, the older of the two
    view.peer_online("gate-b")
    assert view.age_s() == 20.0
    view.link_up()
    assert view.age_s() == 0.0

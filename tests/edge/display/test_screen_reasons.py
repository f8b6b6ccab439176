"""Every rule id has words and a spoken prompt on the gate display: a rule the display does not
know would show a bare verdict and leave the person at the door without a reason."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from edge.display.prompts import PROMPTS
from edge.display.screen import outcome_screen
from gate.checkpoint import Outcome
from gate.decide import decide
from gate.model import Colour, Decision, Direction, History
from gate.passes import TrustList
from gate.policy import Policy
from gate.reasons import REASONS
from gate.rulebook import Rulebook
from gate.vocabulary import Rule
from tests.gate.decide_support import ALICE, permit, seen

NOW = datetime(2026, 3, 11, 2, 0, tzinfo=UTC)
GRANTED = {Rule.GREEN_IN, Rule.GREEN_OUT, Rule.YELLOW_IN, Rule.YELLOW_EXIT, Rule.RED_IN,
           Rule.OVERRIDE_OPEN_ONCE}


def outcome(decision: Decision) -> Outcome:
    return Outcome(seen(Direction.IN, at=NOW), decision, ALICE, decision.granted, 0.0)


@pytest.mark.parametrize("rule", list(Rule), ids=str)
def test_every_rule_has_a_display_reason_and_a_prompt(rule: Rule) -> None:
    zh, en = REASONS.get(rule, ("门岗 张三 开门：送货", "opened by 张三: delivery"))
    screen = outcome_screen(outcome(Decision(rule in GRANTED, rule, zh, en)))
    assert screen.reason_zh and screen.reason_en, f"{rule} shows no reason"
    assert screen.prompt in PROMPTS, f"{rule}: prompt {screen.prompt!r} is not one the gate has"
    assert "张三" not in screen.reason_zh + screen.reason_en  # an override names no guard


def test_rules_out_of_date_say_so_and_send_the_person_to_the_guard() -> None:
    # The real fallback over a real grant: the rulebook's trust list is out of date ("guard").
    rules = Rulebook(trust=TrustList([]), policy=Policy())
    rules.mark_stale("trust", "guard")
    grant = decide(seen(Direction.IN, at=NOW), ALICE, permit(Colour.GREEN), History(),
                   Policy(), NOW)
    refused = rules.fallback(grant)
    assert refused.rule is Rule.RULES_STALE and not refused.granted
    screen = outcome_screen(outcome(refused))
    assert (screen.state, screen.tone) == ("denied", "red")
    assert screen.reason_zh == "通行规则或信任列表已过期，请门岗核实放行"
    assert screen.reason_en == "The gate's rules are out of date: the guard will decide"
    assert screen.prompt == "see_guard" and (screen.extra_zh, screen.extra_en) == ("", "")

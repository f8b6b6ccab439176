"""The display board: what a screen shows for each outcome and state, never who, newest first.

Outcomes come from the real decision (gate.decide) and the real checkpoint's Outcome; time is a
ManualClock's monotonic, so expiries are exact.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from edge.display.board import DisplayBoard
from edge.display.screen import mask
from gate.checkpoint import Outcome
from gate.clock import ManualClock
from gate.decide import decide, not_released
from gate.model import Colour, Decision, Direction, History, Method, Person
from gate.observation import Observation
from gate.policy import Policy
from gate.vocabulary import DoorMode, Rule
from tests.gate.decide_support import ALICE, ALICE_SISTER, exit_of, permit, reader, seen

NOW = datetime(2026, 3, 11, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
NAMED = Person("p-1", "h-1", grid_id="grid-7", name="张三丰")
SECRETS = ("p-1", "h-1", "grid-7", "pass-001", "张三丰", "三丰")


def outcome_of(decision: Decision, person: Person | None = NAMED,
               observation: Observation | None = None) -> Outcome:
    obs = observation or seen(Direction.OUT, at=NOW)
    return Outcome(obs, decision, person, decision.granted, 0.0)


def board(clock: ManualClock, **kw: object) -> DisplayBoard:
    return DisplayBoard("out-cam", monotonic=clock.monotonic, **kw)  # type: ignore[arg-type]


def shows_nobody(view: dict[str, object]) -> None:
    text = json.dumps(view, ensure_ascii=False)
    for secret in SECRETS:
        assert secret not in text, (secret, text)


def test_a_grant_shows_green_with_the_reason_and_the_colour_only() -> None:
    clock = ManualClock(NOW)
    screen = board(clock)
    decision = decide(seen(Direction.OUT, at=NOW), NAMED, permit(Colour.GREEN, NAMED),
                      History(), Policy(), NOW)
    screen.outcome(outcome_of(decision))
    view = screen.view()
    assert (view["state"], view["tone"], view["verdict_zh"], view["verdict_en"]) == (
        "granted", "green", "请通行", "Please go ahead")
    assert (view["reason_zh"], view["reason_en"]) == ("绿码，请通行", "Green: you may leave")
    assert (view["colour"], view["colour_zh"]) == ("green", "绿码")
    assert view["prompt"] == "granted" and view["prompt_seq"] == 1 and view["name"] is None
    shows_nobody(view)


def test_a_quota_denial_says_when_the_next_exit_is_allowed() -> None:
    clock = ManualClock(NOW)
    screen = board(clock)
    history = History(household_exits=(exit_of(ALICE_SISTER, NOW - timedelta(hours=1)),))
    decision = decide(seen(Direction.OUT, at=NOW), ALICE, permit(Colour.YELLOW), history,
                      Policy(), NOW)
    assert decision.rule is Rule.YELLOW_HOUSEHOLD_QUOTA
    screen.outcome(outcome_of(decision, ALICE))
    view = screen.view()
    assert (view["state"], view["tone"], view["verdict_zh"]) == ("denied", "red", "禁止通行")
    assert view["reason_zh"] == "黄码，本户本期外出次数已用完"
    assert view["extra_zh"].startswith("下次可外出：2026-")
    assert view["extra_en"].startswith("next exit from 2026-")
    assert view["prompt"] == "quota"
    shows_nobody(view)


def test_a_red_permit_past_its_observation_date_is_told_it_awaits_confirmation() -> None:
    screen = board(ManualClock(NOW))
    red = permit(Colour.RED, NAMED, observation_until=NOW - timedelta(days=1))
    decision = decide(seen(Direction.OUT, at=NOW), NAMED, red, History(), Policy(), NOW)
    screen.outcome(outcome_of(decision))
    view = screen.view()
    assert view["reason_zh"] == "红码，居家观察期间禁止外出"
    assert (view["extra_zh"], view["extra_en"]) == (
        "观察期已满，待社区确认", "observation period over, awaiting confirmation")
    assert view["prompt"] == "red_exit"


def test_lockdown_and_a_door_that_did_not_open_and_an_override_name_no_guard() -> None:
    clock = ManualClock(NOW)
    screen = board(clock)
    locked = decide(seen(Direction.OUT, at=NOW), NAMED, permit(Colour.GREEN, NAMED), History(),
                    Policy(), NOW, door_mode=DoorMode.LOCKDOWN)
    screen.outcome(outcome_of(locked))
    view = screen.view()
    assert (view["verdict_zh"], view["reason_zh"], view["reason_en"], view["prompt"]) == (
        "禁止通行", "门禁已封锁", "Gate in lockdown", "lockdown")
    granted = decide(seen(Direction.OUT, at=NOW), NAMED, permit(Colour.GREEN, NAMED),
                     History(), Policy(), NOW)
    screen.outcome(outcome_of(not_released(granted)))
    view = screen.view()
    assert (view["state"], view["verdict_zh"], view["prompt"]) == ("denied", "门未打开",
                                                                   "see_guard")
    override = Decision(True, Rule.OVERRIDE_OPEN_ONCE, "人工放行（王保安）：快递",
                        "opened by 王保安: courier")
    obs = Observation(reader(Direction.OUT), Method.OVERRIDE, NOW)
    screen.outcome(outcome_of(override, None, obs))
    view = screen.view()
    assert (view["verdict_zh"], view["reason_zh"]) == ("请通行", "门岗已开门")
    assert "王保安" not in json.dumps(view, ensure_ascii=False)
    assert "快递" not in json.dumps(view, ensure_ascii=False)


def test_a_masked_name_only_where_the_compound_configures_it() -> None:
    clock = ManualClock(NOW)
    decision = decide(seen(Direction.OUT, at=NOW), NAMED, permit(Colour.GREEN, NAMED),
                      History(), Policy(), NOW)
    masked = board(clock, masked_name=True)
    masked.outcome(outcome_of(decision))
    assert masked.view()["name"] == "张**"
    assert "张三丰" not in json.dumps(masked.view(), ensure_ascii=False)
    assert (mask("李伟"), mask("Li Wei"), mask(""), mask(None)) == ("李*", "L**", None, None)


def test_an_outcome_shows_for_a_while_then_the_readers_state_and_the_newest_wins() -> None:
    clock = ManualClock(NOW)
    screen = board(clock, outcome_seconds=4.0)
    heard: list[int] = []
    stop = screen.add_listener(lambda: heard.append(1))
    assert screen.view()["state"] == "idle" and screen.view()["verdict_zh"] == "请出示通行码"
    screen.set_mode(DoorMode.LOCKDOWN)
    assert (screen.view()["state"], screen.view()["tone"]) == ("lockdown", "red")
    decision = decide(seen(Direction.OUT, at=NOW), NAMED, permit(Colour.GREEN, NAMED),
                      History(), Policy(), NOW, door_mode=DoorMode.LOCKDOWN)
    screen.outcome(outcome_of(decision))
    key = screen.view()["key"]
    assert screen.seconds_to_change() == 4.0
    clock.advance(4.0)
    after = screen.view()
    assert after["state"] == "lockdown" and after["key"] != key, "the key changes as it ends"
    assert screen.seconds_to_change() is None
    # A pass starts waiting for its face: the screen asks for the face at once, and says so.
    screen.set_mode(DoorMode.NORMAL)
    screen.outcome(outcome_of(decision))
    screen.set_waiting(True)
    view = screen.view()
    assert (view["state"], view["tone"], view["prompt"]) == ("waiting", "amber", "face")
    seq = view["prompt_seq"]
    screen.message("请稍候", "Please wait", seconds=10, prompt="wait")
    assert screen.view()["state"] == "message" and screen.view()["prompt_seq"] == seq + 1
    screen.message("请逐一通行", "One at a time, please", seconds=10)
    assert screen.view()["prompt_seq"] == seq + 1, "a message without a prompt says nothing"
    clock.advance(10)
    assert screen.view()["state"] == "waiting"
    screen.set_waiting(False)
    assert screen.view()["state"] == "idle"
    told = len(heard)
    assert told >= 8
    stop()
    screen.set_mode(DoorMode.HOLD_OPEN)
    assert screen.view()["state"] == "hold_open" and len(heard) == told, "no longer heard"


def test_replay_shows_the_last_outcome_again_with_its_prompt() -> None:
    clock = ManualClock(NOW)
    screen = board(clock)
    assert screen.replay() is False and screen.last() is None
    decision = decide(seen(Direction.OUT, at=NOW), NAMED, permit(Colour.RED, NAMED), History(),
                      Policy(), NOW)
    screen.outcome(outcome_of(decision))
    clock.advance(30)
    assert screen.view()["state"] == "idle"
    seq = screen.view()["prompt_seq"]
    assert screen.replay() is True
    view = screen.view()
    assert view["state"] == "denied" and view["prompt"] == "red_exit"
    assert view["prompt_seq"] == seq + 1 and view["prompt_age_ms"] == 0
    last = screen.last()
    assert last is not None and last["reason_zh"] == "红码，居家观察期间禁止外出"
    shows_nobody(view)

"""Yellow exits: household quota per period in local time, exit windows, one person at a time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gate.decide import decide
from gate.model import Colour, Direction, History, PassageRef
from gate.policy import Policy, YellowRules
from tests.gate.decide_support import ALICE, ALICE_SISTER, NEIGHBOUR, exit_of, permit, seen

SHANGHAI_MIDNIGHT = datetime(2026, 3, 10, 16, 0, tzinfo=UTC)  # 2026-03-11 00:00 +08:00
ANCHORED = Policy(yellow=YellowRules(period_anchor="2026-03-11"))  # a period starts that day


def yellow_exit(now: datetime, history: History, policy: Policy = ANCHORED, **obs: object):  # type: ignore[no-untyped-def]
    return decide(seen(Direction.OUT, at=now, **obs), ALICE, permit(Colour.YELLOW), history,
                  policy, now)


def household(*exits: PassageRef) -> History:
    return History(household_exits=exits)


def test_first_exit_of_the_household_is_granted() -> None:
    assert yellow_exit(SHANGHAI_MIDNIGHT, History()).rule == "yellow.exit"


def test_second_exit_in_the_same_two_day_period_is_denied_with_the_next_date() -> None:
    sister_left = SHANGHAI_MIDNIGHT + timedelta(hours=2)
    decision = yellow_exit(SHANGHAI_MIDNIGHT + timedelta(days=1, hours=10),
                           household(exit_of(ALICE_SISTER, sister_left)))
    assert decision.rule == "yellow.household_quota" and not decision.granted
    assert "2026-03-13 00:00" in decision.reason_en and "2026-03-13 00:00" in decision.reason_zh


@pytest.mark.parametrize(("exit_offset_s", "now_offset_s", "expected"), [
    (-1, 0, "yellow.exit"),  # sister left 23:59:59 the day before the period started
    (0, 1, "yellow.household_quota"),  # sister left 00:00:00, first second of this period
    (0, 2 * 86400 - 1, "yellow.household_quota"),  # last second of the period
    (0, 2 * 86400, "yellow.exit"),  # the next period begins at local midnight
])
def test_local_day_boundaries(exit_offset_s: int, now_offset_s: int, expected: str) -> None:
    history = household(exit_of(ALICE_SISTER, SHANGHAI_MIDNIGHT + timedelta(seconds=exit_offset_s)))
    now = SHANGHAI_MIDNIGHT + timedelta(seconds=now_offset_s)
    assert yellow_exit(now, history).rule == expected


def test_periods_follow_the_policy_time_zone() -> None:
    # Same instants, but in UTC the period boundary falls 8 hours later.
    utc = Policy(timezone="UTC", yellow=YellowRules(period_anchor="2026-03-11"))
    history = household(exit_of(ALICE_SISTER, SHANGHAI_MIDNIGHT + timedelta(hours=1)))
    now = SHANGHAI_MIDNIGHT + timedelta(hours=9)  # 2026-03-11 01:00 UTC
    assert yellow_exit(now, history).rule == "yellow.household_quota"
    assert yellow_exit(now, history, utc).rule == "yellow.exit"


def test_only_the_households_own_exits_count() -> None:
    history = household(exit_of(NEIGHBOUR, SHANGHAI_MIDNIGHT + timedelta(hours=1)))
    assert yellow_exit(SHANGHAI_MIDNIGHT + timedelta(hours=5), history).rule == "yellow.exit"


def test_quota_of_two_allows_two() -> None:
    policy = Policy(yellow=YellowRules(exits_per_household=2, period_anchor="2026-03-11"))
    one = household(exit_of(ALICE_SISTER, SHANGHAI_MIDNIGHT + timedelta(hours=1)))
    now = SHANGHAI_MIDNIGHT + timedelta(hours=5)
    assert yellow_exit(now, one, policy).rule == "yellow.exit"
    two = household(*one.household_exits, exit_of(ALICE, SHANGHAI_MIDNIGHT + timedelta(hours=3)))
    assert yellow_exit(now, two, policy).rule == "yellow.household_quota"


def test_rolling_periods() -> None:
    policy = Policy(yellow=YellowRules(quota_mode="rolling"))
    left = SHANGHAI_MIDNIGHT - timedelta(hours=1)
    history = household(exit_of(ALICE_SISTER, left))
    inside = yellow_exit(left + timedelta(hours=47), history, policy)
    assert inside.rule == "yellow.household_quota"
    assert "2026-03-12 23:00" in inside.reason_en  # 48 h after the sister left, local time
    assert yellow_exit(left + timedelta(hours=48, seconds=1), history, policy).rule \
        == "yellow.exit"


def test_calendar_periods_across_daylight_saving_change() -> None:
    # Europe/Berlin springs forward on 2026-03-29; a 1-day period still starts at local midnight.
    policy = Policy(timezone="Europe/Berlin", yellow=YellowRules(period_days=1))
    midnight_29 = datetime(2026, 3, 28, 23, 0, tzinfo=UTC)  # 00:00 CET on the 29th
    midnight_30 = datetime(2026, 3, 29, 22, 0, tzinfo=UTC)  # 00:00 CEST on the 30th (23 h later)
    history = household(exit_of(ALICE_SISTER, midnight_29 + timedelta(hours=1)))
    assert yellow_exit(midnight_30 - timedelta(seconds=1), history, policy).rule \
        == "yellow.household_quota"
    assert yellow_exit(midnight_30, history, policy).rule == "yellow.exit"


@pytest.mark.parametrize(("window", "local_hour", "expected"), [
    ("08:00-18:00", 7, "yellow.exit_window"),
    ("08:00-18:00", 8, "yellow.exit"),
    ("08:00-18:00", 17, "yellow.exit"),
    ("08:00-18:00", 18, "yellow.exit_window"),
    ("22:00-06:00", 23, "yellow.exit"),  # crossing midnight
    ("22:00-06:00", 3, "yellow.exit"),
    ("22:00-06:00", 12, "yellow.exit_window"),
    ("00:00-24:00", 23, "yellow.exit"),
])
def test_exit_window(window: str, local_hour: int, expected: str) -> None:
    policy = Policy(yellow=YellowRules(exit_window=window))
    now = SHANGHAI_MIDNIGHT + timedelta(hours=local_hour)
    decision = yellow_exit(now, History(), policy)
    assert decision.rule == expected
    if expected == "yellow.exit_window":
        assert window in decision.reason_en


def test_default_anchor_counts_periods_from_2020_01_01() -> None:
    # 2026-03-11 is day 2261 after 2020-01-01: odd, so the second day of its period.
    history = household(exit_of(ALICE_SISTER, SHANGHAI_MIDNIGHT - timedelta(hours=5)))
    assert yellow_exit(SHANGHAI_MIDNIGHT + timedelta(hours=5), history, Policy()).rule \
        == "yellow.household_quota"
    assert yellow_exit(SHANGHAI_MIDNIGHT + timedelta(hours=5), history).rule == "yellow.exit"


def test_exit_window_in_a_dst_zone() -> None:
    policy = Policy(timezone="Europe/Berlin", yellow=YellowRules(exit_window="08:00-18:00"))
    # 07:30 CEST on 2026-03-30 is 05:30 UTC; in winter time it would have been 06:30 UTC.
    assert yellow_exit(datetime(2026, 3, 30, 5, 30, tzinfo=UTC), History(), policy).rule \
        == "yellow.exit_window"
    assert yellow_exit(datetime(2026, 3, 30, 6, 30, tzinfo=UTC), History(), policy).rule \
        == "yellow.exit"


@pytest.mark.parametrize(("seconds_ago", "colour", "expected"), [
    (299, Colour.YELLOW, "yellow.companions"),
    (300, Colour.YELLOW, "yellow.companions"),  # the window edge still counts
    (301, Colour.YELLOW, "yellow.exit"),
    (10, Colour.GREEN, "yellow.exit"),  # a green neighbour leaving is no companion
])
def test_one_person_at_a_time(seconds_ago: int, colour: Colour, expected: str) -> None:
    now = SHANGHAI_MIDNIGHT + timedelta(hours=10)
    history = History(recent_exits=(exit_of(NEIGHBOUR, now - timedelta(seconds=seconds_ago),
                                             colour),))
    assert yellow_exit(now, history).rule == expected


def test_own_earlier_exit_is_not_a_companion_and_faces_count() -> None:
    now = SHANGHAI_MIDNIGHT + timedelta(hours=10)
    own = History(recent_exits=(exit_of(ALICE, now - timedelta(seconds=30)),))
    assert yellow_exit(now, own).rule == "yellow.exit"
    assert yellow_exit(now, History(), faces_in_view=2).rule == "yellow.companions"
    off = Policy(yellow=YellowRules(companion_window_s=0))
    near = History(recent_exits=(exit_of(NEIGHBOUR, now - timedelta(seconds=5)),))
    assert yellow_exit(now, near, off).rule == "yellow.exit"


def test_quota_is_checked_before_companions() -> None:
    now = SHANGHAI_MIDNIGHT + timedelta(hours=10)
    sister = exit_of(ALICE_SISTER, now - timedelta(seconds=20))
    history = History(household_exits=(sister,), recent_exits=(sister,))
    assert yellow_exit(now, history).rule == "yellow.household_quota"


def test_green_members_and_visitors_of_the_household_do_not_use_its_quota() -> None:
    now = SHANGHAI_MIDNIGHT + timedelta(hours=10)
    green_went_out = household(exit_of(ALICE_SISTER, now - timedelta(hours=1), Colour.GREEN))
    assert yellow_exit(now, green_went_out).rule == "yellow.exit"
    yellow_went_out = household(exit_of(ALICE_SISTER, now - timedelta(hours=1), Colour.YELLOW))
    assert yellow_exit(now, yellow_went_out).rule == "yellow.household_quota"


@pytest.mark.parametrize("window", ["08:00-24:30", "08:00-25:00", "24:00-06:00", "8:00-18:00"])
def test_impossible_exit_windows_are_refused_when_the_policy_is_read(window: str) -> None:
    with pytest.raises(ValueError, match="HH:MM-HH:MM"):
        YellowRules(exit_window=window)

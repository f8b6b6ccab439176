"""Open-set identification and voting: tighter with gallery size, a margin, agreement."""

from __future__ import annotations

import pytest

from vision.faces.identify import Identification, OpenSetRule
from vision.faces.index import Match
from vision.faces.votes import VoteBox

RULE = OpenSetRule()


@pytest.mark.parametrize(("persons", "tolerance"), [
    (1, 0.60), (10, 0.60), (100, 0.56), (1000, 0.52), (10_000, 0.48), (1_000_000, 0.45)])
def test_tolerance_tightens_with_gallery_size(persons: int, tolerance: float) -> None:
    assert RULE.tolerance_for(persons) == pytest.approx(tolerance)


def test_judge_accepts_a_clear_best_match() -> None:
    got = RULE.judge([Match("p-1", 0.40), Match("p-2", 0.70)], persons=2)
    assert (got.person_id, got.reason) == ("p-1", "match")


def test_judge_rejects_too_far_and_ambiguous() -> None:
    far = RULE.judge([Match("p-1", 0.58), Match("p-2", 0.80)], persons=1000)
    assert (far.person_id, far.closest, far.reason) == (None, "p-1", "too_far")
    close_call = RULE.judge([Match("p-1", 0.40), Match("p-2", 0.43)], persons=2)
    assert (close_call.person_id, close_call.reason) == (None, "ambiguous")
    assert RULE.judge([], persons=0).reason == "empty"


def vote(person: str | None, distance: float = 0.4) -> Identification:
    return Identification(person, distance, person, None, 0.6, "match" if person else "too_far")


def test_votes_must_agree_and_name_no_one_else() -> None:
    box = VoteBox(needed=2, unknown_after_s=1.0)
    box.add(vote("p-1", 0.45))
    assert box.winner() is None and not box.settled(0.1)
    box.add(vote(None, 0.7))  # a poor view does not block
    box.add(vote("p-1", 0.41))
    assert box.winner() == "p-1" and box.settled(0.1)
    assert box.distance() == pytest.approx(0.41)
    box.add(vote("p-2"))  # a vote for someone else withdraws the agreement
    assert box.winner() is None


def test_unknown_only_after_the_grace_period() -> None:
    box = VoteBox(needed=2, unknown_after_s=1.0)
    box.add(vote(None, 0.8))
    box.add(vote(None, 0.75))
    assert not box.settled(0.5)
    assert box.settled(1.0)
    assert box.winner() is None and box.distance() == pytest.approx(0.75)

"""What was decided is what happened: the door's mode is an input of the decision, and a grant
the relay did not carry out is no passage (real passes, SQLite, gpiozero MockFactory)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from gate.checkpoint import Checkpoint, Outcome
from gate.clock import ManualClock
from gate.door import Door
from gate.journal import Journal
from gate.model import Colour, Direction, Method, Reader
from gate.observation import Observation
from gate.passes import Revocations, encode_pass
from gate.policy import Policy
from gate.registry import Registry
from gate.rulebook import Rulebook
from gate.store import open_database
from gate.vocabulary import AlertKind, DoorEventKind, DoorMode, Rule
from tests.gate.passes_support import COMPOUND, NOW, PLATFORM, claims, trusting

OUT = Reader("out-cam", "gate-east", Direction.OUT)
IN = Reader("in-cam", "gate-east", Direction.IN)
SIDE = Reader("side-cam", "gate-east", Direction.OUT)  # a reader with no relay of its own


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    factory = MockFactory()
    yield factory
    factory.reset()


@pytest.fixture
def checkpoint(tmp_path: Path, factory: MockFactory) -> Iterator[Checkpoint]:
    clock = ManualClock(NOW)
    db = open_database(tmp_path / "gridgate.db")
    out_door = Door(18, open_seconds=5, pin_factory=factory, clock=clock)
    in_door = Door(17, open_seconds=5, pin_factory=factory, clock=clock)
    cp = Checkpoint(compound_id=COMPOUND, rules=Rulebook(trust=trusting(PLATFORM),
                                                         policy=Policy(),
                                                         revocations=Revocations()),
                    registry=Registry(db), journal=Journal(db, gate_id="gate-east", clock=clock),
                    doors={"out-cam": out_door, "in-cam": in_door}, clock=clock)
    yield cp
    out_door.close()
    in_door.close()


def show(cp: Checkpoint, reader: Reader, **changes: object) -> Observation:
    text = encode_pass(claims(**changes), PLATFORM)
    return Observation(reader=reader, method=Method.PASS, seen_at=NOW,
                       pass_check=cp.check_pass(text, NOW))


def door_events(cp: Checkpoint) -> list[str]:
    return [e["kind"] for e in cp.journal.door_events(50)]


def test_in_lockdown_a_good_pass_is_denied_recorded_denied_and_nobody_is_out(
        checkpoint: Checkpoint, factory: MockFactory) -> None:
    door = checkpoint.doors["out-cam"]
    door.set_mode(DoorMode.LOCKDOWN, actor="guard-a", reason="drill")
    outcome = checkpoint.handle(show(checkpoint, OUT))
    decision = outcome.decision
    assert not decision.granted and decision.rule is Rule.GATE_LOCKDOWN
    assert (decision.reason_zh, decision.reason_en) == ("门禁已封锁", "Gate in lockdown")
    assert decision.colour is Colour.GREEN and decision.person_id == "p-101"
    assert not outcome.released and factory.pin(18).state is False
    [row] = checkpoint.journal.trajectory("p-101")
    assert row["rule"] == "gate.lockdown" and not row["granted"]
    assert checkpoint.journal.who_is_out() == []
    # The door was never asked: the decision already said no.
    assert DoorEventKind.RELEASE_REFUSED not in door_events(checkpoint)
    # Back to normal, the same pass opens the door.
    door.set_mode(DoorMode.NORMAL, actor="guard-a")
    assert checkpoint.handle(show(checkpoint, OUT)).decision.rule is Rule.GREEN_OUT
    assert [p["person_id"] for p in checkpoint.journal.who_is_out()] == ["p-101"]


def test_lockdown_keeps_a_red_exit_attempt_alert_but_drops_an_entry_that_did_not_happen(
        checkpoint: Checkpoint) -> None:
    for door in checkpoint.doors.values():
        door.set_mode(DoorMode.LOCKDOWN, actor="guard-a")
    leaving = checkpoint.handle(show(checkpoint, OUT, colour=Colour.RED)).decision
    assert leaving.rule is Rule.RED_EXIT_DENIED, "a denial keeps its own reason"
    assert [a.kind for a in leaving.alerts] == [AlertKind.RED_EXIT_ATTEMPT]
    entering = checkpoint.handle(show(checkpoint, IN, colour=Colour.RED,
                                      pass_id="pass-002")).decision
    assert entering.rule is Rule.GATE_LOCKDOWN and entering.alerts == ()


def test_a_grant_whose_relay_was_not_released_is_no_passage(
        checkpoint: Checkpoint, factory: MockFactory) -> None:
    # A yellow resident at a reader without a relay: the rules grant, the door cannot open.
    outcome = checkpoint.handle(show(checkpoint, SIDE, colour=Colour.YELLOW))
    assert outcome.decision.rule is Rule.DOOR_NOT_RELEASED and not outcome.decision.granted
    assert outcome.decision.colour is Colour.YELLOW and not outcome.released
    [row] = checkpoint.journal.trajectory("p-101")
    assert row["rule"] == "door.not_released" and not row["granted"]
    assert checkpoint.journal.who_is_out() == []
    # It used no exit of the household's quota: a member leaving next is let out.
    second = checkpoint.handle(show(checkpoint, OUT, colour=Colour.YELLOW, pass_id="pass-002",
                                    person_id="p-102")).decision
    assert second.rule is Rule.YELLOW_EXIT and second.granted
    assert factory.pin(18).state is True


def test_lamps_and_screens_hear_the_outcome_before_it_is_written(
        checkpoint: Checkpoint) -> None:
    heard: list[tuple[Outcome, int]] = []

    def first(outcome: Outcome) -> None:
        heard.append((outcome, len(checkpoint.journal.recent_passages(10))))

    checkpoint.add_listener(first, before_record=True)
    later: list[Outcome] = []
    checkpoint.add_listener(later.append)
    outcome = checkpoint.handle(show(checkpoint, OUT))
    [(early, rows_then)] = heard
    assert rows_then == 0 and early.events == [], "heard before the passage was written"
    assert early.decision == outcome.decision and early.acted_at == outcome.acted_at
    assert [o.decision for o in later] == [outcome.decision] and later[0].events
    override = checkpoint.override(OUT, actor="guard-a", reason="delivery")
    assert heard[-1][0].decision == override.decision

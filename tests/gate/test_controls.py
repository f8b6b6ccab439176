"""Door controls on gpiozero's MockFactory with a real journal: every override is recorded the
same way whoever asks, with its alert, and the outcome listeners hear open-once overrides."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from gate.checkpoint import Checkpoint, Outcome
from gate.clock import ManualClock
from gate.controls import DoorControls, door_event_recorder
from gate.door import Door, DoorMode
from gate.errors import DoorError
from gate.journal import Journal
from gate.journal.keeper import RecordKeeper
from gate.model import Direction, Reader
from gate.policy import Policy
from gate.registry import Registry
from gate.rulebook import Rulebook
from gate.store import open_database
from gate.vocabulary import AlertKind, DoorEventKind, Rule
from tests.gate.passes_support import COMPOUND, NOW, PLATFORM, trusting

IN_PIN, OUT_PIN, CONTACT = 17, 18, 22


@dataclass
class Gate:
    controls: DoorControls
    journal: Journal
    factory: MockFactory
    heard: list[Outcome]
    clock: ManualClock


@pytest.fixture
def gate(tmp_path: Path) -> Iterator[Gate]:
    factory = MockFactory()
    clock = ManualClock(NOW)
    db = open_database(tmp_path / "gridgate.db")
    journal = Journal(db, gate_id="gate-east", clock=clock)
    readers = {"in-cam": Reader("in-cam", "gate-east", Direction.IN),
               "out-cam": Reader("out-cam", "gate-east", Direction.OUT)}
    keeper = RecordKeeper(journal)
    record = door_event_recorder(keeper)
    doors = {"in-cam": Door(IN_PIN, open_seconds=5, door_contact_pin=CONTACT,
                            pin_factory=factory, clock=clock, on_event=record),
             "out-cam": Door(OUT_PIN, open_seconds=5, pin_factory=factory, clock=clock,
                             on_event=record)}
    checkpoint = Checkpoint(compound_id=COMPOUND,
                            rules=Rulebook(trust=trusting(PLATFORM), policy=Policy()),
                            registry=Registry(db), journal=journal, doors=doors, clock=clock,
                            keeper=keeper)
    heard: list[Outcome] = []
    checkpoint.add_listener(heard.append)
    controls = DoorControls(checkpoint=checkpoint, doors=doors, readers=readers)
    yield Gate(controls, journal, factory, heard, clock)
    controls.lock_all()
    db.close()
    factory.reset()


def alerts(journal: Journal, kind: AlertKind) -> list[dict[str, object]]:
    return [a for a in journal.alerts() if a["kind"] == kind]


def test_open_once_is_an_override_passage_with_its_alert_that_listeners_hear(gate: Gate) -> None:
    outcome = gate.controls.open_once("in-cam", actor="guard1", reason="delivery")
    assert outcome.released and gate.factory.pin(IN_PIN).state is True
    assert gate.factory.pin(OUT_PIN).state is False
    assert gate.heard == [outcome]  # the panel and the console hear overrides like decisions
    [passage] = gate.journal.recent_passages(1)
    assert passage["rule"] == Rule.OVERRIDE_OPEN_ONCE and passage["actor"] == "guard1"
    [alert] = alerts(gate.journal, AlertKind.OVERRIDE)
    assert "guard1" in str(alert["message_en"]) and "delivery" in str(alert["message_en"])


def test_open_once_in_lockdown_is_recorded_as_refused_and_heard(gate: Gate) -> None:
    gate.controls.set_mode(DoorMode.LOCKDOWN, actor="guard1", reason="drill", reader_id="in-cam")
    outcome = gate.controls.open_once("in-cam", actor="platform:ops", reason="ambulance")
    assert not outcome.released and gate.factory.pin(IN_PIN).state is False
    assert outcome.decision.rule == Rule.OVERRIDE_REFUSED and gate.heard == [outcome]


def test_a_lockdown_raises_the_same_alert_for_a_guard_and_for_the_platform(gate: Gate) -> None:
    # A guard locks one reader's door down from the panel ...
    changed = gate.controls.set_mode(DoorMode.LOCKDOWN, actor="guard1", reason="fight",
                                     reader_id="out-cam", snapshot="snapshots/x.jpg")
    assert [d.name for d in changed] == [f"relay{OUT_PIN}"]
    # ... the platform locks every door of the gate down.
    changed = gate.controls.set_mode(DoorMode.LOCKDOWN, actor="platform:ops", reason="alarm")
    assert sorted(d.name for d in changed) == [f"relay{IN_PIN}", f"relay{OUT_PIN}"]
    guard, platform = alerts(gate.journal, AlertKind.OVERRIDE)[::-1]  # newest first
    assert guard["reader_id"] == "out-cam" and "guard1 locked out-cam down" in str(
        guard["message_en"])
    assert platform["reader_id"] is None and "platform:ops locked all doors down" in str(
        platform["message_en"])
    modes = [e for e in gate.journal.door_events() if e["kind"] == DoorEventKind.MODE]
    assert any("snapshots/x.jpg" in str(e["detail"]) for e in modes)  # the evidence is kept


def test_hold_open_needs_a_limit_and_back_to_normal_raises_no_alert(gate: Gate) -> None:
    with pytest.raises(DoorError, match="time limit"):
        gate.controls.set_mode(DoorMode.HOLD_OPEN, actor="guard1", reason="move-in",
                               reader_id="in-cam")
    assert gate.factory.pin(IN_PIN).state is False and alerts(gate.journal,
                                                               AlertKind.OVERRIDE) == []
    gate.controls.set_mode(DoorMode.HOLD_OPEN, actor="guard1", reason="move-in",
                           reader_id="in-cam", seconds=90)
    assert gate.factory.pin(IN_PIN).state is True
    [held] = alerts(gate.journal, AlertKind.OVERRIDE)
    assert "1.5 min" in str(held["message_en"])
    gate.controls.set_mode(DoorMode.NORMAL, actor="guard1", reader_id="in-cam")
    assert gate.factory.pin(IN_PIN).state is False
    assert len(alerts(gate.journal, AlertKind.OVERRIDE)) == 1


def test_an_unknown_reader_is_refused_before_any_door_moves(gate: Gate) -> None:
    with pytest.raises(KeyError):
        gate.controls.open_once("nowhere", actor="guard1", reason="x")
    with pytest.raises(KeyError):
        gate.controls.set_mode(DoorMode.LOCKDOWN, actor="guard1", reader_id="nowhere")
    assert gate.factory.pin(IN_PIN).state is False and gate.factory.pin(OUT_PIN).state is False
    assert gate.journal.recent_passages() == [] and gate.journal.alerts() == []


def test_a_forced_door_is_journaled_with_an_urgent_alert(gate: Gate) -> None:
    gate.clock.advance(1.0)  # well after any release
    gate.factory.pin(CONTACT).drive_high()  # opened while locked
    deadline = time.monotonic() + 2
    while not alerts(gate.journal, AlertKind.DOOR_FORCED) and time.monotonic() < deadline:
        time.sleep(0.01)
    [alert] = alerts(gate.journal, AlertKind.DOOR_FORCED)
    assert alert["severity"] == "urgent" and f"relay{IN_PIN}" in str(alert["message_en"])
    assert any(e["kind"] == DoorEventKind.FORCED for e in gate.journal.door_events())


def test_lock_all_drives_every_door_locked_even_in_hold_open(gate: Gate) -> None:
    gate.controls.set_mode(DoorMode.HOLD_OPEN, actor="guard1", reason="move-in", seconds=600)
    assert gate.factory.pin(IN_PIN).state is True and gate.factory.pin(OUT_PIN).state is True
    gate.controls.lock_all()
    assert gate.factory.pin(IN_PIN).state is False and gate.factory.pin(OUT_PIN).state is False

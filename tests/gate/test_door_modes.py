"""Door modes survive a restart: real SQLite file, real gpiozero doors on the MockFactory, a new
door and a new store on the same file standing for the restarted gate."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from gate.clock import ManualClock
from gate.door import Door
from gate.door_modes import RESTORED, DoorModeStore, keep_modes
from gate.store import open_database
from gate.vocabulary import DoorEventKind, DoorMode

START = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    factory = MockFactory()
    yield factory
    factory.reset()


class Gate:
    """One door with its mode store, as a gate run builds them; `restart()` builds them anew."""

    def __init__(self, path: Path, factory: MockFactory, clock: ManualClock) -> None:
        self.path, self.factory, self.clock = path, factory, clock
        self.events: list[tuple[DoorEventKind, str, str | None]] = []
        self.door: Door | None = None
        self.db = open_database(path)
        self.start()

    def start(self) -> None:
        self.door = Door(17, open_seconds=1, pin_factory=self.factory, clock=self.clock,
                         on_event=lambda e: self.events.append((e.kind, e.detail, e.actor)))
        self.store = DoorModeStore(self.db, clock=self.clock)
        self.restored = keep_modes(self.store, [self.door])

    def restart(self) -> Door:
        assert self.door is not None
        self.door.close()  # the relay drops with the process
        self.db.close()
        self.db = open_database(self.path)
        self.start()
        assert self.door is not None
        return self.door

    def close(self) -> None:
        if self.door is not None:
            self.door.close()
        self.db.close()


@pytest.fixture
def gate(tmp_path: Path, factory: MockFactory) -> Iterator[Gate]:
    g = Gate(tmp_path / "gridgate.db", factory, ManualClock(START))
    yield g
    g.close()


def test_a_lockdown_comes_back_after_a_restart_with_its_reason(gate: Gate,
                                                                factory: MockFactory) -> None:
    assert gate.restored == []
    assert gate.door is not None
    gate.door.set_mode(DoorMode.LOCKDOWN, actor="guard-a", reason="fight at the gate")
    for _ in range(2):  # and again after a second restart: the reason is not lost
        door = gate.restart()
        assert door.mode is DoorMode.LOCKDOWN
        assert not door.release(reason="green.out"), "a grant cannot open it"
        assert factory.pin(17).state is False
        [saved] = gate.restored
        assert saved.actor == "guard-a" and "fight at the gate" in saved.detail
        assert (DoorEventKind.MODE, f"lockdown; {RESTORED}", "guard-a") in gate.events
    door.set_mode(DoorMode.NORMAL, actor="guard-b")
    assert gate.restart().mode is DoorMode.NORMAL and gate.restored == []


def test_a_hold_open_comes_back_with_the_time_it_had_left(gate: Gate,
                                                            factory: MockFactory) -> None:
    assert gate.door is not None
    gate.door.set_mode(DoorMode.HOLD_OPEN, seconds=600, actor="guard-a", reason="moving day")
    gate.clock.advance(200)  # the gate was down this long
    door = gate.restart()
    assert door.mode is DoorMode.HOLD_OPEN and factory.pin(17).state is True
    remaining = door.mode_remaining_s
    assert remaining is not None and abs(remaining - 400) < 1, remaining
    gate.clock.advance(100)
    door = gate.restart()  # still the same end, not a fresh ten minutes
    assert door.mode_remaining_s is not None and abs(door.mode_remaining_s - 300) < 1


def test_a_hold_open_that_ran_out_meanwhile_comes_back_normal(gate: Gate,
                                                                factory: MockFactory) -> None:
    assert gate.door is not None
    gate.door.set_mode(DoorMode.HOLD_OPEN, seconds=60, actor="guard-a", reason="delivery")
    gate.clock.advance(61)
    door = gate.restart()
    assert door.mode is DoorMode.NORMAL and gate.restored == []
    assert factory.pin(17).state is False
    assert gate.store.load()[door.name].mode is DoorMode.NORMAL
    assert gate.restart().mode is DoorMode.NORMAL


def test_a_saved_mode_the_gate_does_not_know_is_ignored(gate: Gate) -> None:
    gate.db.execute("INSERT INTO door_modes (door, mode, detail, set_at) "
                    "VALUES ('relay17', 'sideways', '', '2026-03-10T02:00:00')")
    gate.db.conn.commit()
    assert gate.restart().mode is DoorMode.NORMAL

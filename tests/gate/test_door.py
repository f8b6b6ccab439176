"""The door on gpiozero's MockFactory: relay states and timing, modes, forced and held-open."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from gpiozero.pins.mock import MockFactory

from gate.door import Door, DoorEvent, DoorMode
from gate.errors import DoorError
from gate.vocabulary import DoorEventKind

RELAY, BUTTON, CONTACT = 17, 27, 22


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    factory = MockFactory()
    yield factory
    factory.reset()


class Recorder:
    def __init__(self) -> None:
        self.events: list[DoorEvent] = []
        self.changed = threading.Event()

    def __call__(self, event: DoorEvent) -> None:
        self.events.append(event)
        self.changed.set()

    def kinds(self) -> list[DoorEventKind]:
        return [e.kind for e in self.events]

    def wait_for(self, kind: DoorEventKind, timeout: float = 2.0) -> DoorEvent:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events:
                if event.kind == kind:
                    assert isinstance(event.kind, DoorEventKind)  # not a look-alike string
                    return event
            self.changed.wait(0.01)
            self.changed.clear()
        raise AssertionError(f"no {kind!r} event; saw {self.kinds()}")


def make_door(factory: MockFactory, recorder: Recorder, **kwargs: object) -> Door:
    options: dict[str, object] = {"open_seconds": 0.1, "exit_button_pin": BUTTON,
                                  "door_contact_pin": CONTACT, "held_open_seconds": 0.2}
    options.update(kwargs)
    return Door(RELAY, pin_factory=factory, on_event=recorder, **options)  # type: ignore[arg-type]


def test_relay_starts_locked_and_pulses_for_open_seconds(factory: MockFactory) -> None:
    recorder = Recorder()
    with make_door(factory, recorder) as door:
        pin = factory.pin(RELAY)
        assert pin.state is False
        started = time.monotonic()
        assert door.release() is True
        assert pin.state is True
        recorder.wait_for(DoorEventKind.LOCKED)
        assert pin.state is False
        assert 0.09 <= time.monotonic() - started < 0.5
        # The mock pin keeps its history: locked, released, locked again.
        assert [s.state for s in pin.states] == [False, True, False]


def test_active_low_relay_is_high_while_locked(factory: MockFactory) -> None:
    with make_door(factory, Recorder(), active_high=False) as door:
        assert factory.pin(RELAY).state is True
        door.release()
        assert factory.pin(RELAY).state is False
    assert factory.pin(RELAY).state is True  # closed: locked again


def test_close_relocks_even_while_released(factory: MockFactory) -> None:
    door = make_door(factory, Recorder(), open_seconds=10)
    door.release()
    assert factory.pin(RELAY).state is True
    door.close()
    assert factory.pin(RELAY).state is False


def test_lockdown_refuses_grants_and_exit_button(factory: MockFactory) -> None:
    recorder = Recorder()
    with make_door(factory, recorder) as door:
        door.set_mode(DoorMode.LOCKDOWN, actor="guard1", reason="drill")
        assert door.release() is False
        factory.pin(BUTTON).drive_low()
        assert factory.pin(RELAY).state is False
        assert recorder.kinds().count(DoorEventKind.RELEASE_REFUSED) == 2
        door.set_mode(DoorMode.NORMAL)
        assert door.release() is True


def test_hold_open_ends_by_itself(factory: MockFactory) -> None:
    recorder = Recorder()
    with make_door(factory, recorder) as door:
        door.set_mode(DoorMode.HOLD_OPEN, seconds=0.15, actor="guard1")
        assert factory.pin(RELAY).state is True
        assert door.mode_remaining_s is not None
        deadline = time.monotonic() + 2
        while door.mode is not DoorMode.NORMAL and time.monotonic() < deadline:
            time.sleep(0.01)
        assert door.mode is DoorMode.NORMAL
        assert factory.pin(RELAY).state is False


def test_hold_open_without_limit_is_refused_and_changes_nothing(factory: MockFactory) -> None:
    with make_door(factory, Recorder(), open_seconds=0.1) as door:
        door.release()
        with pytest.raises(DoorError):
            door.set_mode(DoorMode.HOLD_OPEN)
        assert door.mode is DoorMode.NORMAL
        time.sleep(0.3)  # the relock of the release still happens
        assert factory.pin(RELAY).state is False


@pytest.mark.parametrize("seconds", [0.0, -5.0, float("nan"), float("inf")])
def test_hold_open_needs_a_finite_positive_limit(factory: MockFactory, seconds: float) -> None:
    with make_door(factory, Recorder()) as door:
        with pytest.raises(DoorError):
            door.set_mode(DoorMode.HOLD_OPEN, seconds=seconds)
        assert door.mode is DoorMode.NORMAL
        assert factory.pin(RELAY).state is False


def test_door_left_open_after_hold_open_ends_raises_held_open(factory: MockFactory) -> None:
    recorder = Recorder()
    with make_door(factory, recorder) as door:
        door.set_mode(DoorMode.HOLD_OPEN, seconds=0.1, actor="guard1")
        factory.pin(CONTACT).drive_high()  # people walk through and leave it open
        recorder.wait_for(DoorEventKind.OPENED)
        # Hold-open ended 0.1 s in; 0.2 s later: the alert.
        held = recorder.wait_for(DoorEventKind.HELD_OPEN)
        assert held.alert is True and door.mode is DoorMode.NORMAL
        assert factory.pin(RELAY).state is False


def test_exit_button_releases(factory: MockFactory) -> None:
    recorder = Recorder()
    with make_door(factory, recorder):
        factory.pin(BUTTON).drive_low()
        recorder.wait_for(DoorEventKind.EXIT_REQUEST)
        assert factory.pin(RELAY).state is True


def test_door_opened_while_locked_is_forced(factory: MockFactory) -> None:
    recorder = Recorder()
    with make_door(factory, recorder):
        factory.pin(CONTACT).drive_high()
        event = recorder.wait_for(DoorEventKind.FORCED)
        assert event.alert is True


def test_door_opened_after_grant_is_not_forced_but_held_open_alerts(
        factory: MockFactory) -> None:
    recorder = Recorder()
    with make_door(factory, recorder) as door:
        door.release()
        factory.pin(CONTACT).drive_high()
        recorder.wait_for(DoorEventKind.OPENED)
        held = recorder.wait_for(DoorEventKind.HELD_OPEN)
        assert held.alert is True
        assert DoorEventKind.FORCED not in recorder.kinds()
        factory.pin(CONTACT).drive_low()
        recorder.wait_for(DoorEventKind.CLOSED)


def test_closing_in_time_raises_no_held_open_alert(factory: MockFactory) -> None:
    recorder = Recorder()
    with make_door(factory, recorder) as door:
        door.release()
        factory.pin(CONTACT).drive_high()
        factory.pin(CONTACT).drive_low()
        time.sleep(0.35)
        assert DoorEventKind.HELD_OPEN not in recorder.kinds()


def test_same_pin_twice_is_a_clear_error(factory: MockFactory) -> None:
    with make_door(factory, Recorder()), pytest.raises(DoorError, match="GPIO 17"):
        Door(RELAY, pin_factory=factory)

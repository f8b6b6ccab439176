"""The reader's lamps and buzzer on gpiozero's MockFactory: each pattern's pins and timing.

MockPin records every change with the time since the one before; the tests turn that into a
timeline from the moment the pins were cleared and allow generous margins (timers on a busy
machine run late), printing what they measured.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from gpiozero.pins.mock import MockFactory

from gate.errors import SignalError
from gate.signals import Lamp, Pattern, Patterns, Shown, SignalLights
from gate.vocabulary import DoorMode

GREEN, RED, AMBER, BUZZER = 5, 6, 13, 19
LATE = 0.15  # how late a timer may run on a busy machine


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    factory = MockFactory()
    yield factory
    factory.reset()


def timeline(factory: MockFactory, pin: int) -> list[tuple[float, bool]]:
    """(seconds since the pins were cleared, state) of every change of `pin`."""
    t, out = 0.0, []
    for state in factory.pin(pin).states:
        t += state.timestamp
        out.append((t, bool(state.state)))
    return out


def clear(factory: MockFactory, *pins: int) -> None:
    for pin in pins:
        factory.pin(pin).clear_states()


def lights(factory: MockFactory, **kw: object) -> SignalLights:
    pins: dict[str, object] = {"green_pin": GREEN, "red_pin": RED, "amber_pin": AMBER,
                               "buzzer_pin": BUZZER}
    pins.update(kw)
    return SignalLights(pin_factory=factory, name="out-cam", **pins)  # type: ignore[arg-type]


def test_every_output_is_off_at_start_and_after_close_active_high_or_low(
        factory: MockFactory) -> None:
    with lights(factory, open_seconds=0.3) as high:
        assert [factory.pin(p).state for p in (GREEN, RED, AMBER, BUZZER)] == [False] * 4
        high.set_mode(DoorMode.LOCKDOWN)
        assert factory.pin(RED).state is True
    assert factory.pin(RED).state is False, "closing drives the lamp off"
    # Active-low wiring: off is a high pin, from the first moment to the last.
    with lights(factory, green_pin=20, red_pin=21, amber_pin=None, buzzer_pin=26,
                active_high=False, buzzer_active_high=False) as low:
        assert [factory.pin(p).state for p in (20, 21, 26)] == [True] * 3
        # The first state is the unconfigured input's; once driven, the pin never went low.
        assert [s.state for s in factory.pin(21).states][1:] == [True], "never pulsed on"
        low.outcome(granted=False)
        assert factory.pin(21).state is False and factory.pin(26).state is False  # lit, beeping
    assert [factory.pin(p).state for p in (20, 21, 26)] == [True] * 3


def test_granted_green_for_the_door_open_time_and_one_short_beep(factory: MockFactory) -> None:
    with lights(factory, open_seconds=0.4) as signals:
        clear(factory, GREEN, RED, AMBER, BUZZER)
        signals.outcome(granted=True)
        assert signals.shown is Shown.GRANTED
        time.sleep(0.4 + LATE + 0.2)
        green, buzzer = timeline(factory, GREEN), timeline(factory, BUZZER)
        print(f"\ngreen {green}\nbuzzer {buzzer}")
        assert [s for _, s in green] == [False, True, False]
        assert green[1][0] < 0.05, "the lamp comes on at once"
        assert 0.4 <= green[2][0] - green[1][0] < 0.4 + LATE
        assert [s for _, s in buzzer] == [False, True, False]  # one beep
        assert 0.15 <= buzzer[2][0] - buzzer[1][0] < 0.15 + LATE
        assert timeline(factory, RED) == [(0.0, False)] and timeline(factory, AMBER) == [(0.0,
                                                                                         False)]
        assert signals.shown is Shown.IDLE


def test_denied_red_with_three_beeps(factory: MockFactory) -> None:
    patterns = Patterns(denied=Pattern(Lamp.RED, beeps=3, beep_s=0.1, gap_s=0.1, seconds=0.9))
    with lights(factory, patterns=patterns) as signals:
        clear(factory, GREEN, RED, BUZZER)
        signals.outcome(granted=False)
        time.sleep(0.9 + LATE + 0.2)
        red, buzzer = timeline(factory, RED), timeline(factory, BUZZER)
        print(f"\nred {red}\nbuzzer {buzzer}")
        assert [s for _, s in red] == [False, True, False]
        assert 0.9 <= red[2][0] - red[1][0] < 0.9 + LATE
        assert [s for _, s in buzzer] == [False, True, False, True, False, True, False]
        on = [buzzer[i + 1][0] - buzzer[i][0] for i in (1, 3, 5)]
        gaps = [buzzer[i + 1][0] - buzzer[i][0] for i in (2, 4)]
        assert all(0.1 <= d < 0.1 + LATE for d in on + gaps), (on, gaps)
        assert timeline(factory, GREEN) == [(0.0, False)]


def test_lockdown_is_steady_red_and_a_denial_in_it_keeps_it_red(factory: MockFactory) -> None:
    patterns = Patterns(denied=Pattern(Lamp.RED, beeps=2, beep_s=0.05, gap_s=0.05, seconds=0.3))
    with lights(factory, patterns=patterns) as signals:
        clear(factory, GREEN, RED, BUZZER)
        signals.set_mode(DoorMode.LOCKDOWN)
        assert signals.shown is Shown.LOCKDOWN
        time.sleep(0.5)
        assert [s for _, s in timeline(factory, RED)] == [False, True], "steady, no blinking"
        signals.outcome(granted=False)
        time.sleep(0.3 + LATE + 0.1)
        # The red lamp stays lit through the denial and after it; the buzzer beeps twice.
        assert [s for _, s in timeline(factory, RED)] == [False, True]
        assert [s for _, s in timeline(factory, BUZZER)] == [False, True, False, True, False]
        assert signals.shown is Shown.LOCKDOWN
        signals.set_mode(DoorMode.NORMAL)
        assert factory.pin(RED).state is False and signals.shown is Shown.IDLE
        assert timeline(factory, GREEN) == [(0.0, False)]


def test_waiting_for_a_face_blinks_amber_until_the_pass_is_decided(
        factory: MockFactory) -> None:
    with lights(factory, open_seconds=0.3) as signals:
        clear(factory, GREEN, RED, AMBER)
        signals.set_waiting(True)
        time.sleep(1.1)
        amber = timeline(factory, AMBER)
        print(f"\namber {amber}")
        assert [s for _, s in amber[:5]] == [False, True, False, True, False]
        halves = [b[0] - a[0] for a, b in zip(amber[1:], amber[2:], strict=False)]
        assert len(halves) >= 3 and all(0.25 <= h < 0.25 + LATE for h in halves), halves
        assert timeline(factory, GREEN) == [(0.0, False)]
        signals.outcome(granted=True)  # the face matched: green, amber off at once
        assert factory.pin(AMBER).state is False and factory.pin(GREEN).state is True
        assert signals.shown is Shown.GRANTED
        time.sleep(0.3 + LATE + 0.1)
        assert signals.shown is Shown.IDLE and factory.pin(GREEN).state is False


def test_without_an_amber_lamp_amber_is_green_and_red_together(factory: MockFactory) -> None:
    with lights(factory, amber_pin=None) as signals:
        clear(factory, GREEN, RED)
        signals.set_waiting(True)
        time.sleep(0.8)
        signals.set_waiting(False)
        green, red = timeline(factory, GREEN), timeline(factory, RED)
        assert [s for _, s in green[:4]] == [s for _, s in red[:4]] == [False, True, False, True]
        assert all(abs(g[0] - r[0]) < 0.05 for g, r in zip(green, red, strict=False))
        assert factory.pin(GREEN).state is False and factory.pin(RED).state is False
        assert signals.shown is Shown.IDLE


def test_hold_open_is_green_and_the_newest_outcome_wins(factory: MockFactory) -> None:
    patterns = Patterns(denied=Pattern(Lamp.RED, seconds=0.4),
                        granted=Pattern(Lamp.GREEN, seconds=0.6))
    with lights(factory, patterns=patterns) as signals:
        signals.set_mode(DoorMode.HOLD_OPEN)
        assert factory.pin(GREEN).state is True and signals.shown is Shown.HOLD_OPEN
        signals.set_mode(DoorMode.NORMAL)
        clear(factory, GREEN, RED)
        signals.outcome(granted=False)
        time.sleep(0.2)
        signals.outcome(granted=True)  # the next person: red goes, green comes
        assert factory.pin(RED).state is False and factory.pin(GREEN).state is True
        time.sleep(0.3)  # the first outcome's time is up; it must not end the second's
        assert factory.pin(GREEN).state is True and signals.shown is Shown.GRANTED
        time.sleep(0.3 + LATE)
        assert factory.pin(GREEN).state is False and signals.shown is Shown.IDLE


def test_a_pin_in_use_is_a_clear_error_and_leaves_nothing_driven(factory: MockFactory) -> None:
    with lights(factory) as first, pytest.raises(SignalError, match="cannot set up the lamps"):
        lights(factory, green_pin=21, red_pin=22, amber_pin=None, buzzer_pin=BUZZER)
    assert first.shown is Shown.IDLE
    assert factory.pin(21).state is False and factory.pin(22).state is False
    # The pins of the failed lights were released: they can be set up again.
    with lights(factory, green_pin=21, red_pin=22, amber_pin=None, buzzer_pin=None) as again:
        again.outcome(granted=True)
        assert factory.pin(21).state is True

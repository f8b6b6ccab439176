"""The lamps and the buzzer a reader answers the person at the door with, on gpiozero.

Per reader, each optional: a green, a red and an amber lamp (a stack light; without an amber
lamp, amber is green and red together, as an RGB LED mixes it) and a buzzer. An outcome shows
its pattern for a while (a grant for the door's open time), then the lamps fall back to what
the reader is in: waiting for a face (amber, blinking), its door in lockdown (steady red) or
held open (green), else dark. The newest thing wins: a new outcome or a pass that starts
waiting ends the pattern on show. Patterns are data (`Patterns`, set in the config file).

Every output is driven off when the lights are built and when they close, like the relay.
gpiozero devices take `pin_factory`, so tests drive real gpiozero code on its MockFactory.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from gpiozero import LED, Buzzer

from gate.errors import SignalError
from gate.vocabulary import DoorMode, Lamp

log = logging.getLogger(__name__)


class Shown(StrEnum):
    """What the lights show now (the pattern's name)."""

    GRANTED = "granted"
    DENIED = "denied"
    WAITING = "waiting"
    LOCKDOWN = "lockdown"
    HOLD_OPEN = "hold_open"
    IDLE = "idle"


@dataclass(frozen=True)
class Pattern:
    """A lamp, steady or blinking, and beeps when the pattern starts."""

    lamp: Lamp = Lamp.NONE
    blink_hz: float = 0.0  # 0: steady
    beeps: int = 0
    beep_s: float = 0.1
    gap_s: float = 0.1
    seconds: float = 0.0  # how long an outcome shows; 0: the door's open time (unused by states)


@dataclass(frozen=True)
class Patterns:
    """The pattern of each outcome and each state; the defaults are the config's."""

    granted: Pattern = Pattern(Lamp.GREEN, beeps=1, beep_s=0.15)
    denied: Pattern = Pattern(Lamp.RED, beeps=3, beep_s=0.1, gap_s=0.1, seconds=3.0)
    waiting: Pattern = Pattern(Lamp.AMBER, blink_hz=2.0)
    lockdown: Pattern = Pattern(Lamp.RED)
    hold_open: Pattern = Pattern(Lamp.GREEN)
    idle: Pattern = Pattern(Lamp.NONE)

    def of(self, shown: Shown) -> Pattern:
        """The pattern of what is shown."""
        pattern: Pattern = getattr(self, shown.value)
        return pattern


class SignalLights:
    """One reader's lamps and buzzer; thread-safe (readers, doors and timers call in)."""

    def __init__(self, *, green_pin: int | None = None, red_pin: int | None = None,
                 amber_pin: int | None = None, buzzer_pin: int | None = None,
                 active_high: bool = True, buzzer_active_high: bool = True,
                 patterns: Patterns | None = None, open_seconds: float = 3.0,
                 pin_factory: Any = None, name: str = "") -> None:
        self.name = name
        self.patterns = patterns or Patterns()
        self.open_seconds = open_seconds
        self._lock = threading.RLock()
        self._devices: list[Any] = []
        self._mode = DoorMode.NORMAL
        self._waiting = False
        self._flash: Shown | None = None  # the outcome on show, if any
        self._generation = 0  # a flash's timer ends only its own flash
        self._timer: threading.Timer | None = None
        self._shown = Shown.IDLE
        try:
            self.green = self._lamp(green_pin, active_high, pin_factory)
            self.red = self._lamp(red_pin, active_high, pin_factory)
            self.amber = self._lamp(amber_pin, active_high, pin_factory)
            self.buzzer = None
            if buzzer_pin is not None:
                self.buzzer = Buzzer(buzzer_pin, active_high=buzzer_active_high,
                                     initial_value=False, pin_factory=pin_factory)
                self._devices.append(self.buzzer)
        except Exception as exc:  # gpiozero raises many kinds: pin in use, no factory, bad pin
            self.close()
            raise SignalError(f"cannot set up the lamps and buzzer of {name or 'a reader'}: "
                              f"{exc}") from exc

    def _lamp(self, pin: int | None, active_high: bool, factory: Any) -> LED | None:
        if pin is None:
            return None
        lamp = LED(pin, active_high=active_high, initial_value=False, pin_factory=factory)
        self._devices.append(lamp)
        return lamp

    @property
    def shown(self) -> Shown:
        """What the lights show now."""
        return self._shown

    # -- what happens at the reader ----------------------------------------------------------

    def outcome(self, granted: bool) -> None:
        """Show a decided outcome, then fall back to the reader's state."""
        shown = Shown.GRANTED if granted else Shown.DENIED
        pattern = self.patterns.of(shown)
        seconds = pattern.seconds or self.open_seconds
        with self._lock:
            self._cancel_flash()
            self._waiting = False  # the pass that waited has been decided
            self._flash = shown
            self._show(shown, beep=True)
            generation = self._generation
            self._timer = threading.Timer(seconds, self._end_flash, args=(generation,))
            self._timer.daemon = True
            self._timer.start()

    def set_waiting(self, waiting: bool) -> None:
        """A pass waits for its holder's face (True) or no longer does (False)."""
        with self._lock:
            if waiting == self._waiting:
                return
            self._waiting = waiting
            if waiting:
                self._cancel_flash()  # the newest thing at the reader wins
            if self._flash is None:
                self._show(self._state(), beep=waiting)

    def set_mode(self, mode: DoorMode) -> None:
        """The mode of the reader's door (lockdown: steady red, hold-open: green)."""
        with self._lock:
            if mode is self._mode:
                return
            self._mode = mode
            if self._flash is None and not self._waiting:
                self._show(self._state(), beep=True)

    # -- inside -------------------------------------------------------------------------------

    def _state(self) -> Shown:
        if self._waiting:
            return Shown.WAITING
        if self._mode is DoorMode.LOCKDOWN:
            return Shown.LOCKDOWN
        if self._mode is DoorMode.HOLD_OPEN:
            return Shown.HOLD_OPEN
        return Shown.IDLE

    def _end_flash(self, generation: int) -> None:
        with self._lock:
            if generation != self._generation or self._flash is None:
                return
            self._flash = None
            self._show(self._state(), beep=False)

    def _cancel_flash(self) -> None:
        self._generation += 1
        self._flash = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _lit(self, lamp: Lamp) -> list[LED]:
        if lamp is Lamp.AMBER and self.amber is None:
            wanted = [self.green, self.red]  # an RGB lamp mixes amber from the two
        else:
            wanted = [{Lamp.GREEN: self.green, Lamp.RED: self.red,
                       Lamp.AMBER: self.amber}.get(lamp)]
        return [device for device in wanted if device is not None]

    def _show(self, shown: Shown, *, beep: bool) -> None:
        pattern = self.patterns.of(shown)
        lit = self._lit(pattern.lamp)
        if self._devices:  # none once closed
            for lamp in (self.green, self.red, self.amber):
                if lamp is not None and lamp not in lit:
                    lamp.off()
            half = 0.5 / pattern.blink_hz if pattern.blink_hz > 0 else 0.0
            for lamp in lit:
                if half:
                    lamp.blink(on_time=half, off_time=half)
                else:
                    lamp.on()
            if self.buzzer is not None:
                if beep and pattern.beeps:
                    self.buzzer.beep(on_time=pattern.beep_s, off_time=pattern.gap_s,
                                     n=pattern.beeps)
                else:
                    self.buzzer.off()
        self._shown = shown
        log.debug("signals %s: %s", self.name, shown)

    def close(self) -> None:
        """Drive every output off and release the pins."""
        with self._lock:
            self._cancel_flash()
            for device in reversed(self._devices):
                if not device.closed:
                    device.off()
                    device.close()
            self._devices.clear()

    def __enter__(self) -> SignalLights:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

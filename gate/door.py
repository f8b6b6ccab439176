"""The door: a lock relay pulsed on a grant, plus the optional exit button and door contact.

gpiozero devices take `pin_factory`, so tests drive real gpiozero code on its MockFactory.
The relay always returns to locked when the door object starts and when it closes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gpiozero import Button, DigitalInputDevice, DigitalOutputDevice

from gate.clock import Clock, SystemClock
from gate.errors import DoorError
from gate.vocabulary import DoorEventKind
from gate.vocabulary import DoorMode as DoorMode  # re-exported: the door's modes

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DoorEvent:
    """Something the door did or had done to it; `alert` marks the ones guards must hear of."""

    door: str
    kind: DoorEventKind
    detail: str = ""
    actor: str | None = None
    alert: bool = False


DoorListener = Callable[[DoorEvent], None]


class Door:
    """One lock relay with its optional request-to-exit button and door contact."""

    def __init__(
        self,
        relay_pin: int,
        *,
        active_high: bool = True,
        open_seconds: float = 3.0,
        exit_button_pin: int | None = None,
        door_contact_pin: int | None = None,
        contact_open_when_high: bool = True,
        held_open_seconds: float = 30.0,
        clock: Clock | None = None,
        pin_factory: Any = None,
        on_event: DoorListener | None = None,
    ) -> None:
        self.name = f"relay{relay_pin}"
        self.open_seconds = open_seconds
        self.held_open_seconds = held_open_seconds
        self.clock = clock or SystemClock()
        self._listeners: list[DoorListener] = [on_event] if on_event else []
        self._lock = threading.RLock()
        self._mode = DoorMode.NORMAL
        self._relock_timer: threading.Timer | None = None
        self._held_timer: threading.Timer | None = None
        self._mode_timer: threading.Timer | None = None
        self._released_until = 0.0  # monotonic; the door may open without alarm until then
        self._mode_until: float | None = None
        self._devices: list[Any] = []
        try:
            self.relay = DigitalOutputDevice(
                relay_pin, active_high=active_high, initial_value=False, pin_factory=pin_factory
            )
            self._devices.append(self.relay)
            self.exit_button = None
            if exit_button_pin is not None:
                # Request-to-exit buttons are wired to ground with the Pi's pull-up.
                self.exit_button = Button(exit_button_pin, pull_up=True, pin_factory=pin_factory)
                self._devices.append(self.exit_button)
            self.contact = self._input(door_contact_pin, contact_open_when_high, pin_factory)
        except Exception as exc:  # gpiozero raises many kinds: pin in use, no factory, bad pin
            self.close()
            raise DoorError(f"cannot set up the door on GPIO {relay_pin}: {exc}") from exc
        if self.exit_button is not None:
            self.exit_button.when_pressed = lambda: self._exit_requested()
        if self.contact is not None:
            self.contact.when_activated = lambda: self._contact_opened()
            self.contact.when_deactivated = lambda: self._contact_closed()

    def _input(self, pin: int | None, active_high: bool, factory: Any) -> DigitalInputDevice | None:
        if pin is None:
            return None
        device = DigitalInputDevice(pin, pull_up=None, active_state=active_high,
                                    bounce_time=None, pin_factory=factory)
        self._devices.append(device)
        return device

    def add_listener(self, listener: DoorListener) -> None:
        """Hear every door event (journal, alerts, panel)."""
        self._listeners.append(listener)

    @property
    def mode(self) -> DoorMode:
        return self._mode

    @property
    def mode_remaining_s(self) -> float | None:
        """Seconds until hold-open ends by itself; None in other modes."""
        if self._mode_until is None:
            return None
        return max(0.0, self._mode_until - self.clock.monotonic())

    @property
    def is_released(self) -> bool:
        """True while the relay holds the lock released."""
        return bool(self.relay.value)

    @property
    def is_open(self) -> bool | None:
        """The door contact: True open, False closed, None when no contact is wired."""
        return None if self.contact is None else bool(self.contact.value)

    def release(self, seconds: float | None = None, *, reason: str = "grant",
                actor: str | None = None) -> bool:
        """Release the lock for `seconds` (default open_seconds); False in lockdown."""
        seconds = self.open_seconds if seconds is None else seconds
        with self._lock:
            if self._mode is DoorMode.LOCKDOWN:
                self._emit(DoorEventKind.RELEASE_REFUSED, f"lockdown; {reason}", actor)
                return False
            if self._mode is DoorMode.HOLD_OPEN:
                return True
            self._cancel(self._relock_timer)
            self.relay.on()
            self._released_until = self.clock.monotonic() + seconds
            self._relock_timer = self._timer(seconds, self._relock)
        self._emit(DoorEventKind.RELEASED, f"{reason} ({seconds:g} s)", actor)
        return True

    def _relock(self) -> None:
        with self._lock:
            if self._mode is DoorMode.HOLD_OPEN:
                return
            self.relay.off()
        self._emit(DoorEventKind.LOCKED, "relock after release")

    def set_mode(self, mode: DoorMode, *, seconds: float | None = None,
                 actor: str | None = None, reason: str = "") -> None:
        """Switch mode; hold-open needs a time limit and ends by itself."""
        # Checked before any state changes: a refused hold-open must leave the door as it was.
        # hold_for is set exactly when the mode is hold-open (NaN and infinity are refused too).
        hold_for: float | None = None
        if mode is DoorMode.HOLD_OPEN:
            if seconds is None or not 0 < seconds < float("inf"):
                raise DoorError("hold-open needs a positive time limit in seconds")
            hold_for = seconds
        with self._lock:
            self._cancel(self._relock_timer)
            self._cancel(self._mode_timer)
            self._mode = mode
            if hold_for is not None:
                self.relay.on()
                self._released_until = float("inf")
                self._mode_until = self.clock.monotonic() + hold_for
                self._mode_timer = self._timer(hold_for, self._end_hold_open)
            else:
                self.relay.off()
                self._released_until = 0.0
                self._mode_until = None
        detail = f"{mode.value}" + (f" for {seconds:g} s" if seconds else "")
        self._emit(DoorEventKind.MODE, f"{detail}; {reason}".rstrip("; "), actor)

    def _end_hold_open(self) -> None:
        with self._lock:
            if self._mode is not DoorMode.HOLD_OPEN:
                return
            self._mode = DoorMode.NORMAL
            self.relay.off()
            # The door may still be swinging shut; give it the usual open time before alarms.
            self._released_until = self.clock.monotonic() + self.open_seconds
            self._mode_until = None
            if self.is_open:
                # Its held-open check was skipped during hold-open: arm it again from now.
                self._cancel(self._held_timer)
                self._held_timer = self._timer(self.held_open_seconds, self._check_held_open)
        self._emit(DoorEventKind.MODE, "normal; hold-open time limit reached")

    def _exit_requested(self) -> None:
        self._emit(DoorEventKind.EXIT_REQUEST, "request-to-exit button pressed")
        self.release(reason="exit button")

    def _contact_opened(self) -> None:
        if self.clock.monotonic() > self._released_until:
            self._emit(DoorEventKind.FORCED, "door opened while locked", alert=True)
        else:
            self._emit(DoorEventKind.OPENED, "")
        with self._lock:
            self._cancel(self._held_timer)
            self._held_timer = self._timer(self.held_open_seconds, self._check_held_open)

    def _contact_closed(self) -> None:
        with self._lock:
            self._cancel(self._held_timer)
        self._emit(DoorEventKind.CLOSED, "")

    def _check_held_open(self) -> None:
        if self.is_open and self._mode is not DoorMode.HOLD_OPEN:
            self._emit(DoorEventKind.HELD_OPEN, f"open longer than {self.held_open_seconds:g} s",
                       alert=True)

    def _timer(self, seconds: float, action: Callable[[], None]) -> threading.Timer:
        timer = threading.Timer(seconds, action)
        timer.daemon = True
        timer.start()
        return timer

    @staticmethod
    def _cancel(timer: threading.Timer | None) -> None:
        if timer is not None:
            timer.cancel()

    def _emit(self, kind: DoorEventKind, detail: str, actor: str | None = None,
              alert: bool = False) -> None:
        event = DoorEvent(self.name, kind, detail, actor, alert)
        log.info("door %s: %s %s", self.name, kind, detail)
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:  # recording trouble must never leave the door stuck
                log.exception("door listener failed on %s", kind)

    def close(self) -> None:
        """Lock the door and release the pins."""
        with self._lock:
            for timer in (self._relock_timer, self._held_timer, self._mode_timer):
                self._cancel(timer)
            relay = getattr(self, "relay", None)
            if relay is not None and not relay.closed:
                relay.off()
            for device in reversed(self._devices):
                device.close()
            self._devices.clear()

    def __enter__(self) -> Door:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

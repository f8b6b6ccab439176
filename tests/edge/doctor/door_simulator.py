"""The physical side of a door on gpiozero's mock pins: lock wiring, a person, a door closer."""

from __future__ import annotations

import threading
import time

from gpiozero.pins.mock import MockFactory


class DoorSimulator:
    """A lock on the relay's NO or NC terminal and a person who pushes the door whenever the lock
    clicks open; a door closer shuts it when the lock engages. The contact pin reads
    `open_level` while the door is open."""

    def __init__(self, factory: MockFactory, relay_pin: int, contact_pin: int, *,
                 active_high: bool = True, wiring: str = "NO", open_level: bool = True,
                 push: bool = True, delay: float = 0.05) -> None:
        self.relay = factory.pin(relay_pin)
        self.contact = factory.pin(contact_pin)
        self.active_high, self.wiring = active_high, wiring
        self.open_level, self.push, self.delay = open_level, push, delay
        self._set_door(open_=False)
        self._released = self._lock_released()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _lock_released(self) -> bool:
        energised = bool(self.relay.state) == self.active_high
        return energised if self.wiring == "NO" else not energised

    def _set_door(self, *, open_: bool) -> None:
        high = self.open_level if open_ else not self.open_level
        (self.contact.drive_high if high else self.contact.drive_low)()

    def _run(self) -> None:
        while not self._stop.is_set():
            released = self._lock_released()
            if released != self._released:
                self._released = released
                time.sleep(self.delay)  # the person reacts to the click; the closer takes time
                if released and self.push:
                    self._set_door(open_=True)
                elif not released:
                    self._set_door(open_=False)
            time.sleep(0.005)

    def __enter__(self) -> DoorSimulator:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)

"""Relay family: pulse each door relay and, with a door contact, see the door open.

Assuming the door is closed when the test starts, the contact's level at rest is "closed".
If the door opens while the relay is energised, the lock releases on energise: normally-open
wiring, what gridgate expects (locked whenever it is stopped). If it opens only when the relay
switches off again, the lock is released at rest: normally-closed wiring, or an active-low
relay board; either way the door would be unlocked whenever gridgate is not driving it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from edge.doctor.context import DoctorContext
from edge.doctor.findings import Finding, fail, ok, warn

Phase = Literal["rest", "energised", "released"]


@dataclass
class RelayTestResult:
    """What one pulse showed."""

    relay_pin: int
    active_high: bool
    pulse_seconds: float
    followed: bool  # the pin read back energised during the pulse and released after it
    contact_pin: int | None = None
    closed_level: bool | None = None  # the contact's level at rest (door closed)
    steady_at_rest: bool = True
    opened_while: Phase | None = None  # the phase in which the contact first changed
    opened_after_s: float | None = None  # from the start of that phase
    samples: list[tuple[float, Phase, bool | None]] = field(default_factory=list, repr=False)


def self_test(relay_pin: int, *, active_high: bool = True, pulse_seconds: float = 1.0,
              contact_pin: int | None = None, pin_factory: Any = None,
              settle_seconds: float = 0.5, poll_seconds: float = 0.01,
              on_phase: Callable[[Phase], None] | None = None) -> RelayTestResult:
    """Energise the relay for `pulse_seconds` and watch the door contact before, during, after."""
    from gpiozero import DigitalInputDevice, DigitalOutputDevice

    relay = DigitalOutputDevice(relay_pin, active_high=active_high, initial_value=False,
                                pin_factory=pin_factory)
    contact = None
    result = RelayTestResult(relay_pin, active_high, pulse_seconds, followed=False,
                             contact_pin=contact_pin)
    try:
        if contact_pin is not None:
            contact = DigitalInputDevice(contact_pin, pull_up=None, active_state=True,
                                         bounce_time=None, pin_factory=pin_factory)
        started = time.monotonic()

        def watch(phase: Phase, seconds: float) -> None:
            if on_phase is not None:
                on_phase(phase)
            end = time.monotonic() + seconds
            while True:
                level = None if contact is None else bool(contact.value)
                result.samples.append((time.monotonic() - started, phase, level))
                if time.monotonic() >= end:
                    return
                time.sleep(poll_seconds)

        watch("rest", settle_seconds)
        relay.on()
        energised = bool(relay.value)
        watch("energised", pulse_seconds)
        relay.off()
        released = not relay.value
        # As long again: with normally-closed wiring the door opens only now.
        watch("released", max(settle_seconds, pulse_seconds))
        result.followed = energised and released
    finally:
        if not relay.closed:
            relay.off()
        relay.close()
        if contact is not None:
            contact.close()
    _interpret(result)
    return result


def _interpret(result: RelayTestResult) -> None:
    if result.contact_pin is None or not result.samples:
        return
    rest = [level for _, phase, level in result.samples if phase == "rest"]
    result.closed_level = rest[0]
    result.steady_at_rest = len(set(rest)) == 1
    starts: dict[str, float] = {}
    for at, phase, level in result.samples:
        starts.setdefault(phase, at)
        if phase != "rest" and level != result.closed_level:
            result.opened_while = phase
            result.opened_after_s = at - starts[phase]
            return


def _level(high: bool | None) -> str:
    return "high" if high else "low"


def findings_of(result: RelayTestResult, *, contact_open_when_high: bool) -> Iterator[Finding]:
    """Turn one pulse into findings: the relay itself, the lock wiring, the contact polarity."""
    pin = result.relay_pin
    name = f"relay.{pin}"
    level = "high" if result.active_high else "low"
    if not result.followed:
        yield fail(name, f"GPIO {pin} did not follow: it did not read back energised during the "
                   "pulse and released after it", "check that nothing else drives the pin and "
                   "that it is the relay board's input")
        return
    yield ok(name, f"pulsed GPIO {pin} (relay energised on a {level} pin) for "
             f"{result.pulse_seconds:g} s and locked again")
    if result.contact_pin is None:
        yield ok(f"{name}.wiring", "no door contact configured (door.door_contact_pin), so the "
                 "wiring cannot be seen; listen for the relay's click and watch the lock")
        return
    contact = f"the door contact on GPIO {result.contact_pin}"
    if not result.steady_at_rest:
        yield warn(f"{name}.wiring", f"{contact} changed before the pulse: the door was moving",
                   "close the door, keep it closed, and run `gridgate relay test` again")
        return
    if result.opened_while is None:
        yield warn(f"{name}.wiring", f"{contact} did not change: nobody pushed the door, the "
                   f"lock did not release, or the contact is not wired to GPIO "
                   f"{result.contact_pin}",
                   "run `gridgate relay test` at the door and push it when the lock clicks; if "
                   "the door opens and the contact still does not change, check its wiring and "
                   "door.door_contact_pin")
        return
    after = f"{result.opened_after_s:.1f} s"
    if result.opened_while == "energised":
        yield ok(f"{name}.wiring", f"the door opened {after} after the relay was energised: "
                 "the lock releases on energise (normally-open wiring), so it stays locked "
                 "whenever gridgate is stopped")
    else:
        yield fail(f"{name}.wiring", f"the door opened {after} after the relay switched OFF: "
                   "the lock is released at rest, so the door is unlocked whenever gridgate "
                   "is not driving it",
                   "move the lock's wire from the relay's NC terminal to NO; if the relay board "
                   "switches on a low input instead, set door.relay_active_high = "
                   f"{'false' if result.active_high else 'true'}; then run `gridgate relay "
                   "test` again")
    open_level = not result.closed_level
    closed = _level(result.closed_level)
    if open_level == contact_open_when_high:
        yield ok(f"{name}.contact", f"{contact} reads {_level(open_level)} when the door is "
                 f"open and {closed} when closed, as door.contact_open_when_high says")
    else:
        yield fail(f"{name}.contact", f"{contact} reads {closed} with the door closed and "
                   f"{_level(open_level)} when open, but door.contact_open_when_high = "
                   f"{str(contact_open_when_high).lower()}",
                   f"set door.contact_open_when_high = {str(open_level).lower()} (a "
                   f"{'normally-closed' if open_level is False else 'normally-open'} contact)")


def check(context: DoctorContext) -> Iterator[Finding]:
    """Pulse every distinct relay pin; the door contact belongs to the first (as in the gate)."""
    settings = context.settings
    if settings is None:
        return
    if not context.relay_test:
        yield ok("relay", "relay self-test skipped (--no-relay-test)")
        return
    door = settings.door
    pins = list(dict.fromkeys(r.relay_pin for r in settings.readers))
    for index, pin in enumerate(pins):
        contact = door.door_contact_pin if index == 0 else None
        context.say(f"pulsing the door relay on GPIO {pin} for {context.pulse_seconds:g} s: "
                    + ("push the door when it clicks" if contact is not None else
                       "listen for the click and watch the lock"))
        try:
            result = self_test(pin, active_high=door.relay_active_high,
                               pulse_seconds=context.pulse_seconds,
                               contact_pin=contact,
                               pin_factory=context.pin_factory)
        except Exception as exc:  # gpiozero raises many kinds: busy, no factory, bad pin
            yield fail(f"relay.{pin}", f"cannot pulse GPIO {pin}: {exc}",
                       "see the gpio findings; stop the service first if it runs "
                       "(sudo systemctl stop gridgate)")
            continue
        yield from findings_of(result, contact_open_when_high=door.contact_open_when_high)

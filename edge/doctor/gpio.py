"""GPIO family: every pin serves one function, avoids the Pi's special pins, and can be claimed."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

from edge.doctor.context import DoctorContext
from edge.doctor.findings import Finding, fail, ok, warn

# BCM pins with another job on a Raspberry Pi header.
SPECIAL_PINS = {
    0: "the HAT ID EEPROM's data line (ID_SD)",
    1: "the HAT ID EEPROM's clock line (ID_SC)",
    2: "I2C SDA, with a fixed 1.8 kOhm pull-up",
    3: "I2C SCL, with a fixed 1.8 kOhm pull-up",
    14: "the serial console's TX",
    15: "the serial console's RX",
}
USABLE = [p for p in range(28) if p not in SPECIAL_PINS]


def pin_uses(context: DoctorContext) -> list[tuple[str, int]]:
    """Every configured pin with its key, from the settings or, when invalid, the raw TOML."""
    if context.settings is not None:
        return context.settings.pin_uses()
    raw = context.raw or {}
    uses: list[tuple[str, int]] = []
    readers = raw.get("readers")
    if isinstance(readers, list):
        for i, reader in enumerate(readers):
            if isinstance(reader, dict) and isinstance(reader.get("relay_pin"), int):
                uses.append((f"readers[{i}].relay_pin", reader["relay_pin"]))
    door = raw.get("door")
    if isinstance(door, dict):
        for key in ("exit_button_pin", "door_contact_pin"):
            if isinstance(door.get(key), int):
                uses.append((f"door.{key}", door[key]))
    return uses


def conflicts(uses: list[tuple[str, int]]) -> Iterator[Finding]:
    """A pin may be shared only by readers driving the same door relay."""
    by_pin: dict[int, list[str]] = {}
    for where, pin in uses:
        by_pin.setdefault(pin, []).append(where)
    taken = {pin for _, pin in uses}
    free = [p for p in USABLE if p not in taken][:3]
    for pin, users in sorted(by_pin.items()):
        others = [u for u in users if not u.startswith("readers[")]
        if len(users) > 1 and others:
            second = others[-1] if users[0] not in others else users[1]
            yield fail("gpio.pins", f"GPIO {pin} is used by {' and '.join(users)}",
                       f"give {second} its own pin (free pins: "
                       f"{', '.join(f'GPIO {p}' for p in free)}); only readers that open the "
                       "same door may share its relay pin")


def _claim(pin: int, output: bool, active_high: bool, factory: Any) -> None:
    from gpiozero import DigitalInputDevice, DigitalOutputDevice

    with warnings.catch_warnings():  # gpiozero warns of each pin library it cannot load
        warnings.simplefilter("ignore")
        if output:  # claimed at the locked level, so checking never opens the door
            device: Any = DigitalOutputDevice(pin, active_high=active_high, initial_value=False,
                                              pin_factory=factory)
        else:
            device = DigitalInputDevice(pin, pull_up=None, active_state=True,
                                        pin_factory=factory)
    device.close()


def check(context: DoctorContext) -> Iterator[Finding]:
    """Pins: no sharing, no special pins, and each one can be claimed now."""
    uses = pin_uses(context)
    found = list(conflicts(uses))
    yield from found
    for where, pin in uses:
        if pin in SPECIAL_PINS:
            yield warn(f"gpio.{pin}", f"{where} = {pin}: GPIO {pin} is {SPECIAL_PINS[pin]}",
                       f"prefer another pin (e.g. GPIO {USABLE[-1]}) unless the relay board "
                       "is wired there on purpose")
    if context.settings is None:
        return
    active_high = context.settings.door.relay_active_high
    claimed = []
    for pin in sorted({pin for _, pin in uses}):
        where = next(w for w, p in uses if p == pin)
        try:
            _claim(pin, where.startswith("readers["), active_high, context.pin_factory)
        except Exception as exc:  # gpiozero raises many kinds: busy, no factory, bad pin
            yield fail(f"gpio.{pin}", f"cannot use GPIO {pin} ({where}): {exc}",
                       _claim_fix(exc))
            continue
        claimed.append(pin)
    if claimed and not found:
        yield ok("gpio.pins", "pins free and claimed: " + ", ".join(
            f"GPIO {p} ({', '.join(w for w, q in uses if q == p)})" for p in claimed))


def _claim_fix(exc: Exception) -> str:
    text = f"{type(exc).__name__} {exc}".lower()
    if "factory" in text:
        return ("no GPIO here: run on the Raspberry Pi (user gridgate is in group gpio after "
                "install.sh); on a development machine add --mock-gpio")
    if "busy" in text or "in use" in text or "inuse" in text:
        return ("another program holds the pin; if it is the gate service, stop it first: "
                "sudo systemctl stop gridgate")
    if "permission" in text:
        return "add the user to group gpio (install.sh does) and log in again"
    return "check the pin number against the relay board's documentation"

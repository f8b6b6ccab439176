"""`gridgate relay test`: pulse a door relay and, with a door contact, verify the wiring."""

from __future__ import annotations

from pathlib import Path

import click

from edge.cli.doctor import finish
from edge.cli.output import friendly_errors, json_option
from edge.cli.run import mock_pin_factory
from edge.cli.state import config_option, open_settings
from edge.doctor import Finding, Report
from edge.doctor.relay import Phase, findings_of, self_test


@click.group()
def relay() -> None:
    """Door relay tools."""


@relay.command("test")
@config_option
@click.option("--reader", "reader_id", help="The reader whose relay to pulse (default: each).")
@click.option("--seconds", type=click.FloatRange(0.1, 30), default=None,
              help="How long to release the lock [default: door.open_seconds].")
@click.option("--yes", "-y", is_flag=True, help="Do not wait for Enter before each pulse.")
@click.option("--mock-gpio", is_flag=True, help="Use gpiozero's mock pins (no relay is driven).")
@json_option
@friendly_errors
def test(config: Path, reader_id: str | None, seconds: float | None, yes: bool,
         mock_gpio: bool, as_json: bool) -> None:
    """Pulse each door relay; with a door contact, see the door open and tell normally-open
    from normally-closed wiring and the contact's polarity.

    Close the door first and stand by it: push it when the lock clicks. Stop the service
    first (sudo systemctl stop gridgate): it holds the pins. Exits 1 when a check fails.
    """
    settings = open_settings(config)
    door = settings.door
    readers = [r for r in settings.readers if reader_id in (None, r.reader_id)]
    if not readers:
        known = ", ".join(r.reader_id for r in settings.readers)
        raise click.BadParameter(f"no reader {reader_id!r}; readers: {known}",
                                 param_hint="--reader")
    first_pin = settings.readers[0].relay_pin
    pins = list(dict.fromkeys(r.relay_pin for r in readers))
    pulse = seconds or door.open_seconds
    factory = mock_pin_factory() if mock_gpio else None
    findings: list[Finding] = []
    for pin in pins:
        # As in the gate, the door contact belongs to the first door's relay.
        contact = door.door_contact_pin if pin == first_pin else None
        users = ", ".join(r.reader_id for r in settings.readers if r.relay_pin == pin)
        if not as_json:
            click.echo(f"relay on GPIO {pin} ({users}): close the door"
                       + (f"; the door contact is GPIO {contact}" if contact is not None else ""))
            if not yes:
                click.prompt("press Enter to release the lock for "
                             f"{pulse:g} s (push the door when it clicks)", default="",
                             show_default=False, prompt_suffix=" ")

        def announce(phase: Phase) -> None:
            if not as_json and phase != "rest":
                click.echo(f"  {'lock released' if phase == 'energised' else 'lock engaged'}")

        result = self_test(pin, active_high=door.relay_active_high, pulse_seconds=pulse,
                           contact_pin=contact, pin_factory=factory, on_phase=announce)
        findings.extend(findings_of(result, contact_open_when_high=door.contact_open_when_high))
    report = Report(config=str(config), findings=findings)
    finish(report, as_json)

"""The relay self-test on MockFactory pins with a simulated door: wiring and contact polarity."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from gpiozero.pins.mock import MockFactory

from edge.cli.main import cli
from edge.doctor import Status
from edge.doctor.relay import findings_of, self_test
from tests.edge.doctor.door_simulator import DoorSimulator
from tests.edge.installer.support import gate_config, write_config

RELAY, CONTACT = 17, 22
TIMING = {"pulse_seconds": 0.3, "settle_seconds": 0.15}


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    factory = MockFactory()
    yield factory
    factory.reset()


def statuses(findings: list) -> dict[str, Status]:
    return {f.check: f.status for f in findings}


def test_normally_open_wiring_and_the_contact_polarity(factory: MockFactory) -> None:
    with DoorSimulator(factory, RELAY, CONTACT, wiring="NO", open_level=True):
        result = self_test(RELAY, contact_pin=CONTACT, pin_factory=factory, **TIMING)
    assert result.followed and result.closed_level is False
    assert result.opened_while == "energised" and result.opened_after_s < 0.2
    findings = list(findings_of(result, contact_open_when_high=True))
    assert statuses(findings) == {"relay.17": Status.OK, "relay.17.wiring": Status.OK,
                                  "relay.17.contact": Status.OK}
    assert "normally-open wiring" in findings[1].message
    assert factory.pin(RELAY).state is False, "locked at the end"


def test_an_inverted_contact_setting_is_found(factory: MockFactory) -> None:
    with DoorSimulator(factory, RELAY, CONTACT, wiring="NO", open_level=False):
        result = self_test(RELAY, contact_pin=CONTACT, pin_factory=factory, **TIMING)
    [contact] = [f for f in findings_of(result, contact_open_when_high=True)
                 if f.check == "relay.17.contact"]
    assert contact.status is Status.FAIL
    assert "reads high with the door closed and low when open" in contact.message
    assert contact.fix == "set door.contact_open_when_high = false (a normally-closed contact)"


def test_normally_closed_wiring_is_a_failure(factory: MockFactory) -> None:
    with DoorSimulator(factory, RELAY, CONTACT, wiring="NC"):
        result = self_test(RELAY, contact_pin=CONTACT, pin_factory=factory, **TIMING)
    assert result.opened_while == "released"
    [wiring] = [f for f in findings_of(result, contact_open_when_high=True)
                if f.check == "relay.17.wiring"]
    assert wiring.status is Status.FAIL
    assert "after the relay switched OFF" in wiring.message
    assert "from the relay's NC terminal to NO" in wiring.fix
    assert "door.relay_active_high = false" in wiring.fix


def test_an_active_low_board_is_driven_low_to_release(factory: MockFactory) -> None:
    with DoorSimulator(factory, RELAY, CONTACT, active_high=False, wiring="NO"):
        result = self_test(RELAY, active_high=False, contact_pin=CONTACT, pin_factory=factory,
                           **TIMING)
    assert result.opened_while == "energised"
    assert factory.pin(RELAY).state is True, "an active-low relay is locked with the pin high"


def test_nobody_pushes_the_door(factory: MockFactory) -> None:
    with DoorSimulator(factory, RELAY, CONTACT, push=False):
        result = self_test(RELAY, contact_pin=CONTACT, pin_factory=factory, **TIMING)
    [wiring] = [f for f in findings_of(result, contact_open_when_high=True)
                if f.check == "relay.17.wiring"]
    assert wiring.status is Status.WARN and "did not change" in wiring.message
    assert "push it when the lock clicks" in wiring.fix


def test_the_relay_pulse_has_the_asked_length(factory: MockFactory) -> None:
    self_test(RELAY, pin_factory=factory, pulse_seconds=0.3, settle_seconds=0.1)
    # MockPin keeps each state with the seconds since the previous change.
    states = [(s.timestamp, s.state) for s in factory.pin(RELAY).states]
    on = next(i for i, (_, state) in enumerate(states) if state is True)
    released_for, state = states[on + 1]
    assert state is False and released_for == pytest.approx(0.3, abs=0.05)
    assert len(states) == on + 2, "one pulse, then locked"


def test_relay_test_command(tmp_path: Path) -> None:
    config = gate_config(tmp_path, door={"door_contact_pin": CONTACT, "open_seconds": 0.2})
    path = write_config(tmp_path, config)
    result = CliRunner().invoke(cli, ["relay", "test", "--config", str(path), "--mock-gpio",
                                      "--json", "--yes"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    assert {f["check"]: f["status"] for f in report["findings"]} == {
        "relay.17": "ok", "relay.17.wiring": "warn"}

    result = CliRunner().invoke(cli, ["relay", "test", "--config", str(path), "--mock-gpio",
                                      "--seconds", "0.1"], input="\n")
    assert result.exit_code == 0, result.output
    assert "press Enter to release the lock" in result.output and "lock released" in \
        result.output
    result = CliRunner().invoke(cli, ["relay", "test", "--config", str(path), "--mock-gpio",
                                      "--reader", "nope", "--yes"])
    assert result.exit_code == 2 and "no reader 'nope'; readers: in-cam" in result.output

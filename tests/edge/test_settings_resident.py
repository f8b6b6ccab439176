"""Settings of the lamps, the buzzer and the gate display: defaults, and each kind of bad value
named with its key and fix."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from edge.settings import SettingsError, load_settings, parse_settings
from gate.signals import Lamp, Pattern

BASE: dict[str, Any] = {
    "gate": {"gate_id": "gate-east", "compound_id": "wenjiang-01"},
    "readers": [{"reader_id": "in-cam", "direction": "in", "camera": "0", "relay_pin": 17},
                {"reader_id": "out-cam", "direction": "out", "camera": "1", "relay_pin": 18}],
    "passes": {"trust_list": "/etc/gridgate/trust.json"},
}


def with_(**sections: Any) -> dict[str, Any]:
    document = copy.deepcopy(BASE)
    document.update(sections)
    return document


def problems(document: dict[str, Any]) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        parse_settings(document)
    return caught.value.problems


def test_defaults_are_the_issue_s_patterns_and_no_screen() -> None:
    settings = parse_settings(with_())
    patterns = settings.signals.patterns()
    assert patterns.granted == Pattern(Lamp.GREEN, beeps=1, beep_s=0.15, gap_s=0.1, seconds=0)
    assert patterns.denied == Pattern(Lamp.RED, beeps=3, beep_s=0.1, gap_s=0.1, seconds=3.0)
    assert patterns.waiting.lamp is Lamp.AMBER and patterns.waiting.blink_hz == 2.0
    assert patterns.lockdown == Pattern(Lamp.RED) and patterns.hold_open == Pattern(Lamp.GREEN)
    assert settings.signals.readers == [] and settings.display.screens == []
    assert settings.display.voice == ["zh"] and settings.display.masked_name is False


def test_patterns_and_pins_as_an_installer_writes_them() -> None:
    settings = parse_settings(with_(
        signals={"denied": {"lamp": "red", "beeps": 2, "beep_ms": 300, "seconds": 5},
                 "waiting": {"lamp": "green", "blink_hz": 4},
                 "readers": [{"reader_id": "out-cam", "green_pin": 5, "red_pin": 6,
                              "buzzer_pin": 19, "active_high": False}]},
        display={"voice": ["zh", "en"], "screens": [
            {"reader_id": "out-cam", "port": 8091},
            {"reader_id": "in-cam", "host": "0.0.0.0", "port": 8092,
             "allowed_clients": ["192.168.1.50", "10.0.0.0/8"]}]}))
    assert settings.signals.patterns().denied == Pattern(Lamp.RED, beeps=2, beep_s=0.3,
                                                         gap_s=0.1, seconds=5)
    assert settings.signals.readers[0].pins() == [("green_pin", 5), ("red_pin", 6),
                                                  ("buzzer_pin", 19)]
    assert ("signals.readers[0].buzzer_pin", 19) in settings.pin_uses()


@pytest.mark.parametrize(("sections", "expected"), [
    ({"signals": {"readers": [{"reader_id": "out-cam", "red_pin": 18}]}},
     "signals.readers[0].red_pin: GPIO 18 is already used by readers[1].relay_pin"),
    ({"signals": {"readers": [{"reader_id": "in-cam", "red_pin": 6},
                              {"reader_id": "out-cam", "green_pin": 6}]}},
     "signals.readers[1].green_pin: GPIO 6 is already used by signals.readers[0].red_pin"),
    ({"signals": {"readers": [{"reader_id": "side-cam", "red_pin": 6}]}},
     "signals.readers[0].reader_id: no reader 'side-cam'"),
    ({"signals": {"readers": [{"reader_id": "in-cam"}, {"reader_id": "in-cam"}]}},
     "reader 'in-cam' is listed twice"),
    ({"signals": {"readers": [{"reader_id": "in-cam", "red_pin": 28}]}},
     "signals.readers[0].red_pin = 28"),
    ({"signals": {"readers": [{"reader_id": "in-cam", "red_pin": "6"}]}},
     "must be an integer"),
    ({"signals": {"granted": {"lamp": "blue"}}},
     "signals.granted.lamp = 'blue': Input should be 'green', 'red', 'amber' or 'none'"),
    ({"signals": {"waiting": {"blink_hz": 50}}}, "signals.waiting.blink_hz = 50"),
    ({"signals": {"lockdown": {"seconds": 3}}}, "signals.lockdown.seconds"),
    ({"display": {"voice": ["fr"]}}, "display.voice[0] = 'fr'"),
    ({"display": {"voice": "zh"}}, "display.voice = 'zh': must be a list"),
    ({"display": {"screens": [{"reader_id": "in-cam", "host": "0.0.0.0", "port": 8091}]}},
     "needs no login; list the screen's address in allowed_clients"),
    ({"display": {"screens": [{"reader_id": "in-cam", "host": "0.0.0.0", "port": 8091,
                               "allowed_clients": ["the tablet"]}]}},
     "'the tablet' is not an address or network"),
    ({"display": {"screens": [{"reader_id": "in-cam", "port": 8091},
                              {"reader_id": "out-cam", "port": 8091}]}},
     "port 8091 is used by two screens"),
    ({"display": {"screens": [{"reader_id": "in-cam", "port": 8091},
                              {"reader_id": "in-cam", "port": 8092}]}},
     "reader 'in-cam' has two screens"),
    ({"display": {"screens": [{"reader_id": "lobby", "port": 8091}]}},
     "display.screens[0].reader_id: no reader 'lobby'"),
    ({"display": {"screens": [{"reader_id": "in-cam"}]}}, "display.screens[0].port"),
    ({"display": {"screens": [{"reader_id": "in-cam", "port": 8080}]},
      "panel": {"enabled": True}}, "display.screens[0].port: 8080 is the panel's port"),
    ({"display": {"outcome_seconds": 0.5}}, "display.outcome_seconds = 0.5"),
])
def test_each_bad_value_names_its_key_and_the_fix(sections: dict[str, Any],
                                                  expected: str) -> None:
    found = problems(with_(**sections))
    assert any(expected in line for line in found), found


def test_a_relative_prompts_folder_is_taken_from_the_file_s_folder(tmp_path: Path) -> None:
    (tmp_path / "gridgate.toml").write_text(
        '[gate]\ngate_id = "g"\ncompound_id = "c"\n[[readers]]\nreader_id = "in-cam"\n'
        'direction = "in"\ncamera = "0"\nrelay_pin = 17\n[passes]\ntrust_list = "t.json"\n'
        '[display]\nprompts_dir = "voice"\n')
    settings = load_settings(tmp_path / "gridgate.toml")
    assert settings.display.prompts_dir == tmp_path.resolve() / "voice"

"""The configuration tree: a good file loads, each mistake names its key, value and fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.settings import SettingsError, load_settings

GOOD = """
[gate]
gate_id = "gate-east"
compound_id = "wenjiang-01"

[[readers]]
reader_id = "in-cam"
direction = "in"
camera = "0"
relay_pin = 17

[[readers]]
reader_id = "out-cam"
direction = "out"
camera = "clips/out.mp4"
relay_pin = 17

[passes]
trust_list = "trust.json"

[storage]
state_dir = "state"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gridgate.toml"
    path.write_text(text)
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        load_settings(write(tmp_path, text))
    return caught.value.problems


def test_good_file_loads_and_resolves_relative_paths(tmp_path: Path) -> None:
    (tmp_path / "clips").mkdir()
    (tmp_path / "clips" / "out.mp4").write_bytes(b"")
    settings = load_settings(write(tmp_path, GOOD))
    assert settings.passes.trust_list == tmp_path.resolve() / "trust.json"
    assert settings.storage.state_dir == tmp_path.resolve() / "state"
    assert settings.readers[0].camera == "0"
    assert settings.readers[1].camera == str(tmp_path.resolve() / "clips" / "out.mp4")
    assert settings.policy.yellow.exits_per_household == 1


def test_unknown_key_is_named_with_a_fix(tmp_path: Path) -> None:
    text = GOOD.replace('relay_pin = 17\n\n[passes]', 'relay_pin = 17\nrelay_pn = 3\n\n[passes]')
    [problem] = problems(tmp_path, text)
    assert problem.startswith("readers[1].relay_pn = 3")
    assert "spelling" in problem


def test_wrong_value_names_the_key_and_the_bound(tmp_path: Path) -> None:
    [problem] = problems(tmp_path, GOOD.replace('direction = "in"', 'direction = "sideways"'))
    assert problem.startswith("readers[0].direction = 'sideways'")
    assert "'in' or 'out'" in problem


def test_missing_section_is_named(tmp_path: Path) -> None:
    text = GOOD.replace('[passes]\ntrust_list = "trust.json"\n', "")
    [problem] = problems(tmp_path, text)
    assert problem.startswith("passes:") and "add it" in problem


def test_a_pin_used_for_two_functions_is_refused(tmp_path: Path) -> None:
    text = GOOD + "\n[door]\nexit_button_pin = 17\n"
    [problem] = problems(tmp_path, text)
    assert "door.exit_button_pin: GPIO 17 is already used by readers[0].relay_pin" in problem


def test_duplicate_reader_ids_are_refused(tmp_path: Path) -> None:
    [problem] = problems(tmp_path, GOOD.replace('"out-cam"', '"in-cam"'))
    assert "reader_id 'in-cam' is used twice" in problem


def test_bad_policy_values(tmp_path: Path) -> None:
    text = GOOD + '\n[policy]\ntimezone = "Mars/Olympus"\n[policy.yellow]\nexit_window = "8-18"\n'
    found = problems(tmp_path, text)
    assert any(p.startswith("policy.timezone = 'Mars/Olympus'") and "IANA" in p for p in found)
    assert any(p.startswith("policy.yellow.exit_window = '8-18'") and "HH:MM" in p
               for p in found)


def test_not_toml_and_missing_file(tmp_path: Path) -> None:
    [problem] = problems(tmp_path, "[gate\n")
    assert "not valid TOML" in problem
    with pytest.raises(SettingsError, match="gridgate init"):
        load_settings(tmp_path / "absent.toml")

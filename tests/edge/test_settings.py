"""The configuration tree: a good file loads, each mistake names its key, value and fix."""

from __future__ import annotations

import tomllib
import types
import typing
from collections.abc import Iterator
from enum import Enum
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from edge.cli.main import cli
from edge.configdocs import sections, toml_value
from edge.settings import Settings, SettingsError, load_settings, parse_settings
from gate.model import AntiPassback, Colour, Direction, Severity
from tests.gate.passes_support import PLATFORM, trusting

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


FACES_ON = "\n[faces]\nenabled = true\n"


def test_face_rules_follow_faces_enabled_when_unset(tmp_path: Path) -> None:
    off = load_settings(write(tmp_path, GOOD))
    assert off.policy.face_match_required == frozenset()  # nothing claims a face check
    assert off.policy.liveness_required == frozenset()
    on = load_settings(write(tmp_path, GOOD + FACES_ON))
    assert on.policy.face_match_required == {Colour.RED, Colour.YELLOW}
    assert on.policy.liveness_required == frozenset()
    chosen = load_settings(write(tmp_path, GOOD + FACES_ON + '[policy]\n'
                                 'face_match_required = ["green"]\nliveness_required = ["red"]\n'))
    assert chosen.policy.face_match_required == {Colour.GREEN}
    assert chosen.policy.liveness_required == {Colour.RED}
    empty = load_settings(write(tmp_path, GOOD + '[policy]\nface_match_required = []\n'))
    assert empty.policy.face_match_required == frozenset()


@pytest.mark.parametrize("key", ["face_match_required", "liveness_required"])
def test_face_rules_without_faces_are_an_error_naming_both_keys(tmp_path: Path,
                                                                 key: str) -> None:
    [problem] = problems(tmp_path, GOOD + f'[policy]\n{key} = ["yellow", "red"]\n')
    assert problem.startswith(f"policy.{key} = [\"red\", \"yellow\"]: ")
    assert "faces.enabled" in problem and "cannot be enforced" in problem
    assert "set faces.enabled = true" in problem and f"remove policy.{key}" in problem
    # Said the same way by `gridgate config check`, by key path.
    trusting(PLATFORM).save(tmp_path / "trust.json")
    result = CliRunner().invoke(cli, ["config", "check", str(tmp_path / "gridgate.toml")])
    assert result.exit_code == 1
    assert f"  policy.{key} = " in result.output and "(top level)" not in result.output


def test_cross_checks_of_the_whole_file_are_shown_by_key_path(tmp_path: Path) -> None:
    [problem] = problems(tmp_path, GOOD + "\n[door]\nexit_button_pin = 17\n")
    assert problem.startswith("door.exit_button_pin: GPIO 17")


# Wrong types are refused, never converted.
_HEADERS = {"mqtt.webhooks": '[[mqtt.webhooks]]\nname = "chat"\nurl = "https://example.org/hook"'}


def at(section: str, line: str) -> str:
    """GOOD with `line` in `section` (a table GOOD does not have)."""
    return f"{GOOD}\n{_HEADERS.get(section, f'[{section}]')}\n{line}\n"


def swap(old: str, new: str) -> str:
    """GOOD with the first `old` (in [gate], the first reader, [passes] or [storage]) made `new`."""
    assert old in GOOD
    return GOOD.replace(old, new, 1)


WRONG_TYPES = [  # (file, the problem starts with, the problem says)
    (swap("relay_pin = 17", "relay_pin = true"), "readers[0].relay_pin = true",
     "must be an integer"),
    (swap("relay_pin = 17", "relay_pin = 17.0"), "readers[0].relay_pin = 17.0",
     "must be an integer"),
    (swap("relay_pin = 17", 'relay_pin = "17"'), "readers[0].relay_pin = '17'",
     "must be an integer"),
    (swap('camera = "0"', "camera = 0"), "readers[0].camera = 0", 'in quotes: "0"'),
    (swap('camera = "0"', 'camera = "0"\nloop = 1'), "readers[0].loop = 1",
     "must be true or false"),
    (swap('camera = "0"', 'camera = "0"\nfps = "15"'), "readers[0].fps = '15'",
     "must be a number"),
    (swap('camera = "0"', 'camera = "0"\nwidth = 640.5'), "readers[0].width = 640.5",
     "must be an integer"),
    (swap('direction = "in"', "direction = true"), "readers[0].direction = true",
     "'in' or 'out'"),
    (swap('gate_id = "gate-east"', "gate_id = 7"), "gate.gate_id = 7", "must be a string"),
    (swap('compound_id = "wenjiang-01"', 'compound_id = "wenjiang-01"\nname = ["east"]'),
     "gate.name = ['east']", "must be a string"),
    (at("door", 'relay_active_high = "off"'), "door.relay_active_high = 'off'",
     "must be true or false"),
    (at("door", 'open_seconds = "5"'), "door.open_seconds = '5'", "must be a number"),
    (at("door", "open_seconds = true"), "door.open_seconds = true", "must be a number"),
    (at("door", "open_seconds = nan"), "door.open_seconds = nan", "finite number"),
    (at("door", "exit_button_pin = true"), "door.exit_button_pin = true", "must be an integer"),
    (at("door", "door_contact_pin = 22.0"), "door.door_contact_pin = 22.0",
     "must be an integer"),
    (swap('state_dir = "state"', "state_dir = 5"), "storage.state_dir = 5", "must be a path"),
    (swap('state_dir = "state"', 'state_dir = "state"\nsnapshot_days = 7.5'),
     "storage.snapshot_days = 7.5", "must be an integer"),
    (swap('trust_list = "trust.json"', 'trust_list = ["trust.json"]'),
     "passes.trust_list = ['trust.json']", "must be a path"),
    (swap('trust_list = "trust.json"', 'trust_list = "trust.json"\nrevocations = true'),
     "passes.revocations = true", "must be a path"),
    (at("vision", 'qr_decoder = ["zxing"]'), "vision.qr_decoder = ['zxing']",
     "must be a string"),
    (at("vision", 'repeat_seconds = "3"'), "vision.repeat_seconds = '3'", "must be a number"),
    (at("policy", 'red_entry_alert = "no"'), "policy.red_entry_alert = 'no'",
     "must be true or false"),
    (at("policy", "version = 3"), "policy.version = 3", 'in quotes: "3"'),
    (at("policy", 'face_match_required = "red"'), "policy.face_match_required = 'red'",
     "must be a list"),
    (at("policy", "liveness_required = [1]"), "policy.liveness_required = [1]",
     "'green', 'yellow', 'red' or 'white'"),
    (at("policy.yellow", "exits_per_household = true"),
     "policy.yellow.exits_per_household = true", "must be an integer"),
    (at("policy.yellow", 'period_days = "2"'), "policy.yellow.period_days = '2'",
     "must be an integer"),
    (at("policy.yellow", "period_anchor = 2026-03-11"),
     "policy.yellow.period_anchor = 2026-03-11", 'in quotes: "2026-03-11"'),
    (at("policy.yellow", "exit_window = 08:00:00"), "policy.yellow.exit_window = 08:00:00",
     "must be a string"),
    (at("policy.anti_passback", 'reset_hours = "24"'), "policy.anti_passback.reset_hours = '24'",
     "must be a number"),
    (at("faces", 'enabled = "yes"'), "faces.enabled = 'yes'", "must be true or false"),
    (at("faces", "votes = 2.0"), "faces.votes = 2.0", "must be an integer"),
    (at("faces", 'tolerance = "0.6"'), "faces.tolerance = '0.6'", "must be a number"),
    (at("faces.liveness", "window_s = false"), "faces.liveness.window_s = false",
     "must be a number"),
    (at("mqtt", 'port = "1883"'), "mqtt.port = '1883'", "must be an integer"),
    (at("mqtt", 'tls = "true"'), "mqtt.tls = 'true'", "must be true or false"),
    (at("mqtt", "protocol = 5"), "mqtt.protocol = 5", "'auto', '5' or '3.1.1'"),
    (at("mqtt", "ca_file = 1"), "mqtt.ca_file = 1", "must be a path"),
    (at("mqtt.webhooks", 'grids = "grid-7"'), "mqtt.webhooks[0].grids = 'grid-7'",
     "must be a list"),
    (at("mqtt.webhooks", 'timeout_s = "10"'), "mqtt.webhooks[0].timeout_s = '10'",
     "must be a number"),
    (at("panel", "port = 8080.0"), "panel.port = 8080.0", "must be an integer"),
    (at("panel", "enabled = 1"), "panel.enabled = 1", "must be true or false"),
    (at("panel", 'tls_cert = 3\ntls_key = "k.pem"'), "panel.tls_cert = 3", "must be a path"),
    (at("panel", 'session_hours = "12"'), "panel.session_hours = '12'", "must be a number"),
]


@pytest.mark.parametrize(("text", "shown", "says"), WRONG_TYPES,
                         ids=[shown for _, shown, _ in WRONG_TYPES])
def test_a_value_of_the_wrong_type_is_refused_with_its_key_and_type(
        tmp_path: Path, text: str, shown: str, says: str) -> None:
    [problem] = problems(tmp_path, text)
    assert problem.startswith(shown + ": "), problem
    assert says in problem, problem


def test_a_section_that_is_not_a_table_is_refused(tmp_path: Path) -> None:
    [problem] = problems(tmp_path, "door = 3\n" + GOOD)
    assert problem.startswith("door = 3: ") and "must be a table" in problem and "[door]" in problem


def test_natural_toml_forms_are_taken(tmp_path: Path) -> None:
    text = swap('camera = "0"', 'camera = "0"\nfps = 30\nanti_passback = "hard"')
    text = text.replace('trust_list = "trust.json"',
                        'trust_list = "trust.json"\nrevocations = "revoked.txt"')
    text += """
[door]
open_seconds = 5
held_open_seconds = 45.5
exit_button_pin = 27

[vision]
repeat_seconds = 0

[policy]
face_match_required = []

[policy.yellow]
period_anchor = "2026-03-11"
exit_window = "08:00-18:00"

[policy.anti_passback]
reset_hours = 48

[faces.liveness]
window_s = 2

[mqtt]
keepalive_s = 60
reconnect_max_s = 120

[[mqtt.webhooks]]
name = "chat"
url_file = "hook.url"
format = "work_chat"
min_severity = "urgent"
grids = ["grid-7"]
timeout_s = 5

[panel]
session_hours = 8
language = "en"
tls = true
tls_cert = "panel.crt"
tls_key = "panel.key"
"""
    settings = load_settings(write(tmp_path, text))
    base = tmp_path.resolve()
    assert settings.door.open_seconds == 5.0 and isinstance(settings.door.open_seconds, float)
    assert settings.readers[0].fps == 30.0 and isinstance(settings.readers[0].fps, float)
    assert settings.readers[0].anti_passback is AntiPassback.HARD
    assert settings.readers[0].direction is Direction.IN
    assert settings.passes.revocations == base / "revoked.txt"
    assert settings.policy.anti_passback.reset_hours == 48.0
    assert isinstance(settings.policy.anti_passback.reset_hours, float)
    assert settings.policy.yellow.exit_window == "08:00-18:00"
    assert settings.faces.liveness.window_s == 2.0
    [hook] = settings.mqtt.webhooks
    assert hook.min_severity is Severity.URGENT and hook.url_file == base / "hook.url"
    assert hook.timeout_s == 5.0
    assert settings.panel.tls_cert == base / "panel.crt" and settings.panel.language == "en"


def test_every_key_takes_its_default_written_as_toml(tmp_path: Path) -> None:
    """Each key set explicitly to its documented default, in the form the docs show it."""
    document = tomllib.loads(GOOD)
    document["mqtt"] = {"webhooks": [{"name": "chat", "url": "https://example.org/hook"}]}
    document["signals"] = {"readers": [{"reader_id": "in-cam", "green_pin": 5}]}
    document["display"] = {"screens": [{"reader_id": "in-cam", "port": 8090}]}
    for section in sections():
        if section.path == "readers":
            tables = document["readers"]
        elif section.path in ("mqtt.webhooks", "signals.readers", "display.screens"):
            outer, inner = section.path.split(".")
            tables = document[outer][inner]
        else:
            table = document
            for part in section.path.split("."):
                table = table.setdefault(part, {})
            tables = [table]
        for key in section.keys:
            if key.default is not None:
                value = tomllib.loads(f"v = {toml_value(key.default)}")["v"]
                for table in tables:
                    table[key.name] = value
    settings = parse_settings(document)
    assert settings.readers[0].fps == 15.0 and settings.policy.face_match_required == frozenset()


def _fields(model: type[BaseModel], path: str = "") -> Iterator[tuple[str, FieldInfo]]:
    for name, info in model.model_fields.items():
        key = f"{path}.{name}" if path else name
        yield key, info
        for inner in typing.get_args(info.annotation) or (info.annotation,):
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                yield from _fields(inner, key)


def test_only_paths_and_named_choices_are_taken_from_strings() -> None:
    """Strict everywhere, but TOML writes paths and choices as strings: those fields say so."""
    lax = []
    for key, info in _fields(Settings):
        kind = info.annotation
        if typing.get_origin(kind) in (typing.Union, types.UnionType):  # X | None
            [kind] = [a for a in typing.get_args(kind) if a is not type(None)]
        from_string = isinstance(kind, type) and issubclass(kind, Path | Enum)
        is_lax = any(getattr(m, "strict", None) is False for m in info.metadata)
        assert is_lax == from_string, key
        lax += [key] if is_lax else []
    assert "readers.direction" in lax and "passes.trust_list" in lax and "mqtt.ca_file" in lax
    # Colour lists take names too, checked by the policy itself (also for platform documents).
    assert parse_settings({**tomllib.loads(GOOD), "faces": {"enabled": True},
                           "policy": {"liveness_required": ["red"]}}
                          ).policy.liveness_required == {Colour.RED}


def test_static_pass_rules_name_colours_and_say_which_key_is_wrong(tmp_path: Path) -> None:
    text = GOOD + '\n[policy.static_passes]\naccepted = ["green", "blue"]\n'
    [problem] = problems(tmp_path, text)
    assert problem.startswith("policy.static_passes.accepted") and "'yellow'" in problem
    for value in ('"green"', "[1]", "true"):
        assert problems(tmp_path, GOOD + f"\n[policy.static_passes]\nface_match_required = "
                        f"{value}\n")
    ok = tmp_path / "ok.toml"
    ok.write_text(GOOD + '\n[policy.static_passes]\naccepted = ["green", "white"]\n'
                  'face_match_required = ["green"]\n', encoding="utf-8")
    rules = load_settings(ok).policy.static_passes
    assert rules.accepted == {Colour.GREEN, Colour.WHITE}
    assert rules.face_match_required == {Colour.GREEN}

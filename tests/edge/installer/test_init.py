"""`gridgate init`: questions with defaults or flags, validation as it goes, never a silent
overwrite."""

from __future__ import annotations

import tomllib
from pathlib import Path

from click.testing import CliRunner

from edge.cli.main import cli
from edge.config_guard import check_config
from edge.settings import load_settings
from gate.passes import write_key_pair


def test_scripted_install_from_flags(tmp_path: Path) -> None:
    write_key_pair(tmp_path / "keys")
    target = tmp_path / "etc" / "gridgate.toml"
    result = CliRunner().invoke(cli, [
        "init", "--config", str(target), "--yes", "--gate-id", "gate-east",
        "--compound-id", "wenjiang-01", "--camera", "0", "--relay-pin", "23",
        "--out-camera", "rtsp://10.0.0.5/stream", "--door-contact-pin", "22",
        "--relay-active-low", "--trust-list", str(tmp_path / "keys/signing.pub"),
        "--state-dir", str(tmp_path / "state"), "--mqtt-host", "broker.example.org",
        "--set", "readers[0].fps=10", "--set", "mqtt.keepalive_s=60",
    ])
    assert result.exit_code == 0, result.output
    assert f"wrote {target} (gate gate-east, 2 reader(s))" in result.output
    settings = check_config(target)
    assert [(r.reader_id, r.direction.value, r.camera, r.relay_pin) for r in settings.readers] \
        == [("in-cam", "in", "0", 23), ("out-cam", "out", "rtsp://10.0.0.5/stream", 23)]
    assert settings.readers[0].fps == 10
    assert settings.door.relay_active_high is False and settings.door.door_contact_pin == 22
    assert settings.mqtt.enabled and settings.mqtt.tls and settings.mqtt.effective_port == 8883
    assert settings.mqtt.username == "gate-east" and settings.mqtt.keepalive_s == 60
    # No password file there yet: none is named (the gate could not log in with it); said so.
    assert settings.mqtt.password_file is None
    assert f"note: {target.parent / 'mqtt.password'} does not exist" in result.output
    assert oct(target.stat().st_mode & 0o777) == "0o640"
    assert target.read_text().startswith("# gridgate configuration, written by `gridgate init`")


def test_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    target = tmp_path / "gridgate.toml"
    target.write_text("# keep me\n")
    args = ["init", "--config", str(target), "--yes", "--compound-id", "c-1"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1 and "pass --force to overwrite" in result.output
    assert target.read_text() == "# keep me\n"
    result = CliRunner().invoke(cli, [*args, "--force"])
    assert result.exit_code == 0, result.output
    assert tomllib.loads(target.read_text())["gate"]["compound_id"] == "c-1"
    assert "does not exist yet" in result.output, "a missing trust list is pointed out"


def test_questions_validate_each_answer_and_ask_again(tmp_path: Path) -> None:
    target = tmp_path / "gridgate.toml"
    answers = [
        "bad id!", "gate-west",  # gate id: refused, then accepted
        "wenjiang-01",           # compound
        "",                      # name: none
        "",                      # camera: default 0
        "40", "18",              # relay pin: out of range, then fine
        "2",                     # camera of the way out
        "",                      # its relay: default, the same door
        "n",                     # the relay board is active-low
        "18", "27",              # exit button: taken by the relay, then fine
        "",                      # no door contact
        "",                      # trust list: default
        str(tmp_path / "state"),
        "",                      # no broker
    ]
    result = CliRunner().invoke(cli, ["init", "--config", str(target)],
                                input="\n".join(answers) + "\n")
    assert result.exit_code == 0, result.output
    # Answers in words, never a regular expression or pydantic's phrasing.
    assert "use 1 to 64 letters, digits, '_', '.' or '-'" in result.output
    assert "must be 27 or less" in result.output
    assert "pattern" not in result.output and "^[" not in result.output
    assert "GPIO 18 is already used by readers[0].relay_pin" in result.output
    settings = load_settings(target)
    assert settings.gate.gate_id == "gate-west"
    assert [r.relay_pin for r in settings.readers] == [18, 18]
    assert settings.readers[1].camera == "2"
    assert settings.door.exit_button_pin == 27 and settings.door.relay_active_high is False
    assert settings.passes.trust_list == tmp_path / "trust.json"
    assert not settings.mqtt.enabled


def test_scripted_mistakes_are_named_and_nothing_is_written(tmp_path: Path) -> None:
    target = tmp_path / "gridgate.toml"
    result = CliRunner().invoke(cli, ["init", "--config", str(target), "--yes"])
    assert result.exit_code == 2 and "--compound-id is required with --yes" in result.output
    result = CliRunner().invoke(cli, ["init", "--config", str(target), "--yes",
                                      "--compound-id", "c", "--relay-pin", "99"])
    assert result.exit_code == 2 and "--relay-pin" in result.output
    result = CliRunner().invoke(cli, ["init", "--config", str(target), "--yes",
                                      "--compound-id", "c", "--set", "door.open_secs=4"])
    assert result.exit_code == 2
    assert "door.open_secs = 4: remove it or check its spelling" in result.output
    assert not target.exists()


def test_an_existing_password_file_is_named_and_a_new_one_is_written(tmp_path: Path) -> None:
    write_key_pair(tmp_path / "keys")
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "broker.pw").write_text("s3cret\n")
    base = ["init", "--yes", "--compound-id", "wenjiang-01", "--trust-list",
            str(tmp_path / "keys/signing.pub"), "--state-dir", str(tmp_path / "state"),
            "--mqtt-host", "broker.example.org"]
    target = tmp_path / "etc" / "gridgate.toml"
    result = CliRunner().invoke(cli, [*base, "--config", str(target), "--mqtt-password-file",
                                      str(tmp_path / "etc" / "broker.pw")])
    assert result.exit_code == 0, result.output
    assert load_settings(target).mqtt.password_file == tmp_path / "etc" / "broker.pw"
    assert "note:" not in result.output

    # Interactive: the file is missing, so the password is asked (hidden) and stored.
    other = tmp_path / "other" / "gridgate.toml"
    answers = ["gate-north", "wenjiang-01", "", "", "", "", "y", "", "",
               str(tmp_path / "keys/signing.pub"), str(tmp_path / "state"),
               "broker.example.org", "y", "", "", "", "top-secret"]
    result = CliRunner().invoke(cli, ["init", "--config", str(other)],
                                input="\n".join(answers) + "\n")
    assert result.exit_code == 0, result.output
    stored = other.parent / "mqtt.password"
    assert load_settings(other).mqtt.password_file == stored
    assert stored.read_text() == "top-secret\n"
    assert oct(stored.stat().st_mode & 0o777) == "0o640"
    assert "top-secret" not in result.output

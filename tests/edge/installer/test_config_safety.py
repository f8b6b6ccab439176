"""A bad config never replaces a good one, and never starts a gate with its door unlocked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import tomli_w
from click.testing import CliRunner
from gpiozero.pins.mock import MockFactory

from edge.app import GateApp
from edge.cli.main import cli
from edge.config_guard import install_config, load_for_run, remember_good
from edge.settings import SettingsError, load_settings
from gate.errors import KeyFileError
from tests.edge.installer.notify_listener import NotifyListener
from tests.edge.installer.support import gate_config, short_socket_dir, write_config


def test_check_reports_each_problem_by_key(tmp_path: Path) -> None:
    runner = CliRunner()
    good = write_config(tmp_path, gate_config(tmp_path))
    result = runner.invoke(cli, ["config", "check", str(good)])
    assert result.exit_code == 0, result.output
    assert "valid; gate gate-east of wenjiang-01; readers: in-cam (in, GPIO 17)" in result.output

    config = gate_config(tmp_path)
    config["readers"][0]["relay_pn"] = 4
    config["passes"]["trust_list"] = str(tmp_path / "absent.json")
    bad = write_config(tmp_path, config, "bad.toml")
    result = runner.invoke(cli, ["config", "check", str(bad), "--json"])
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["valid"] is False
    assert report["problems"][0].startswith("readers[0].relay_pn = 4: remove it")

    # Once the keys are right, the files they name are checked too.
    del config["readers"][0]["relay_pn"]
    bad.write_text(tomli_w.dumps(config))
    result = runner.invoke(cli, ["config", "check", str(bad)])
    assert result.exit_code == 1
    assert "passes.trust_list" in result.output and "No such file" in result.output


def test_install_validates_before_replacing_atomically(tmp_path: Path) -> None:
    etc = tmp_path / "etc"
    etc.mkdir()
    target = write_config(etc, gate_config(tmp_path))
    before = target.read_bytes(), target.stat().st_ino

    broken = gate_config(tmp_path)
    broken["door"]["exit_button_pin"] = 17  # the relay's pin
    new = write_config(tmp_path, broken, "new.toml")
    result = CliRunner().invoke(cli, ["config", "install", str(new), "--config", str(target)])
    assert result.exit_code == 2
    assert "door.exit_button_pin: GPIO 17 is already used by readers[0].relay_pin" in \
        result.output
    assert (target.read_bytes(), target.stat().st_ino) == before, "the good file is untouched"
    assert [p.name for p in etc.iterdir()] == ["gridgate.toml"], "no staged copy left behind"

    fixed = gate_config(tmp_path, door={"exit_button_pin": 27})
    new.write_text(tomli_w.dumps(fixed))
    result = CliRunner().invoke(cli, ["config", "install", str(new), "--config", str(target)])
    assert result.exit_code == 0, result.output
    assert target.read_bytes() == new.read_bytes()
    assert target.stat().st_ino != before[1], "replaced by rename, never rewritten in place"
    assert oct(target.stat().st_mode & 0o777) == "0o640"


def test_install_resolves_relative_paths_from_the_target(tmp_path: Path) -> None:
    etc, incoming = tmp_path / "etc", tmp_path / "incoming"
    etc.mkdir()
    incoming.mkdir()
    config = gate_config(tmp_path)
    config["passes"]["trust_list"] = "trust.pub"  # relative: next to the installed file
    new = write_config(incoming, config)
    (incoming / "trust.pub").write_bytes((tmp_path / "keys/signing.pub").read_bytes())
    with pytest.raises(SettingsError, match="passes.trust_list"):
        install_config(new, etc / "gridgate.toml")
    assert not (etc / "gridgate.toml").exists()
    (etc / "trust.pub").write_bytes((tmp_path / "keys/signing.pub").read_bytes())
    settings = install_config(new, etc / "gridgate.toml")
    assert settings.passes.trust_list == (etc / "trust.pub").resolve()


def test_last_good_copy_round_trips_and_takes_over_from_a_broken_file(tmp_path: Path) -> None:
    config_path = write_config(tmp_path, gate_config(tmp_path))
    last_good = tmp_path / "state" / "last-good.toml"
    settings, fallback = load_for_run(config_path, last_good)
    assert not fallback
    assert remember_good(settings, last_good)
    assert load_settings(last_good) == settings

    config_path.write_text(config_path.read_text().replace("[gate]", "[gate]\ngate_idd = 1"))
    again, fallback = load_for_run(config_path, last_good)
    assert fallback and again == settings
    with pytest.raises(SettingsError, match="gate.gate_idd"):
        load_for_run(config_path, None)


def test_the_last_good_copy_keeps_relative_paths_pointing_at_the_same_files(
        tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    config = gate_config(tmp_path, mqtt={"enabled": True, "host": "broker", "username": "g",
                                         "password_file": "mqtt.password"})
    settings = load_settings(write_config(tmp_path / "etc", config))
    last_good = tmp_path / "lib" / "last-good.toml"
    assert remember_good(settings, last_good, base=tmp_path / "etc")
    kept = load_settings(last_good)
    assert kept.mqtt.password_file == tmp_path / "etc" / "mqtt.password"
    assert kept.passes.trust_list == settings.passes.trust_list


def test_relays_are_driven_locked_before_a_bad_trust_list_stops_the_app(tmp_path: Path) -> None:
    config = gate_config(tmp_path, door={"relay_active_high": False})  # locked = pin high
    config["passes"]["trust_list"] = str(tmp_path / "absent.json")
    settings = load_settings(write_config(tmp_path, config))
    factory = MockFactory()
    try:
        with pytest.raises(KeyFileError):
            GateApp(settings, pin_factory=factory)
        pin = factory.pin(17)
        assert [s.state for s in pin.states][-1] is True, "driven to the locked level"
        assert pin.function == "input", "and released on the way out"
    finally:
        factory.reset()


def run_gate(config: Path, *extra: str, env: dict[str, str] | None = None,
             ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge.cli.main", "run", "--mock-gpio", "--config", str(config),
         *extra], capture_output=True, text=True, timeout=60, env=env)


@pytest.mark.slow
def test_the_service_runs_on_the_last_good_config_when_the_file_breaks(tmp_path: Path) -> None:
    config = gate_config(tmp_path)
    config["readers"][0]["loop"] = False  # the 2 s video ends, and so does the run
    path = write_config(tmp_path, config)
    last_good = tmp_path / "lib" / "last-good.toml"
    done = run_gate(path, "--last-good", str(last_good))
    assert done.returncode == 0, done.stderr
    assert last_good.is_file()

    path.write_text(path.read_text().replace("relay_pin = 17", "relay_pin = 99"))
    done = run_gate(path, "--last-good", str(last_good))
    assert done.returncode == 0, done.stderr
    assert "readers[0].relay_pin = 99" in done.stderr
    assert "running on the last good configuration" in done.stderr

    with short_socket_dir() as directory:
        listener = NotifyListener(directory / "notify.sock")
        try:
            env = {**os.environ, "NOTIFY_SOCKET": str(listener.path)}
            env.pop("STATE_DIRECTORY", None)
            done = run_gate(path, env=env)
            listener.wait_for("STATUS", timeout=5)
        finally:
            listener.close()
    assert done.returncode == 2
    assert "readers[0].relay_pin = 99" in done.stderr
    assert any("configuration error, not started" in s for s in listener.statuses())

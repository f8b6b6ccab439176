"""gridgate doctor against a good setup and each classic installer mistake."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from gpiozero.pins.mock import MockFactory

from edge.cli.main import cli
from edge.doctor import DoctorContext, Report, Status, run_doctor
from tests.edge.installer.support import gate_config, write_config
from tests.fixtures.broker import Broker, free_port

FAST = {"pulse_seconds": 0.2, "camera_seconds": 0.6, "broker_timeout": 3.0}


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    factory = MockFactory()
    yield factory
    factory.reset()


def doctor(root: Path, config: dict[str, Any], factory: MockFactory, **options: Any) -> Report:
    options = {"time_synchronised": lambda: True, **FAST, **options}
    context = DoctorContext.load(write_config(root, config), pin_factory=factory, **options)
    return run_doctor(context)


def only(report: Report, check: str) -> Any:
    [finding] = [f for f in report.findings if f.check == check]
    return finding


def mqtt(broker: Broker, **extra: Any) -> dict[str, Any]:
    return {"enabled": True, "host": broker.host, "port": broker.port, **extra}


@pytest.mark.broker
def test_a_good_setup_passes_every_check(tmp_path: Path, factory: MockFactory,
                                         broker: Broker) -> None:
    config = gate_config(tmp_path, mqtt=mqtt(broker))
    report = doctor(tmp_path, config, factory)
    problems = [f for f in report.findings
                if f.status is not Status.OK and not f.check.startswith("system.")]
    assert problems == []
    assert report.passed
    checks = [f.check for f in report.findings]
    for expected in ("config.valid", "gpio.pins", "relay.17", "relay.17.wiring", "camera.in-cam",
                     "vision.qr.zxing", "vision.faces", "trust.list", "broker.reach",
                     "broker.login", "clock.synchronised", "system.disk", "system.memory"):
        assert expected in checks
    assert "delivers 320x240" in only(report, "camera.in-cam").message
    assert "with MQTT 5" in only(report, "broker.login").message
    assert factory.pin(17).state is False, "the relay ends locked"


def test_a_missing_camera(tmp_path: Path, factory: MockFactory) -> None:
    config = gate_config(tmp_path, camera="9")
    finding = only(doctor(tmp_path, config, factory), "camera.in-cam")
    assert finding.status is Status.FAIL
    assert "camera '9' cannot be opened" in finding.message
    assert "/dev/videoN" in finding.fix and "group video" in finding.fix

    config = gate_config(tmp_path, camera=str(tmp_path / "gone.mp4"))
    finding = only(doctor(tmp_path, config, factory), "camera.in-cam")
    assert finding.status is Status.FAIL and "no such video file" in finding.message
    assert "correct readers[0].camera" in finding.fix


def test_a_camera_that_delivers_another_size(tmp_path: Path, factory: MockFactory) -> None:
    config = gate_config(tmp_path)
    config["readers"][0].update(width=640, height=480)
    finding = only(doctor(tmp_path, config, factory), "camera.in-cam")
    assert finding.status is Status.WARN
    assert "delivers 320x240, the config asks 640x480" in finding.message
    assert "readers[0].width = 320 and height = 240" in finding.fix


@pytest.mark.broker
def test_a_wrong_broker_port(tmp_path: Path, factory: MockFactory) -> None:
    config = gate_config(tmp_path, mqtt={"enabled": True, "host": "127.0.0.1",
                                         "port": free_port()})
    report = doctor(tmp_path, config, factory)
    finding = only(report, "broker.reach")
    assert finding.status is Status.FAIL
    assert "(connection refused)" in finding.message
    assert "check mqtt.port" in finding.fix and "1883" in finding.fix and "8883" in finding.fix
    assert not report.by_check("broker.login"), "later steps are not tried"


@pytest.mark.broker
def test_tls_asked_of_a_plain_port(tmp_path: Path, factory: MockFactory,
                                   broker: Broker) -> None:
    config = gate_config(tmp_path, mqtt=mqtt(broker, tls=True))
    finding = only(doctor(tmp_path, config, factory), "broker.tls")
    assert finding.status is Status.FAIL
    assert "mqtt.tls = false" in finding.fix


@pytest.fixture
def password_broker(tmp_path: Path) -> Iterator[Broker]:
    """A broker that wants user gate-east with its password and refuses anonymous clients."""
    tool = shutil.which("mosquitto_passwd")
    if tool is None:
        pytest.skip("mosquitto_passwd is not installed (package mosquitto)")
    # Mosquitto started as root reads its files as user mosquitto: they must be reachable.
    shared = Path(tempfile.mkdtemp(prefix="gg-broker-", dir="/tmp"))
    shared.chmod(0o755)
    passwords = shared / "passwords"
    subprocess.run([tool, "-c", "-b", str(passwords), "gate-east", "s3cret-Pa55"], check=True)
    passwords.chmod(0o644)
    broker = Broker(tmp_path, extra_config=f"allow_anonymous false\npassword_file {passwords}\n")
    try:
        broker.start()
        yield broker
    finally:
        broker.stop()
        shutil.rmtree(shared)


@pytest.mark.broker
def test_bad_credentials(tmp_path: Path, factory: MockFactory, password_broker: Broker) -> None:
    secret = tmp_path / "mqtt.password"
    secret.write_text("s3cret-Pa55\n")
    secret.chmod(0o640)
    settings = mqtt(password_broker, username="gate-east", password_file=str(secret))
    report = doctor(tmp_path, gate_config(tmp_path, mqtt=settings), factory)
    assert only(report, "broker.login").status is Status.OK, "the right password works"

    secret.write_text("wrong-password\n")
    report = doctor(tmp_path, gate_config(tmp_path, mqtt=settings), factory)
    finding = only(report, "broker.login")
    assert finding.status is Status.FAIL
    assert "refused the login as 'gate-east'" in finding.message
    assert "check mqtt.username and the password in mqtt.password_file" in finding.fix

    report = doctor(tmp_path, gate_config(tmp_path, mqtt=mqtt(password_broker)), factory)
    finding = only(report, "broker.login")
    assert finding.status is Status.FAIL and "anonymously" in finding.message
    assert "set mqtt.username and mqtt.password_file" in finding.fix


def test_a_config_with_an_unknown_key(tmp_path: Path, factory: MockFactory) -> None:
    config = gate_config(tmp_path)
    config["readers"][0]["relay_pn"] = 4
    report = doctor(tmp_path, config, factory)
    finding = only(report, "config.valid")
    assert finding.status is Status.FAIL
    assert finding.message == "unknown key readers[0].relay_pn = 4"
    assert finding.fix.startswith("remove it or correct its spelling; known keys here: "
                                  "reader_id, direction, camera")
    assert "relay_pin" in finding.fix
    assert only(report, "config.skipped").status is Status.WARN
    assert not report.by_check("camera") and not report.by_check("relay")
    assert report.by_check("system.disk"), "checks that need no config still run"


def test_a_pin_used_twice(tmp_path: Path, factory: MockFactory) -> None:
    config = gate_config(tmp_path, door={"exit_button_pin": 17})
    report = doctor(tmp_path, config, factory)
    finding = only(report, "gpio.pins")
    assert finding.status is Status.FAIL
    assert finding.message == "GPIO 17 is used by readers[0].relay_pin and door.exit_button_pin"
    assert finding.fix.startswith("give door.exit_button_pin its own pin (free pins: GPIO 4, "
                                  "GPIO 5, GPIO 6)")
    assert any("already used by readers[0].relay_pin" in f.message
               for f in report.by_check("config.valid"))


def test_two_readers_may_share_one_relay(tmp_path: Path, factory: MockFactory) -> None:
    config = gate_config(tmp_path)
    config["readers"].append({**config["readers"][0], "reader_id": "out-cam",
                              "direction": "out"})
    report = doctor(tmp_path, config, factory, relay_test=False)
    assert only(report, "gpio.pins").status is Status.OK


def test_a_special_pin_and_a_busy_pin(tmp_path: Path, factory: MockFactory) -> None:
    config = gate_config(tmp_path, door={"door_contact_pin": 14})
    busy = factory.pin(17)
    from gpiozero import DigitalOutputDevice

    holder = DigitalOutputDevice(17, pin_factory=factory)  # another program holds the relay pin
    try:
        report = doctor(tmp_path, config, factory, relay_test=False)
    finally:
        holder.close()
    assert busy is factory.pin(17)
    special = only(report, "gpio.14")
    assert special.status is Status.WARN and "serial console" in special.message
    held = only(report, "gpio.17")
    assert held.status is Status.FAIL and "sudo systemctl stop gridgate" in held.fix


def test_without_gpio_the_fix_says_where_to_run(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.delenv("GPIOZERO_PIN_FACTORY", raising=False)
    from gpiozero import Device

    if Device.pin_factory is not None:
        pytest.skip("this machine has a default pin factory")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            Device._default_pin_factory()
        except Exception:
            pass
        else:
            pytest.skip("this machine has real GPIO")
    context = DoctorContext.load(write_config(tmp_path, gate_config(tmp_path)),
                                 relay_test=False, **FAST)
    report = run_doctor(context, only=["gpio"])
    finding = only(report, "gpio.17")
    assert finding.status is Status.FAIL and "--mock-gpio" in finding.fix


def test_clock_trust_and_disk_findings(tmp_path: Path, factory: MockFactory) -> None:
    from datetime import UTC, datetime

    from gate.clock import ManualClock

    config = gate_config(tmp_path)
    report = doctor(tmp_path, config, factory, relay_test=False,
                    clock=ManualClock(datetime(1970, 1, 1, 0, 1, tzinfo=UTC)))
    finding = only(report, "clock.synchronised")
    assert finding.status is Status.FAIL and "1970-01-01" in finding.message
    assert "timedatectl set-ntp true" in finding.fix

    report = doctor(tmp_path, config, factory, relay_test=False,
                    time_synchronised=lambda: False)
    assert only(report, "clock.synchronised").status is Status.WARN

    config["passes"]["trust_list"] = str(tmp_path / "absent.json")
    finding = only(doctor(tmp_path, config, factory, relay_test=False), "trust.list")
    assert finding.status is Status.FAIL and "copy the platform's trust list" in finding.fix

    from edge.doctor.system import check_disk, check_memory

    assert check_disk(tmp_path, fail_mb=10**9).status is Status.FAIL
    assert check_memory(50 * 1024 * 1024, faces=False).status is Status.FAIL
    assert check_memory(8 * 1024**3, faces=True).status is Status.OK


def test_cli_json_and_exit_status(tmp_path: Path) -> None:
    config = gate_config(tmp_path, camera="9")
    path = write_config(tmp_path, config)
    result = CliRunner().invoke(cli, ["doctor", "--config", str(path), "--mock-gpio", "--json",
                                      "--no-relay-test", "--camera-seconds", "0.5",
                                      "--skip", "system"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    assert report["passed"] is False
    statuses = {f["check"]: f["status"] for f in report["findings"]}
    assert statuses["camera.in-cam"] == "fail" and statuses["config.valid"] == "ok"
    assert all(set(f) == {"check", "status", "message", "fix"} for f in report["findings"])
    assert not any(f["check"].startswith("system") for f in report["findings"])

    result = CliRunner().invoke(cli, ["doctor", "--config", str(path), "--mock-gpio",
                                      "--only", "config"])
    assert result.exit_code == 0 and "1 ok, 0 warning(s), 0 failure(s)" in result.output

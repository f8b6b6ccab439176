"""The [mqtt] section: mistakes name their key; files are read at start with clear errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edge.settings import SettingsError, parse_settings
from edge.settings.mqtt import MqttSettings
from gate.errors import ConfigError
from gate.model import Severity

BASE: dict[str, Any] = {
    "gate": {"gate_id": "gate-east", "compound_id": "wenjiang-01"},
    "readers": [{"reader_id": "in-cam", "direction": "in", "camera": "0", "relay_pin": 17}],
    "passes": {"trust_list": "trust.json"},
}


def problems(mqtt: dict[str, Any]) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        parse_settings(BASE | {"mqtt": mqtt})
    return caught.value.problems


def test_mistakes_name_the_key() -> None:
    assert "mqtt.host is required" in problems({"enabled": True})[0]
    assert problems({"protocol": "4"})[0].startswith("mqtt.protocol = '4'")
    assert problems({"prefix": "a/+/b"})[0].startswith("mqtt.prefix")
    assert "password_file needs mqtt.username" in problems({"password_file": "p"})[0]
    assert "cert_file and mqtt.key_file go together" in problems(
        {"tls": True, "cert_file": "c.pem"})[0]
    assert "need mqtt.tls" in problems({"ca_file": "ca.pem"})[0]
    assert problems({"password": "secret"})[0].startswith("mqtt.password = 'secret'")
    hook = {"name": "x", "url": "ftp://a"}
    assert problems({"webhooks": [hook]})[0].startswith("mqtt.webhooks[0].url")
    assert "exactly one of url and url_file" in problems({"webhooks": [{"name": "x"}]})[0]
    twice = [{"name": "x", "url": "http://a"}, {"name": "x", "url": "http://b"}]
    assert "'x' is used twice" in problems({"webhooks": twice})[0]


def test_options_defaults_and_relative_files(tmp_path: Path) -> None:
    settings = MqttSettings.model_validate({
        "enabled": True, "host": "broker", "tls": True, "ca_file": "ca.pem",
        "username": "gate-east", "password_file": "mqtt.password",
        "webhooks": [{"name": "grid7", "url_file": "robot.url", "format": "work_chat",
                      "grids": ["grid-7"], "min_severity": "urgent"}]})
    resolved = settings.with_base(tmp_path)
    options = resolved.broker_options(compound_id="wenjiang-01", gate_id="gate-east")
    assert options.port == 8883 and options.client_id == "gridgate-wenjiang-01-gate-east"
    assert options.password_file == tmp_path / "mqtt.password"
    assert options.ca_file == tmp_path / "ca.pem"
    with pytest.raises(ConfigError, match=r"mqtt.webhooks\[0\].url_file: cannot read"):
        resolved.webhook_targets("Asia/Shanghai")
    (tmp_path / "robot.url").write_text("https://qyapi.example/send?key=abc\n")
    [target] = resolved.webhook_targets("Asia/Shanghai")
    assert target.url == "https://qyapi.example/send?key=abc"
    assert target.route.grids == frozenset({"grid-7"}) and target.route.min_severity \
        is Severity.URGENT
    (tmp_path / "robot.url").write_text("not a url")
    with pytest.raises(ConfigError, match="must start with http"):
        resolved.webhook_targets("Asia/Shanghai")

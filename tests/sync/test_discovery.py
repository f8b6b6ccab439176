"""Home Assistant MQTT discovery against a real Mosquitto: a client subscribes as Home
Assistant does, every config is checked against the fields Home Assistant's MQTT integration
documents for its platform, the states follow the door and the decisions (without persons),
broker access cannot open a door, and the entities go away when discovery is turned off and
with `gridgate homeassistant remove`."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import tomli_w
from click.testing import CliRunner
from gpiozero.pins.mock import MockFactory
from paho.mqtt.enums import CallbackAPIVersion

from edge.app import GateApp
from edge.cli.main import cli
from edge.settings import parse_settings
from gate.vocabulary import Rule
from tests.fixtures.broker import Broker
from tests.sync.support import PREFIX, TOPICS, platform_trust, wait_until
from tests.sync.test_app_sync import scan

pytestmark = pytest.mark.broker

# The fields Home Assistant's MQTT integration accepts for each platform, as its documentation
# lists them (https://www.home-assistant.io/integrations/lock.mqtt/, .../binary_sensor.mqtt/,
# .../sensor.mqtt/, .../event.mqtt/, and the discovery payload in .../mqtt/#mqtt-discovery)
# and its voluptuous schemas define them (home-assistant/core, homeassistant/components/mqtt/:
# config.py MQTT_RO_SCHEMA / MQTT_RW_SCHEMA, schemas.py MQTT_ENTITY_COMMON_SCHEMA with the
# availability, device and origin schemas, lock.py, binary_sensor.py, sensor.py, event.py).
BASE = {"qos", "encoding"}
COMMON = {"availability", "availability_mode", "availability_template", "availability_topic",
          "payload_available", "payload_not_available", "device", "origin",
          "enabled_by_default", "entity_category", "icon", "json_attributes_topic",
          "json_attributes_template", "object_id", "default_entity_id", "unique_id", "name",
          "entity_picture"}
RO = {"state_topic", "value_template"}  # MQTT_RO_SCHEMA: state_topic required
RW = {"command_topic", "optimistic", "retain", "state_topic"}  # MQTT_RW_SCHEMA
PLATFORMS: dict[str, tuple[set[str], set[str]]] = {  # platform: (required, platform fields)
    "lock": ({"command_topic"}, RW | {
        "code_format", "command_template", "payload_lock", "payload_unlock", "payload_open",
        "payload_reset", "state_jammed", "state_locked", "state_locking", "state_open",
        "state_opening", "state_unlocked", "state_unlocking", "value_template"}),
    "binary_sensor": ({"state_topic"}, RO | {
        "device_class", "expire_after", "force_update", "off_delay", "payload_off",
        "payload_on"}),
    "sensor": ({"state_topic"}, RO | {
        "device_class", "expire_after", "force_update", "last_reset_value_template", "options",
        "suggested_display_precision", "state_class", "unit_of_measurement"}),
    "event": ({"state_topic", "event_types"}, RO | {"device_class", "event_types"}),
}
DEVICE_FIELDS = {"identifiers", "connections", "manufacturer", "model", "model_id", "name",
                 "hw_version", "serial_number", "sw_version", "via_device", "suggested_area",
                 "configuration_url"}
ORIGIN_FIELDS = {"name", "sw_version", "support_url"}
ENTITY_CATEGORIES = {"config", "diagnostic"}
BINARY_SENSOR_CLASSES = {"door", "opening", "lock", "window", "garage_door"}  # the ones we may use
SENSOR_STATE_CLASSES = {"measurement", "total", "total_increasing", "measurement_angle"}
DISCOVERY_TOPIC = re.compile(r"^homeassistant/(\w+)/([A-Za-z0-9_-]+)/([A-Za-z0-9_-]+)/config$")
# Valid MQTT topics to subscribe to: no empty payload, no wildcards in state topics here.
TOPIC = re.compile(r"^[^#+\x00]+$")


def check_config(topic: str, config: dict[str, Any]) -> str:
    """Check one discovery config as Home Assistant's schema would; returns its platform."""
    match = DISCOVERY_TOPIC.match(topic)
    assert match, f"{topic}: not <prefix>/<component>/<node_id>/<object_id>/config"
    platform = match.group(1)
    assert platform in PLATFORMS, f"{topic}: platform {platform} is not one we publish"
    required, fields = PLATFORMS[platform]
    allowed = BASE | COMMON | fields
    assert required <= set(config), f"{topic}: missing {required - set(config)}"
    assert set(config) <= allowed, f"{topic}: fields HA does not know {set(config) - allowed}"
    assert config["unique_id"] and isinstance(config["unique_id"], str)
    assert config["qos"] in (0, 1, 2)
    for key in ("state_topic", "command_topic", "availability_topic", "json_attributes_topic"):
        if key in config:
            assert isinstance(config[key], str) and TOPIC.match(config[key]), (topic, key)
    assert config["availability_topic"] == TOPICS.availability
    assert (config["payload_available"], config["payload_not_available"]) == (
        "online", "offline")
    device = config["device"]
    assert set(device) <= DEVICE_FIELDS and device["identifiers"], device
    assert all(isinstance(v, str) for k, v in device.items() if k != "identifiers")
    assert set(config["origin"]) <= ORIGIN_FIELDS and config["origin"]["name"]
    if "entity_category" in config:
        assert config["entity_category"] in ENTITY_CATEGORIES
    if platform == "lock":
        assert config["optimistic"] is False, "a lock never assumes a command worked"
        assert config["retain"] is False
    if platform == "binary_sensor":
        assert config["device_class"] in BINARY_SENSOR_CLASSES
    if platform == "sensor":
        if config.get("device_class") == "enum":
            # HA: options only with device_class enum, and then no state_class or unit.
            assert config["options"] and "state_class" not in config
            assert "unit_of_measurement" not in config
        else:
            assert "options" not in config
            assert config["state_class"] in SENSOR_STATE_CLASSES
        if "suggested_display_precision" in config:
            assert isinstance(config["suggested_display_precision"], int)
    if platform == "event":
        types = config["event_types"]
        assert types and all(isinstance(t, str) for t in types)
    return platform


class HomeAssistant:
    """Subscribes as Home Assistant's MQTT integration does: the discovery prefix first, then
    every topic the configs name; keeps the newest retained payload of each topic."""

    def __init__(self, broker: Broker, client_id: str = "home-assistant") -> None:
        self.lock = threading.Lock()
        self.latest: dict[str, bytes] = {}
        self.log: list[tuple[str, bytes, bool]] = []
        self.subscribed: set[str] = set()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=mqtt.MQTTv311)
        self.client.on_message = self._message
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        self.client.subscribe("homeassistant/#", qos=1)

    def _message(self, client: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        payload = bytes(message.payload)
        with self.lock:
            self.latest[message.topic] = payload
            self.log.append((message.topic, payload, bool(message.retain)))
        if message.topic.startswith("homeassistant/") and payload:
            config = json.loads(payload)
            for key in ("state_topic", "availability_topic", "json_attributes_topic"):
                topic = config.get(key)
                if topic and topic not in self.subscribed:
                    self.subscribed.add(topic)
                    client.subscribe(topic, qos=1)

    def configs(self) -> dict[str, dict[str, Any]]:
        with self.lock:
            return {t: json.loads(p) for t, p in self.latest.items()
                    if t.startswith("homeassistant/") and p}

    def json(self, topic: str) -> dict[str, Any] | None:
        with self.lock:
            payload = self.latest.get(topic)
        return json.loads(payload) if payload else None

    def text(self, topic: str) -> str | None:
        with self.lock:
            payload = self.latest.get(topic)
        return None if payload is None else payload.decode()

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def retained(broker: Broker, pattern: str, wait: float = 1.0) -> dict[str, bytes]:
    """What a fresh subscriber gets as retained messages on `pattern`."""
    got: dict[str, bytes] = {}
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"probe-{time.monotonic_ns()}")
    client.on_message = lambda c, u, m: got.__setitem__(m.topic, bytes(m.payload))
    client.connect(broker.host, broker.port)
    client.loop_start()
    client.subscribe(pattern, qos=1)
    time.sleep(wait)
    client.loop_stop()
    client.disconnect()
    return got


def settings_dict(tmp_path: Path, broker: Broker, *, enabled: bool = True) -> dict[str, Any]:
    trust = tmp_path / "trust.json"
    if not trust.exists():
        platform_trust().save(trust)
    return {
        "gate": {"gate_id": TOPICS.gate_id, "compound_id": TOPICS.compound_id,
                 "name": "East gate"},
        "readers": [{"reader_id": "in-cam", "direction": "in", "camera": "0", "relay_pin": 17},
                    {"reader_id": "out-cam", "direction": "out", "camera": "0",
                     "relay_pin": 18}],
        "door": {"door_contact_pin": 22, "open_seconds": 0.3},
        "passes": {"trust_list": str(trust)},
        "storage": {"state_dir": str(tmp_path / "state")},
        "mqtt": {"enabled": True, "host": broker.host, "port": broker.port, "prefix": PREFIX,
                 "client_id": "ha-gate", "reconnect_min_s": 0.1,
                 "home_assistant": {"enabled": enabled, "stats_interval_s": 5}},
    }


def test_home_assistant_discovers_the_gate_and_follows_it(own_broker: Broker,
                                                           tmp_path: Path) -> None:
    broker = own_broker
    ha = HomeAssistant(broker)
    factory = MockFactory()
    settings = parse_settings(settings_dict(tmp_path, broker))
    with GateApp(settings, pin_factory=factory) as app:
        app.start_sync()
        # 2 locks, 1 contact, per reader a decision sensor, an event and a frame rate, and
        # the outbox backlog and age.
        wait_until(lambda: len(ha.configs()) == 11, what="11 discovery configs")
        configs = ha.configs()
        platforms = sorted(check_config(t, c) for t, c in configs.items())
        assert platforms == ["binary_sensor", "event", "event", "lock", "lock"] + ["sensor"] * 6
        assert len({c["unique_id"] for c in configs.values()}) == 11
        assert len({json.dumps(c["device"], sort_keys=True) for c in configs.values()}) == 1
        assert next(iter(configs.values()))["device"]["name"] == "East gate"
        events = [c for c in configs.values() if "event_types" in c]
        assert events[0]["event_types"] == [r.value for r in Rule]  # new rules come by themselves
        wait_until(lambda: ha.text(TOPICS.availability) == "online", what="online")

        locks = {c["name"]: c for c in configs.values() if "command_topic" in c}
        door = next(c for n, c in locks.items() if "in-cam" in n)
        wait_until(lambda: ha.json(door["state_topic"]) is not None, what="door state")
        assert ha.json(door["state_topic"])["lock"] == "LOCKED"  # type: ignore[index]
        assert ha.json(door["state_topic"])["contact"] == "closed"  # type: ignore[index]

        # A granted scan: the reader's decision (no person) and the door released, then locked.
        assert scan(app, "in-cam")
        reader_state = f"{TOPICS.status}/readers/in-cam"
        wait_until(lambda: ha.json(reader_state) is not None, what="decision state")
        decision = ha.json(reader_state)
        assert decision is not None
        assert decision["rule"] == decision["event_type"] == "green.in"
        assert decision["colour"] == "green" and decision["granted"] is True
        text = ha.text(reader_state) or ""
        assert "p-101" not in text and "h-1" not in text and "pass-" not in text
        seen = lambda: [json.loads(p)["lock"] for t, p, _ in ha.log  # noqa: E731
                        if t == door["state_topic"] and p]
        wait_until(lambda: "UNLOCKED" in seen(), what="door unlocked")
        wait_until(lambda: seen()[-1] == "LOCKED", what="door locked again")

        # The door contact opens: the binary sensor reads "open".
        factory.pin(22).drive_high()
        wait_until(lambda: (ha.json(door["state_topic"]) or {}).get("contact") == "open",
                   what="contact open")
        factory.pin(22).drive_low()

        # Broker access alone never opens a door: an UNLOCK on the lock's command topic, as
        # Home Assistant's button would send it, moves nothing.
        relay = factory.pin(17)
        states_before = len(relay.states)
        ha.client.publish(door["command_topic"], "UNLOCK", qos=1).wait_for_publish(5)
        ha.client.publish(door["command_topic"], "OPEN", qos=1).wait_for_publish(5)
        time.sleep(1.0)
        assert len(relay.states) == states_before and relay.state is False
        assert ha.json(door["state_topic"])["lock"] == "LOCKED"  # type: ignore[index]

        # Counters every stats interval: the backlog and each camera's frame rate.
        wait_until(lambda: ha.json(f"{TOPICS.status}/gate") is not None, what="gate stats")
        stats = ha.json(f"{TOPICS.status}/gate")
        assert stats is not None and set(stats["readers"]) == {"in-cam", "out-cam"}
        assert isinstance(stats["outbox_waiting"], int)

        # The connection vanishes (no DISCONNECT): the broker publishes the Last Will, and the
        # link comes back online by itself.
        assert app.status is not None and app.status.link.session is not None
        sock = app.status.link.session.client.socket()
        assert isinstance(sock, socket.socket)
        sock.shutdown(socket.SHUT_RDWR)
        wait_until(lambda: any(t == TOPICS.availability and p == b"offline"
                               for t, p, _ in ha.log), what="the Last Will")
        wait_until(lambda: ha.text(TOPICS.availability) == "online", what="online again")
    wait_until(lambda: ha.text(TOPICS.availability) == "offline", what="offline on close")
    assert (tmp_path / "state" / "homeassistant-discovery.json").exists()

    # Turned off: the next start removes every entity it announced (empty retained configs).
    settings = parse_settings(settings_dict(tmp_path, broker, enabled=False))
    with GateApp(settings, pin_factory=MockFactory()) as app:
        app.start_sync()
        wait_until(lambda: not ha.configs(), what="configs removed")
        wait_until(lambda: not (tmp_path / "state" / "homeassistant-discovery.json").exists(),
                   what="marker removed")
    assert retained(broker, "homeassistant/#") == {}
    ha.close()


def test_gridgate_homeassistant_remove_clears_the_broker(own_broker: Broker,
                                                          tmp_path: Path) -> None:
    broker = own_broker
    config = tmp_path / "gridgate.toml"
    config.write_text(tomli_w.dumps(settings_dict(tmp_path, broker)))
    settings = parse_settings(settings_dict(tmp_path, broker))
    with GateApp(settings, pin_factory=MockFactory()) as app:
        app.start_sync()
        wait_until(lambda: len(retained(broker, "homeassistant/#", 0.3)) == 11,
                   what="configs retained")
    result = CliRunner().invoke(cli, ["homeassistant", "remove", "-c", str(config), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["removed"] == len(out["topics"]) >= 11 + 5
    assert retained(broker, "homeassistant/#") == {}
    assert retained(broker, f"{TOPICS.gate}/#") .keys() <= {TOPICS.state}
    again = CliRunner().invoke(cli, ["homeassistant", "remove", "-c", str(config)])
    assert again.exit_code == 0
    shown = CliRunner().invoke(cli, ["homeassistant", "show", "-c", str(config), "--json"])
    assert len(json.loads(shown.output)) == 11


def test_a_broker_that_is_away_is_a_clear_error(tmp_path: Path) -> None:
    from tests.fixtures.broker import free_port

    data = settings_dict(tmp_path, Broker(tmp_path / "b", port=free_port()))
    config = tmp_path / "gridgate.toml"
    config.write_text(tomli_w.dumps(data))
    result = CliRunner().invoke(cli, ["homeassistant", "remove", "-c", str(config),
                                      "--timeout", "2"])
    assert result.exit_code == 2
    assert "cannot connect to 127.0.0.1" in result.output

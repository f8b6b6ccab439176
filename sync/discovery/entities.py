"""Home Assistant MQTT discovery configs for one gate, and the state payloads they read.

One retained config per entity on DISCOVERY_PREFIX/COMPONENT/NODE_ID/OBJECT_ID/config, all
sharing one `device` (the gate) and the gate's availability topic:

    lock            per door: LOCKED / UNLOCKED from the relay, the mode as an attribute
    binary_sensor   per door with a contact: the door open or closed
    sensor, event   per reader: the last decision's rule, with colour and result (no person)
    sensor          outbox backlog and age; each reader's camera frames per second

Home Assistant requires a command topic for a lock. The gate names one under its status
topic and never subscribes to it: broker access alone can never open a door.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gate.door import Door
from gate.model import Decision
from gate.observation import Observation
from gate.vocabulary import Rule
from sync.topics import Topics

AVAILABLE, NOT_AVAILABLE = "online", "offline"
LOCKED, UNLOCKED = "LOCKED", "UNLOCKED"
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True)
class ReaderView:
    """A reader as Home Assistant shows it."""

    reader_id: str
    direction: str


@dataclass(frozen=True)
class DoorView:
    """A door (one relay) and the readers it lets through."""

    door: str
    readers: tuple[str, ...]
    contact: bool


@dataclass(frozen=True)
class GateDescription:
    """What the discovery configs describe: the gate, its readers and doors."""

    compound_id: str
    gate_id: str
    name: str
    version: str
    readers: tuple[ReaderView, ...]
    doors: tuple[DoorView, ...]


def _safe(text: str) -> str:
    """An id Home Assistant accepts in a discovery topic ([A-Za-z0-9_-])."""
    return _UNSAFE.sub("_", text)


def node_id(gate: GateDescription) -> str:
    """The gate's node id in discovery topics, and its device identifier."""
    return _safe(f"gridgate_{gate.compound_id}_{gate.gate_id}")


def door_topic(topics: Topics, door: str) -> str:
    return f"{topics.status}/doors/{door}"


def lock_command_topic(topics: Topics, door: str) -> str:
    """Named in the lock's config because Home Assistant requires one; never subscribed."""
    return f"{door_topic(topics, door)}/ignored_command"


def reader_topic(topics: Topics, reader_id: str) -> str:
    return f"{topics.status}/readers/{reader_id}"


def gate_topic(topics: Topics) -> str:
    return f"{topics.status}/gate"


def discovery_configs(gate: GateDescription, topics: Topics,
                      prefix: str) -> dict[str, dict[str, Any]]:
    """Every discovery config of the gate, by its config topic."""
    node = node_id(gate)
    shared: dict[str, Any] = {
        "device": {"identifiers": [node], "name": gate.name or gate.gate_id,
                   "manufacturer": "gridgate", "model": "gate controller",
                   "sw_version": gate.version},
        "origin": {"name": "gridgate", "sw_version": gate.version},
        "availability_topic": topics.availability,
        "payload_available": AVAILABLE, "payload_not_available": NOT_AVAILABLE,
        "qos": 1,
    }
    configs: dict[str, dict[str, Any]] = {}

    def add(component: str, object_id: str, config: dict[str, Any]) -> None:
        obj = _safe(object_id)
        configs[f"{prefix}/{component}/{node}/{obj}/config"] = {
            **config, "unique_id": f"{node}_{obj}", **shared}

    for door in gate.doors:
        state = door_topic(topics, door.door)
        readers = ", ".join(door.readers)
        add("lock", f"door_{door.door}", {
            "name": f"Door {door.door} ({readers})", "state_topic": state,
            "value_template": "{{ value_json.lock }}", "state_locked": LOCKED,
            "state_unlocked": UNLOCKED, "json_attributes_topic": state,
            "command_topic": lock_command_topic(topics, door.door), "optimistic": False,
            "retain": False})
        if door.contact:
            add("binary_sensor", f"door_{door.door}_contact", {
                "name": f"Door {door.door} contact", "device_class": "door",
                "state_topic": state, "value_template": "{{ value_json.contact }}",
                "payload_on": "open", "payload_off": "closed"})
    rules = [rule.value for rule in Rule]
    for reader in gate.readers:
        state = reader_topic(topics, reader.reader_id)
        add("sensor", f"reader_{reader.reader_id}_decision", {
            "name": f"Last decision {reader.reader_id} ({reader.direction})",
            "state_topic": state, "value_template": "{{ value_json.rule }}",
            "json_attributes_topic": state, "device_class": "enum", "options": rules,
            "icon": "mdi:door-closed-lock"})
        add("event", f"reader_{reader.reader_id}_passage", {
            "name": f"Passage {reader.reader_id} ({reader.direction})", "state_topic": state,
            "event_types": rules})
        add("sensor", f"reader_{reader.reader_id}_fps", {
            "name": f"Camera {reader.reader_id} frames per second",
            "state_topic": gate_topic(topics),
            "value_template": f"{{{{ value_json.readers['{reader.reader_id}'].fps }}}}",
            "unit_of_measurement": "fps", "state_class": "measurement",
            "suggested_display_precision": 1, "entity_category": "diagnostic"})
    add("sensor", "outbox_waiting", {
        "name": "Outbox backlog", "state_topic": gate_topic(topics),
        "value_template": "{{ value_json.outbox_waiting }}", "unit_of_measurement": "events",
        "state_class": "measurement", "entity_category": "diagnostic",
        "icon": "mdi:tray-full"})
    add("sensor", "outbox_oldest", {
        "name": "Outbox oldest event age", "state_topic": gate_topic(topics),
        "value_template": "{{ value_json.outbox_oldest_s }}", "device_class": "duration",
        "unit_of_measurement": "s", "state_class": "measurement",
        "entity_category": "diagnostic"})
    return configs


def door_state(door: Door, at: datetime) -> dict[str, Any]:
    """A door's retained state: the lock from the relay, the mode, the contact."""
    is_open = door.is_open
    return {"lock": UNLOCKED if door.is_released else LOCKED, "mode": door.mode.value,
            "mode_remaining_s": door.mode_remaining_s,
            "contact": None if is_open is None else ("open" if is_open else "closed"),
            "at": at.isoformat()}


def decision_state(observation: Observation, decision: Decision) -> dict[str, Any]:
    """A reader's last decision, as Home Assistant's sensor and event read it: the rule,
    colour and result, never who it was (no person, household or pass id)."""
    return {"event_type": decision.rule.value, "rule": decision.rule.value,
            "granted": decision.granted,
            "colour": None if decision.colour is None else decision.colour.value,
            "direction": observation.reader.direction.value,
            "method": observation.method.value, "at": observation.seen_at.isoformat()}

"""The root of the configuration tree and its cross-field checks."""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field, model_validator

from edge.settings.alerts import AlertsSettings, FreshnessSettings
from edge.settings.core import (
    DoorSettings,
    GateSettings,
    PassesSettings,
    ReaderSettings,
    Section,
    StorageSettings,
    VisionSettings,
)
from edge.settings.display import DisplaySettings
from edge.settings.faces import FacesSettings
from edge.settings.metrics import MetricsSettings
from edge.settings.mqtt import MqttSettings
from edge.settings.panel import PanelSettings
from edge.settings.retention import RetentionSettings
from edge.settings.signals import SignalSettings
from gate.model import Colour
from gate.policy import Policy

# With faces on and nothing said, the rule of a policy that says nothing (red and yellow).
FACE_RULES_WITH_FACES: frozenset[Colour] = Policy.model_fields["face_match_required"].default


class PolicySettings(Policy):
    """All permit rules a gate applies; a policy document from the platform replaces them.

    In the config file the face rules follow `faces.enabled`: a gate that checks no face is
    given no rule that needs one, and a face rule on such a gate is an error.
    """

    face_match_required: frozenset[Colour] = Field(
        frozenset(),
        description="Colours whose passes must be shown by the holder's own face. Unset: "
        "[\"red\", \"yellow\"] when faces.enabled is true, [] when it is false. A gate without "
        "faces checks no face, so listing a colour then is an error (never a rule silently "
        "skipped).",
    )
    liveness_required: frozenset[Colour] = Field(
        frozenset(),
        description="Colours for which a face must pass the liveness check. Needs "
        "faces.enabled = true: listing a colour without faces is an error.",
    )


class Settings(Section):
    """Everything one gate needs; `config/gridgate.example.toml` documents every key."""

    gate: GateSettings
    readers: list[ReaderSettings] = Field(..., min_length=1, description="One per camera.")
    door: DoorSettings = Field(default_factory=DoorSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    passes: PassesSettings
    vision: VisionSettings = Field(default_factory=VisionSettings)
    policy: PolicySettings = Field(default_factory=PolicySettings)
    faces: FacesSettings = Field(default_factory=FacesSettings)
    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    panel: PanelSettings = Field(default_factory=PanelSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    signals: SignalSettings = Field(default_factory=SignalSettings)
    display: DisplaySettings = Field(default_factory=DisplaySettings)
    alerts: AlertsSettings = Field(default_factory=AlertsSettings)
    freshness: FreshnessSettings = Field(default_factory=FreshnessSettings)

    @model_validator(mode="before")
    @classmethod
    def _face_rules_follow_faces(cls, data: Any) -> Any:
        """Unset face rules of a gate with faces: red and yellow passes need the holder's face."""
        if not isinstance(data, dict):
            return data
        faces, policy = data.get("faces"), data.get("policy", {})
        enabled = (faces.enabled if isinstance(faces, FacesSettings)
                   else isinstance(faces, dict) and faces.get("enabled") is True)
        if not enabled or not isinstance(policy, dict) or "face_match_required" in policy:
            return data
        rule = sorted(c.value for c in FACE_RULES_WITH_FACES)
        return {**data, "policy": {**policy, "face_match_required": rule}}

    @model_validator(mode="after")
    def _check_face_rules_can_be_enforced(self) -> Settings:
        if self.faces.enabled:
            return self
        claimed = [(key, sorted(c.value for c in colours)) for key, colours in
                   (("face_match_required", self.policy.face_match_required),
                    ("liveness_required", self.policy.liveness_required)) if colours]
        if claimed:
            shown = " and ".join(f"policy.{key} = {json.dumps(names)}" for key, names in claimed)
            removed = " and ".join(f"policy.{key}" for key, _ in claimed)
            rules = "these rules cannot be" if len(claimed) > 1 else "this rule cannot be"
            raise ValueError(
                f"{shown}: faces.enabled is false, so no face is checked and {rules} enforced "
                f"(a pass alone would be let through); set faces.enabled = true, or remove "
                f"{removed}")
        return self

    @model_validator(mode="after")
    def _check_readers_and_pins(self) -> Settings:
        ids = [r.reader_id for r in self.readers]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"readers: reader_id {duplicates[0]!r} is used twice; give each "
                             "reader its own id")
        functions: dict[int, str] = {}
        for where, pin in self.pin_uses():
            role = where.split("[")[0].split(".")[0]
            first = functions.setdefault(pin, where)
            # Several readers may drive the same door relay; any other sharing is a wiring error.
            same_relay = first.startswith("readers[") and where.startswith("readers[")
            if first != where and not same_relay:
                raise ValueError(f"{where}: GPIO {pin} is already used by {first}; "
                                 f"give the {role} its own pin")
        return self

    @model_validator(mode="after")
    def _check_resident_readers(self) -> Settings:
        known = {r.reader_id for r in self.readers}
        for where, items in (("signals.readers", self.signals.readers),
                             ("display.screens", self.display.screens)):
            ids = [item.reader_id for item in items]
            for i, reader_id in enumerate(ids):
                if reader_id not in known:
                    raise ValueError(f"{where}[{i}].reader_id: no reader {reader_id!r}; use "
                                     f"one of {sorted(known)}")
                if ids.count(reader_id) > 1:
                    raise ValueError(f"{where}[{i}].reader_id: reader {reader_id!r} is listed "
                                     "twice; one table per reader")
        panel = self.panel.port if self.panel.enabled else 0
        for i, screen in enumerate(self.display.screens):
            if panel and screen.port == panel:
                raise ValueError(f"display.screens[{i}].port: {panel} is the panel's port; "
                                 "give the screen its own")
        return self

    @model_validator(mode="after")
    def _check_escalation_webhook(self) -> Settings:
        name = self.alerts.escalation_webhook
        if name is not None and name not in {w.name for w in self.mqtt.webhooks}:
            raise ValueError(f"alerts.escalate_to = 'webhook:{name}': no webhook of that name "
                             "in mqtt.webhooks; add it there or escalate to 'street_office'")
        return self

    def pin_uses(self) -> list[tuple[str, int]]:
        """Every configured GPIO pin with the key that sets it."""
        uses = [(f"readers[{i}].relay_pin", r.relay_pin) for i, r in enumerate(self.readers)]
        if self.door.exit_button_pin is not None:
            uses.append(("door.exit_button_pin", self.door.exit_button_pin))
        if self.door.door_contact_pin is not None:
            uses.append(("door.door_contact_pin", self.door.door_contact_pin))
        uses += [(f"signals.readers[{i}].{key}", pin)
                 for i, lights in enumerate(self.signals.readers) for key, pin in lights.pins()]
        return uses

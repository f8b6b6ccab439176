"""The root of the configuration tree and its cross-field checks."""

from __future__ import annotations

from pydantic import Field, model_validator

from edge.settings.core import (
    DoorSettings,
    GateSettings,
    PassesSettings,
    ReaderSettings,
    Section,
    StorageSettings,
    VisionSettings,
)
from edge.settings.faces import FacesSettings
from edge.settings.mqtt import MqttSettings
from edge.settings.panel import PanelSettings
from gate.policy import Policy


class Settings(Section):
    """Everything one gate needs; `config/gridgate.example.toml` documents every key."""

    gate: GateSettings
    readers: list[ReaderSettings] = Field(..., min_length=1, description="One per camera.")
    door: DoorSettings = Field(default_factory=DoorSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    passes: PassesSettings
    vision: VisionSettings = Field(default_factory=VisionSettings)
    policy: Policy = Field(default_factory=Policy)
    faces: FacesSettings = Field(default_factory=FacesSettings)
    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    panel: PanelSettings = Field(default_factory=PanelSettings)

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

    def pin_uses(self) -> list[tuple[str, int]]:
        """Every configured GPIO pin with the key that sets it."""
        uses = [(f"readers[{i}].relay_pin", r.relay_pin) for i, r in enumerate(self.readers)]
        if self.door.exit_button_pin is not None:
            uses.append(("door.exit_button_pin", self.door.exit_button_pin))
        if self.door.door_contact_pin is not None:
            uses.append(("door.door_contact_pin", self.door.door_contact_pin))
        return uses

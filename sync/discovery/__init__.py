"""What Home Assistant and other MQTT tools read of a gate: a plain retained availability
topic with its own Last Will, live door / decision / counter states, and Home Assistant MQTT
discovery configs for them (docs/mqtt.md, "Home Assistant").

Commands never come this way: the lock's command topic is one the gate does not subscribe to.
"""

from sync.discovery.entities import (
    DoorView,
    GateDescription,
    ReaderView,
    discovery_configs,
    node_id,
)
from sync.discovery.link import HomeAssistantOptions, StatusLink, clear_retained

__all__ = ["DoorView", "GateDescription", "HomeAssistantOptions", "ReaderView", "StatusLink",
           "clear_retained", "discovery_configs", "node_id"]

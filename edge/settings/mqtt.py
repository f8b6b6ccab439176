"""Settings of the platform link over MQTT (issue 4 fills these in)."""

from __future__ import annotations

from pydantic import Field

from edge.settings.core import Section


class MqttSettings(Section):
    """The broker the gate publishes to."""

    enabled: bool = Field(False, description="Publish events and receive platform data.")

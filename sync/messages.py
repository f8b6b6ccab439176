"""Outbound MQTT payloads: events, snapshot requests and the retained gate state.

Every event message carries a unique event id, the gate id, a per-gate sequence number, the
schema version and a UTC time, so consumers can drop duplicates and notice gaps.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_serializer

SCHEMA_VERSION = 1

EventType = Literal["passage", "alert", "door", "command_result", "snapshot_request"]
EVENT_TYPES: tuple[str, ...] = ("passage", "alert", "door", "command_result", "snapshot_request")


def utc_z(when: datetime) -> str:
    """UTC ISO 8601 with microseconds and a 'Z'."""
    return when.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_serializer("at", check_fields=False)
    def _at(self, value: datetime) -> str:
        return utc_z(value)


class EventMessage(_Message):
    """One event from the gate, as published (and as POSTed to generic JSON webhooks)."""

    schema_version: Literal[1] = SCHEMA_VERSION
    type: EventType
    event_id: str = Field(..., min_length=1, max_length=64)
    gate_id: str
    compound_id: str
    seq: int = Field(..., ge=1, description="Per-gate sequence number, from 1, no reuse.")
    at: AwareDatetime
    truncated: bool = Field(
        False, description="True when data was left out because the message was too large.")
    data: dict[str, Any] = Field(default_factory=dict)

    def stub(self, reason: str) -> EventMessage:
        """The same event without its data, for a message too large to send whole."""
        keep = {k: self.data[k] for k in ("kind", "severity", "person_id", "grid_id")
                if k in self.data}
        return self.model_copy(update={"truncated": True,
                                       "data": {**keep, "truncated_reason": reason}})


class StateMessage(_Message):
    """The gate's retained state; the Last Will publishes the same with online false."""

    schema_version: Literal[1] = SCHEMA_VERSION
    gate_id: str
    compound_id: str
    online: bool
    at: AwareDatetime
    versions: dict[str, int] = Field(default_factory=dict,
                                     description="Document versions the gate holds.")
    outbox_waiting: int | None = None
    dropped_routine: int | None = None
    inbound: dict[str, int] = Field(default_factory=dict,
                                    description="Platform messages handled, by outcome.")
    protocol: str | None = None


def event_data(row: dict[str, Any]) -> dict[str, Any]:
    """A journal row as event data: the envelope already says event id, gate and time."""
    return {k: v for k, v in row.items() if k not in ("event_id", "gate_id", "at")}


def dumps(message: BaseModel) -> str:
    """Compact JSON text of a message."""
    return message.model_dump_json()

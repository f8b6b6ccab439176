"""Outbound MQTT payloads: events, snapshot requests and the retained gate state.

Every event message carries a unique event id, the gate id, a per-gate sequence number, the
schema version and a UTC time, so consumers can drop duplicates and notice gaps.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_serializer,
    model_validator,
)

from gate.model import Severity
from gate.vocabulary import AlertKind, AuditKind, DoorEventKind, EventType, Rule

SCHEMA_VERSION: Final = 1

# The field of `data` that carries the vocabulary of each event type: a consumer refuses an
# event with a value the gate never sends (a stub keeps `kind` but drops `rule`).
_RECEIVED_KEY = "received"
_RECEIVED = {_RECEIVED_KEY: True}  # validation context of EventMessage.received
VOCABULARY: dict[EventType, tuple[str, type[StrEnum]]] = {
    EventType.PASSAGE: ("rule", Rule),
    EventType.ALERT: ("kind", AlertKind),
    EventType.DOOR: ("kind", DoorEventKind),
    EventType.ALERT_ACK: ("kind", AlertKind),
    EventType.ALERT_UPDATE: ("kind", AlertKind),
    EventType.AUDIT: ("kind", AuditKind),
}


def utc_z(when: datetime) -> str:
    """UTC ISO 8601 with microseconds and a 'Z'."""
    return when.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_serializer("at", check_fields=False)
    def _at(self, value: datetime) -> str:
        return utc_z(value)


class _Data(BaseModel):
    """The `data` of an event type with a fixed form, as consumers receive it."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class _AlertRef(_Data):
    """Which alert an acknowledgement or a count update is about."""

    alert_id: int = Field(..., ge=1, description="The alert's journal id at this gate.")
    alert_event_id: str = Field(..., min_length=1, max_length=64,
                                description="The event id of the alert it is about.")
    kind: AlertKind = Field(..., strict=False)  # its value, as JSON writes it
    severity: Severity = Field(..., strict=False)
    reader_id: str | None = None
    person_id: str | None = None
    household_id: str | None = None
    grid_id: str | None = None


class AlertAckData(_AlertRef):
    """`alert_ack`: a guard acknowledged an alert on the panel (on the alert's own topic)."""

    acknowledged_by: str = Field(..., min_length=1, max_length=64)
    comment: str = Field("", max_length=500)


class AlertUpdateData(_AlertRef):
    """`alert_update`: more occurrences folded into an open alert; `count` is the whole count
    so far (keep the largest seen), `last_at` the latest occurrence."""

    passage_id: int | None = None
    count: int = Field(..., ge=2)
    first_at: str
    last_at: str


class AuditData(_Data):
    """`audit`: who did what on the panel (logins, accounts, settings, two-person overrides)."""

    id: int = Field(..., ge=1)
    kind: AuditKind = Field(..., strict=False)
    actor: str | None = Field(None, max_length=64)
    address: str | None = Field(None, max_length=64)
    target: str | None = Field(None, max_length=200)
    detail: str = Field("", max_length=500)


# Event types whose data has a fixed form: a consumer refuses data that does not fit it.
DATA_MODELS: dict[EventType, type[_Data]] = {
    EventType.ALERT_ACK: AlertAckData,
    EventType.ALERT_UPDATE: AlertUpdateData,
    EventType.AUDIT: AuditData,
}


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

    @classmethod
    def received(cls, data: str | bytes | dict[str, Any]) -> EventMessage:
        """An event as a consumer receives it (JSON text or parsed), refusing also a rule, an
        alert kind or a door kind the gate never sends."""
        if isinstance(data, dict):
            return cls.model_validate(data, context=_RECEIVED)
        return cls.model_validate_json(data, context=_RECEIVED)

    @model_validator(mode="after")
    def _known_vocabulary(self, info: ValidationInfo) -> EventMessage:
        # Only for what consumers receive: the gate's own outbox must never fail a journal
        # write, nor stop sending a row it stored, over a word.
        if (info.context or {}).get(_RECEIVED_KEY) and self.type in VOCABULARY:
            name, words = VOCABULARY[self.type]
            if name in self.data and not _member(words, self.data[name]):
                raise ValueError(f"data.{name} {self.data[name]!r} is not a {words.__name__} "
                                 "the gate sends")
        if (info.context or {}).get(_RECEIVED_KEY) and self.type in DATA_MODELS \
                and not self.truncated:
            DATA_MODELS[self.type].model_validate(self.data)
        return self

    def stub(self, reason: str) -> EventMessage:
        """The same event without its data, for a message too large to send whole."""
        keep = {k: self.data[k] for k in ("kind", "severity", "person_id", "grid_id")
                if k in self.data}
        return self.model_copy(update={"truncated": True,
                                       "data": {**keep, "truncated_reason": reason}})


class WipeData(_Data):
    """The data of a `wipe` event: personal data erased on the gate, the platform's proof.
    The gate's own journal keeps only that a wipe happened (a chained note at `chain_seq`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    scope: Literal["person", "all"]
    person_id: str | None = Field(None, max_length=128, description="None for scope all.")
    removed: int = Field(..., ge=0, description="Journal records erased.")
    chain_seq: int = Field(..., ge=1, description="The wipe's note in the gate's hash chain.")
    kept_for_rules: int = Field(0, ge=0, description="Passages a rule still needs, erased "
                                "after held_until by the daily prune (a second event).")
    held_until: str | None = None
    completed: bool = Field(False, description="True for the event that erases those.")
    removed_by_table: dict[str, int] = Field(default_factory=dict)


DATA_MODELS[EventType.WIPE] = WipeData  # defined after the event model that reads it


class ChainHead(BaseModel):
    """The newest record of the gate's hash chain (docs/journal.md, "Tamper evidence")."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    seq: int = Field(..., ge=0)
    link: str = Field(..., pattern=r"^[0-9a-f]{16}$")


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
    peer: str | None = Field(
        None, description="gate_id, compound_id, online and the connection number, signed by "
        "the gate's key (the peer link, docs/mqtt.md): what the other gates believe.")
    chain: ChainHead | None = Field(None, description="The journal's hash chain head: a "
                                    "journal rewritten later no longer matches it.")


def _member(words: type[StrEnum], value: Any) -> bool:
    try:
        words(value)
    except ValueError:
        return False
    return True


def event_data(row: dict[str, Any]) -> dict[str, Any]:
    """A journal row as event data: the envelope already says event id, gate and time."""
    return {k: v for k, v in row.items() if k not in ("event_id", "gate_id", "at")}


def dumps(message: BaseModel) -> str:
    """Compact JSON text of a message."""
    return message.model_dump_json()

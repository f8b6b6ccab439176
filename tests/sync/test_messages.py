"""Event messages speak the gate's vocabulary: the same JSON as plain strings on the way out,
and a consumer parsing one refuses a type, rule or kind the gate never sends."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from gate.vocabulary import AlertKind, DoorEventKind, EventType, Rule
from sync.messages import EventMessage

AT = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def wire(type_: str, data: dict[str, Any], **envelope: Any) -> str:
    """An event message as JSON text, as a consumer receives it."""
    return json.dumps({"schema_version": 1, "type": type_, "event_id": "e" * 32,
                       "gate_id": "gate-east", "compound_id": "wenjiang-01", "seq": 1,
                       "at": "2026-11-22T08:00:00.000000Z", "truncated": False, "data": data,
                       **envelope})


def message(type_: EventType | str, **data: Any) -> EventMessage:
    return EventMessage(type=type_, event_id="e" * 32, gate_id="gate-east",  # type: ignore[arg-type]
                        compound_id="wenjiang-01", seq=1, at=AT, data=data)


def test_outbound_json_is_the_plain_strings() -> None:
    members = message(EventType.PASSAGE, rule=Rule.GREEN_IN, granted=True)
    strings = message("passage", rule="green.in", granted=True)
    assert members.model_dump_json() == strings.model_dump_json()
    sent = json.loads(members.model_dump_json())
    assert sent["type"] == "passage" and sent["data"]["rule"] == "green.in"
    alert = json.loads(message(EventType.ALERT, kind=AlertKind.DOOR_FORCED).model_dump_json())
    assert alert["type"] == "alert" and alert["data"]["kind"] == "door_forced"
    door = json.loads(message(EventType.DOOR, kind=DoorEventKind.HELD_OPEN).model_dump_json())
    assert door["type"] == "door" and door["data"]["kind"] == "held_open"


@pytest.mark.parametrize(("type_", "data"), [
    ("passage", {"rule": "green.in", "granted": True}),
    ("passage", {"rule": "override.open_once", "granted": True}),
    ("alert", {"kind": "red_exit_attempt", "severity": "urgent"}),
    ("alert", {"kind": "trust_refused", "severity": "urgent"}),
    ("door", {"kind": "released", "door": "relay17"}),
    ("command_result", {"command_id": "c-1", "action": "open", "accepted": True}),
    ("snapshot_request", {"document": "roster", "have_version": None}),
])
def test_a_consumer_accepts_what_the_gate_sends(type_: str, data: dict[str, Any]) -> None:
    parsed = EventMessage.received(wire(type_, data))
    assert parsed.type is EventType(type_)
    assert parsed.data == data


@pytest.mark.parametrize(("type_", "data", "complaint"), [
    ("passage", {"rule": "colour.green", "granted": True}, "Rule"),
    ("passage", {"rule": "test.rule"}, "Rule"),
    ("passage", {"rule": None}, "Rule"),
    ("alert", {"kind": "red_exit", "severity": "urgent"}, "AlertKind"),
    ("alert", {"kind": ["forged_pass"]}, "AlertKind"),
    ("door", {"kind": "slammed", "door": "relay17"}, "DoorEventKind"),
    ("door", {"kind": "forged_pass"}, "DoorEventKind"),  # an alert kind is no door kind
    ("system", {}, "type"),
    ("override", {}, "type"),
])
def test_a_consumer_refuses_words_the_gate_never_sends(type_: str, data: dict[str, Any],
                                                       complaint: str) -> None:
    with pytest.raises(ValidationError, match=complaint):
        EventMessage.received(wire(type_, data))
    with pytest.raises(ValidationError):
        EventMessage.received(json.loads(wire(type_, data)))  # `platform listen`


def test_the_gate_never_fails_its_own_outbox_over_a_word() -> None:
    """Only consumers check the vocabulary: the outbox builds and re-reads messages inside the
    journal's transaction and the publisher, where a refused word would lose the record."""
    odd = message(EventType.PASSAGE, rule="legacy.rule", granted=True)
    again = EventMessage.model_validate_json(odd.model_dump_json())  # the publisher re-reading
    assert again.data["rule"] == "legacy.rule"
    with pytest.raises(ValidationError, match="Rule"):
        EventMessage.received(odd.model_dump_json())


def test_a_stub_keeps_its_kind_and_still_parses() -> None:
    passage = message(EventType.PASSAGE, rule=Rule.YELLOW_EXIT, reason_en="x" * 1000)
    stub = EventMessage.model_validate_json(passage.stub("too large").model_dump_json())
    assert stub.truncated and "rule" not in stub.data
    alert = message(EventType.ALERT, kind=AlertKind.EVENT_TRUNCATED, severity="warning")
    parsed = EventMessage.model_validate_json(alert.stub("too large").model_dump_json())
    assert parsed.data["kind"] == "event_truncated"

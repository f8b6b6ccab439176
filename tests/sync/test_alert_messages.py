"""A consumer refuses acknowledgements, count updates and audit records whose data does not
have the form sync/messages.py gives them, and takes the ones the gate sends."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from sync.messages import EventMessage

ACK = {"alert_id": 3, "alert_event_id": "a" * 32, "kind": "forged_pass", "severity": "urgent",
       "reader_id": "in-cam", "person_id": None, "household_id": None, "grid_id": None,
       "acknowledged_by": "guard1", "comment": "seen"}
UPDATE = {**{k: v for k, v in ACK.items() if k not in ("acknowledged_by", "comment")},
          "passage_id": 9, "count": 4, "first_at": "2026-11-22T08:00:00+00:00",
          "last_at": "2026-11-22T08:00:09+00:00"}
AUDIT = {"id": 1, "kind": "login_failed", "actor": "guard1", "address": "192.0.2.7",
         "target": None, "detail": "wrong name or password"}


def message(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"schema_version": 1, "type": kind, "event_id": "e" * 32, "gate_id": "gate-east",
            "compound_id": "wenjiang-01", "seq": 7,
            "at": datetime(2026, 11, 22, 8, tzinfo=UTC).isoformat(), "data": data}


@pytest.mark.parametrize(("kind", "data"), [("alert_ack", ACK), ("alert_update", UPDATE),
                                            ("audit", AUDIT)])
def test_what_the_gate_sends_is_taken(kind: str, data: dict[str, Any]) -> None:
    assert EventMessage.received(message(kind, data)).data == data


@pytest.mark.parametrize(("kind", "data", "why"), [
    ("alert_ack", {k: v for k, v in ACK.items() if k != "acknowledged_by"}, "acknowledged_by"),
    ("alert_ack", {**ACK, "comment": "x" * 501}, "comment"),
    ("alert_ack", {**ACK, "kind": "made_up"}, "kind"),
    ("alert_ack", {**ACK, "alert_id": "3"}, "alert_id"),
    ("alert_update", {**UPDATE, "count": 1}, "count"),
    ("alert_update", {**UPDATE, "extra": True}, "extra"),
    ("audit", {**AUDIT, "kind": "password_seen"}, "kind"),
    ("audit", {**AUDIT, "actor": "a" * 65}, "actor"),
])
def test_data_that_does_not_fit_is_refused(kind: str, data: dict[str, Any], why: str) -> None:
    with pytest.raises(ValidationError, match=why):
        EventMessage.received(message(kind, data))

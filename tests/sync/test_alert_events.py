"""The alert loop on a real Mosquitto: acknowledgements, folded counts, audit records and
escalated alerts reach a platform subscriber, each in the form sync/messages.py says."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory

from edge.app import GateApp
from edge.settings import parse_settings
from gate.audit import record_audit
from gate.clock import ManualClock, SystemClock
from gate.model import AlertSpec, Method, Severity
from gate.observation import Observation
from gate.passes import encode_pass, generate_signing_key
from gate.vocabulary import AlertKind, AuditKind, EventType
from sync.messages import EventMessage
from sync.sinks.formats import WebhookRoute, work_chat_text
from tests.fixtures.broker import Broker
from tests.gate.passes_support import claims
from tests.sync.support import COMPOUND, GATE, TOPICS, Subscriber, platform_trust, wait_until

pytestmark = pytest.mark.broker
FORGER = generate_signing_key()


def settings(tmp_path: Path, broker: Broker, client_id: str, **alerts: Any) -> Any:
    trust_path = tmp_path / "trust.json"
    platform_trust().save(trust_path)
    return parse_settings({
        "gate": {"gate_id": GATE, "compound_id": COMPOUND},
        "readers": [{"reader_id": "in-cam", "direction": "in", "camera": "0", "relay_pin": 17},
                    {"reader_id": "out-cam", "direction": "out", "camera": "0",
                     "relay_pin": 18}],
        "passes": {"trust_list": str(trust_path)},
        "storage": {"state_dir": str(tmp_path / "state")},
        "mqtt": {"enabled": True, "host": broker.host, "port": broker.port, "prefix": "gg",
                 "client_id": client_id, "reconnect_min_s": 0.1},
        "alerts": alerts,
    })


@pytest.fixture
def subscriber(module_broker: Broker, request: pytest.FixtureRequest) -> Iterator[Subscriber]:
    sub = Subscriber(module_broker, client_id=f"sub-{request.node.name}"[:60])
    yield sub
    sub.close()


def received(sub: Subscriber, topic: str) -> list[EventMessage]:
    """Messages on `topic` as a consumer takes them (refusing data that does not fit)."""
    return [EventMessage.received(m) for m in sub.on(topic)]


def forged(app: GateApp, n: int) -> None:
    now = app.clock.now()
    text = encode_pass(claims(pass_id=f"forged-{n}", compound_id=COMPOUND), FORGER)
    check = app.checkpoint.check_pass(text, now)
    app.checkpoint.handle(Observation(reader=app.readers["in-cam"], method=Method.PASS,
                                      seen_at=now, pass_check=check))


def test_acknowledgements_counts_and_audit_records_reach_the_platform(
        module_broker: Broker, subscriber: Subscriber, tmp_path: Path) -> None:
    grid_topic = TOPICS.grid_alerts("grid-7")
    with GateApp(settings(tmp_path, module_broker, "alert-events-gate"),
                 pin_factory=MockFactory(), time_synchronised=lambda: True) as app:
        app.start_sync()
        alert = app.journal.record_alert(
            AlertSpec(AlertKind.RED_EXIT_ATTEMPT, Severity.URGENT, "红码人员试图外出",
                      "red-permit holder tried to leave"), person_id="p-301", grid_id="grid-7")
        [ack] = app.journal.acknowledge_alerts([alert.row["id"]], "guard1", "called the grid")
        record_audit(app.journal, AuditKind.LOGIN_FAILED, actor="guard1",
                     address="192.0.2.7", detail="wrong name or password")
        for n in range(5):
            forged(app, n)
        wait_until(lambda: len(sub_types(subscriber, grid_topic)) >= 2, what="alert and ack")
        wait_until(lambda: len(sub_types(subscriber, TOPICS.gate_alerts)) >= 5,
                   what="forged-pass alerts and counts")
        wait_until(lambda: any(e.type == EventType.AUDIT for e in received(
            subscriber, TOPICS.events)), what="the audit event")
    on_grid = received(subscriber, grid_topic)
    assert [m.type for m in on_grid] == [EventType.ALERT, EventType.ALERT_ACK]
    answer = on_grid[1]
    assert answer.event_id == ack.event_id and answer.data["alert_event_id"] == alert.event_id
    assert answer.data["acknowledged_by"] == "guard1"
    assert answer.data["comment"] == "called the grid" and answer.data["kind"] == "red_exit_attempt"
    assert answer.at >= on_grid[0].at
    [audit] = [m for m in received(subscriber, TOPICS.events) if m.type == EventType.AUDIT]
    assert audit.data["kind"] == "login_failed" and audit.data["address"] == "192.0.2.7"
    # Five forged passes: two new alerts (forged_pass, then probing with count 3) and counts.
    on_gate = received(subscriber, TOPICS.gate_alerts)
    assert [(m.type, m.data["kind"], m.data.get("count")) for m in on_gate] == [
        (EventType.ALERT, "forged_pass", None),
        (EventType.ALERT_UPDATE, "forged_pass", 2),
        (EventType.ALERT, "probing", 3),
        (EventType.ALERT_UPDATE, "probing", 4),
        (EventType.ALERT_UPDATE, "probing", 5)]
    seqs = [m.seq for m in on_gate]
    assert seqs == sorted(seqs)


def sub_types(sub: Subscriber, topic: str) -> list[str]:
    return [m["type"] for m in sub.on(topic)]


def test_an_unanswered_urgent_alert_is_escalated_once_to_the_street_office(
        module_broker: Broker, subscriber: Subscriber, tmp_path: Path) -> None:
    clock = ManualClock(SystemClock().now())
    with GateApp(settings(tmp_path, module_broker, "escalating-gate",
                          escalate_after_minutes=10, escalate_to="street_office"),
                 clock=clock, pin_factory=MockFactory(), time_synchronised=lambda: True) as app:
        app.start_sync()
        alert = app.journal.record_alert(
            AlertSpec(AlertKind.DOOR_FORCED, Severity.URGENT, "门被强行打开",
                      "door forced open"), reader_id="in-cam")
        clock.advance(9 * 60)
        app.watch()
        clock.advance(2 * 60)
        for _ in range(3):
            app.watch()  # the gate looks every 15 s; the alert is escalated once
        wait_until(lambda: subscriber.on(TOPICS.street_alerts), what="the escalated copy")
        time.sleep(0.5)  # time for a second copy to arrive, were there one
    [copy] = received(subscriber, TOPICS.street_alerts)
    assert copy.type == EventType.ALERT and copy.data["escalated"] is True
    assert copy.data["escalated_from"] == alert.event_id and copy.event_id != alert.event_id
    assert copy.data["kind"] == "door_forced" and copy.data["unanswered_s"] == 11 * 60
    assert copy.data["audience"] == "street_office"
    [original] = received(subscriber, TOPICS.gate_alerts)
    assert original.event_id == alert.event_id and "escalated" not in original.data


def test_escalation_to_a_grid_and_to_a_webhook_only_for_escalations(
        module_broker: Broker, subscriber: Subscriber, tmp_path: Path) -> None:
    clock = ManualClock(SystemClock().now())
    with GateApp(settings(tmp_path, module_broker, "grid-escalating-gate",
                          escalate_after_minutes=1, escalate_to="grid:grid-9"),
                 clock=clock, pin_factory=MockFactory(), time_synchronised=lambda: True) as app:
        app.start_sync()
        app.journal.record_alert(AlertSpec(AlertKind.RED_EXIT_ATTEMPT, Severity.URGENT, "红",
                                           "red"), grid_id="grid-7", person_id="p-301")
        clock.advance(61)
        app.watch()
        wait_until(lambda: subscriber.on(TOPICS.grid_alerts("grid-9")), what="grid-9 copy")
    [copy] = received(subscriber, TOPICS.grid_alerts("grid-9"))
    assert copy.data["grid_id"] == "grid-7" and copy.data["audience"] == "grid:grid-9"
    # The webhook named as the second audience gets escalations only; the others get both.
    route = WebhookRoute("street", "work_chat", escalated_only=True)
    normal = WebhookRoute("grid-7-chat", "work_chat")
    [original] = received(subscriber, TOPICS.grid_alerts("grid-7"))
    assert not route.wants(original) and route.wants(copy)
    assert normal.wants(original) and normal.wants(copy)
    assert "升级·1 分钟无人确认" in work_chat_text(copy, "Asia/Shanghai")
    assert "ESCALATED" in work_chat_text(copy, "Asia/Shanghai")

"""Each row of docs/degraded.md, on the whole gate (GateApp, real SQLite, gpiozero MockFactory)
with a real Mosquitto: what the gate does, what it alerts. The full-disk row is
tests/edge/test_full_disk.py; what the gates of a compound do while they cannot hear each
other is tests/sync/test_peers.py and tests/gate/test_decide_compound.py."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory

from edge.app import GateApp
from edge.settings import parse_settings
from gate.clock import ManualClock, SystemClock
from gate.model import Method
from gate.observation import Observation
from gate.passes import encode_pass
from gate.policy import Policy
from gate.vocabulary import AlertKind, EventType, Rule
from sync.messages import EventMessage
from sync.platform import signed_document
from sync.topics import DocumentKind
from tests.fixtures.broker import Broker
from tests.gate.passes_support import claims
from tests.sync.support import (
    COMPOUND,
    GATE,
    PLATFORM_KEY,
    TOPICS,
    Subscriber,
    platform_trust,
    start_broker,
    wait_until,
)

pytestmark = pytest.mark.broker
IN_PIN, OUT_PIN = 17, 18


def settings(tmp_path: Path, port: int, client_id: str, camera: str = "0",
             **sections: Any) -> Any:
    trust_path = tmp_path / "trust.json"
    platform_trust().save(trust_path)
    config: dict[str, Any] = {
        "gate": {"gate_id": GATE, "compound_id": COMPOUND},
        "readers": [{"reader_id": "in-cam", "direction": "in", "camera": camera,
                     "relay_pin": 17},
                    {"reader_id": "out-cam", "direction": "out", "camera": camera,
                     "relay_pin": 18}],
        "door": {"open_seconds": 30},
        "passes": {"trust_list": str(trust_path)},
        "storage": {"state_dir": str(tmp_path / "state")},
        "mqtt": {"enabled": True, "host": "127.0.0.1", "port": port, "prefix": "gg",
                 "client_id": client_id, "reconnect_min_s": 0.1, "reconnect_max_s": 0.5},
    }
    for name, values in sections.items():
        config[name] = {**config.get(name, {}), **values}
    return parse_settings(config)


def show_pass(app: GateApp, reader_id: str, n: int) -> Any:
    now = app.clock.now()
    text = encode_pass(claims(pass_id=f"pass-{n}", not_before=now - timedelta(days=1),
                              issued_at=now - timedelta(days=1),
                              expires_at=now + timedelta(days=9)), PLATFORM_KEY)
    return app.checkpoint.handle(Observation(
        reader=app.readers[reader_id], method=Method.PASS, seen_at=now,
        pass_check=app.checkpoint.check_pass(text, now)))


def alerts_of(sub: Subscriber, kind: AlertKind) -> list[EventMessage]:
    return [e for e in sub.events() if e.type == EventType.ALERT and e.data["kind"] == kind]


@pytest.fixture
def broker(tmp_path: Path) -> Any:
    b = start_broker(tmp_path / "broker")
    yield b
    b.stop()


def test_network_or_broker_down_the_door_opens_and_events_wait_for_the_link(
        tmp_path: Path, broker: Broker) -> None:
    broker.stop()  # the network is down as the gate starts
    factory = MockFactory()
    with GateApp(settings(tmp_path, broker.port, "degraded-net-gate"), pin_factory=factory,
                 time_synchronised=lambda: True) as app:
        sync = app.sync
        assert sync is not None
        app.start_sync()
        first = show_pass(app, "in-cam", 1)
        assert first.released and factory.pin(IN_PIN).state is True  # decided alone
        waiting = sync.outbox_waiting()
        assert waiting >= 1 and not sync.connected
        broker.start()  # the link comes back: what waited is sent (the broker's PUBACKs)
        wait_until(lambda: sync.connected and sync.outbox_waiting() == 0, timeout=20,
                   what="everything decided while the network was down, delivered")
        broker.stop()  # the broker goes down while the gate runs
        second = show_pass(app, "out-cam", 2)
        assert second.released and factory.pin(OUT_PIN).state is True
        assert sync.outbox_waiting() >= 1
        broker.start()
        wait_until(lambda: sync.connected and sync.outbox_waiting() == 0, timeout=20,
                   what="delivered after the broker came back")
    factory.reset()


def test_platform_down_the_gate_asks_for_its_documents_and_decides_on_what_it_holds(
        tmp_path: Path, broker: Broker) -> None:
    sub = Subscriber(broker, client_id="degraded-platform-watch")
    factory = MockFactory()
    with GateApp(settings(tmp_path, broker.port, "degraded-platform-gate"),
                 pin_factory=factory, time_synchronised=lambda: True) as app:
        app.start_sync()
        wait_until(lambda: len(sub.on(TOPICS.requests)) >= len(DocumentKind),
                   what="snapshot requests for every document")
        asked = {m["data"]["document"] for m in sub.on(TOPICS.requests)}
        assert asked == {k.value for k in DocumentKind}
        assert show_pass(app, "in-cam", 1).released  # the installed trust list decides
    sub.close()
    factory.reset()


def test_camera_down_the_reader_stops_with_an_alert_and_the_door_still_obeys(
        tmp_path: Path, broker: Broker) -> None:
    sub = Subscriber(broker, client_id="degraded-camera-platform")
    factory = MockFactory()
    gone = str(tmp_path / "unplugged.mp4")
    with GateApp(settings(tmp_path, broker.port, "degraded-camera-gate", camera=gone),
                 pin_factory=factory, time_synchronised=lambda: True) as app:
        app.start_readers()
        assert app.wait(timeout=20)  # both readers stopped on their camera
        app.watch()
        app.watch()  # once per outage
        wait_until(lambda: len(alerts_of(sub, AlertKind.CAMERA_DOWN)) == 2, timeout=20,
                   what="a camera_down alert per reader")
        assert {e.data["reader_id"] for e in alerts_of(sub, AlertKind.CAMERA_DOWN)} == {
            "in-cam", "out-cam"}
        assert all(e.data["severity"] == "urgent" for e in alerts_of(sub,
                                                                     AlertKind.CAMERA_DOWN))
        assert not app.pipelines["in-cam"].stats.camera_ok  # the panel's health shows it
        outcome = app.controls.open_once("in-cam", actor="guard1", reason="camera down")
        assert outcome.released and factory.pin(IN_PIN).state is True
    sub.close()
    factory.reset()


def test_clock_not_synchronised_the_gate_decides_and_alerts_once(
        tmp_path: Path, broker: Broker) -> None:
    sub = Subscriber(broker, client_id="degraded-clock-platform")
    factory = MockFactory()
    with GateApp(settings(tmp_path, broker.port, "degraded-clock-gate"), pin_factory=factory,
                 time_synchronised=lambda: False) as app:
        app.start_sync()
        app.watch()
        app.watch()
        assert show_pass(app, "in-cam", 1).released
        wait_until(lambda: alerts_of(sub, AlertKind.CLOCK_UNSYNCED), what="clock alert")
        wait_until(lambda: any(e.type == EventType.PASSAGE for e in sub.events()),
                   what="the passage after it")
    [alert] = alerts_of(sub, AlertKind.CLOCK_UNSYNCED)
    assert alert.data["severity"] == "warning" and "not synchronised" in alert.data[
        "message_en"]
    sub.close()
    factory.reset()


@pytest.mark.parametrize("when_stale", ["alert", "guard"])
def test_trust_list_and_policy_past_their_maximum_age(tmp_path: Path, broker: Broker,
                                                       when_stale: str) -> None:
    sub = Subscriber(broker, client_id=f"degraded-stale-{when_stale}-platform")
    factory = MockFactory()
    clock = ManualClock(SystemClock().now())
    config = settings(tmp_path, broker.port, f"degraded-stale-{when_stale}-gate",
                      freshness={"trust_max_age_days": 30, "policy_max_age_days": 30,
                                 "when_stale": when_stale})
    with GateApp(config, clock=clock, pin_factory=factory,
                 time_synchronised=lambda: True) as app:
        assert app.sync is not None
        inbox = app.sync.inbox
        old = clock.now() - timedelta(days=31)
        keys = platform_trust().to_json()["keys"]
        for kind, body in ((DocumentKind.TRUST, {"keys": keys}),
                           (DocumentKind.POLICY, {"policy": Policy().model_dump(mode="json")})):
            signed = signed_document(kind, body, version=1, compound_id=COMPOUND,
                                     key=PLATFORM_KEY, now=old)
            assert inbox.process(TOPICS.documents(kind), signed) == "document_applied"
        app.start_sync()
        app.watch()
        app.watch()  # once per episode
        wait_until(lambda: alerts_of(sub, AlertKind.TRUST_STALE)
                   and alerts_of(sub, AlertKind.POLICY_STALE), what="both stale alerts")
        [trust] = alerts_of(sub, AlertKind.TRUST_STALE)
        assert trust.data["severity"] == "urgent" and "31 days" in trust.data["message_en"]
        outcome = show_pass(app, "in-cam", 1)
        if when_stale == "guard":
            assert outcome.decision.rule == Rule.RULES_STALE and not outcome.released
            assert factory.pin(IN_PIN).state is False
            # The guard decides: an open-once still opens.
            assert app.controls.open_once("in-cam", actor="guard1", reason="known").released
        else:
            assert outcome.released and factory.pin(IN_PIN).state is True
        # The platform issues the trust list and policy again: the gate is current again.
        for kind, body in ((DocumentKind.TRUST, {"keys": keys}),
                           (DocumentKind.POLICY, {"policy": Policy().model_dump(mode="json")})):
            signed = signed_document(kind, body, version=2, compound_id=COMPOUND,
                                     key=PLATFORM_KEY, now=clock.now())
            assert inbox.process(TOPICS.documents(kind), signed) == "document_applied"
        app.watch()
        assert app.rules.stale == {}
        assert show_pass(app, "out-cam", 2).released
    sub.close()
    factory.reset()

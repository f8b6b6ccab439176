"""The whole gate with its platform link on: a pass scanned at the reader reaches the platform,
a red exit alerts the grid, and the platform's documents change the gate's decisions."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from edge.app import GateApp
from gate.clock import SystemClock
from gate.model import Colour, Method
from gate.observation import Observation
from gate.passes import encode_pass
from gate.passes.claims import PassClaims
from sync.platform import publish, signed_document
from sync.topics import DocumentKind
from tests.fixtures.broker import Broker
from tests.sync.support import (
    COMPOUND,
    PLATFORM_KEY,
    TOPICS,
    Subscriber,
    broker_options,
    wait_until,
)
from tests.sync.test_inbound import gate_settings

pytestmark = pytest.mark.broker


def scan(app: GateApp, reader_id: str, colour: Colour = Colour.GREEN) -> bool:
    now = SystemClock().now()
    claims = PassClaims(pass_id=f"pass-{now.timestamp()}", person_id="p-101", household_id="h-1",
                        compound_id=COMPOUND, colour=colour, issued_at=now - timedelta(days=1),
                        not_before=now - timedelta(days=1), expires_at=now + timedelta(days=9),
                        grid_id="grid-7")
    check = app.checkpoint.check_pass(encode_pass(claims, PLATFORM_KEY), now)
    observation = Observation(reader=app.readers[reader_id], method=Method.PASS, seen_at=now,
                              pass_check=check)
    return app.checkpoint.handle(observation).decision.granted


def test_scans_reach_the_platform_and_platform_permits_change_decisions(
        module_broker: Broker, tmp_path: Path) -> None:
    settings = gate_settings(tmp_path, port=module_broker.port, client_id="app-gate",
                             reconnect_min_s=0.1)
    sub = Subscriber(module_broker, client_id="app-sub")
    with GateApp(settings, pin_factory=MockFactory()) as app:
        app.start_sync()
        assert scan(app, "out-cam")  # green: may leave
        passages = lambda: [e for e in sub.events() if e.type == "passage"]  # noqa: E731
        wait_until(lambda: len(passages()) == 1, what="the passage at the platform")
        assert passages()[0].data["direction"] == "out"
        assert any(e.type == "door" and e.data["kind"] == "released" for e in sub.events())
        # The platform turns the person red: the next exit is denied and the grid alerted.
        red = signed_document(DocumentKind.PERMITS, {"permits": [
            {"person_id": "p-101", "colour": "red", "reason": "居家观察"}]}, version=1,
            compound_id=COMPOUND, key=PLATFORM_KEY, now=SystemClock().now())
        publish(broker_options(module_broker, client_id="app-platform", persistent=False),
                [(TOPICS.documents(DocumentKind.PERMITS), red, False)])
        wait_until(lambda: app.registry.permit("p-101") is not None, what="permits applied")
        assert not scan(app, "out-cam")
        wait_until(lambda: sub.on(TOPICS.grid_alerts("grid-7")), what="grid alert")
        assert sub.on(TOPICS.grid_alerts("grid-7"))[0]["data"]["severity"] == "urgent"
    wait_until(lambda: sub.on(TOPICS.state)[-1]["online"] is False, what="offline on close")
    sub.close()


def test_the_state_message_carries_the_journal_chain_head(module_broker: Broker,
                                                          tmp_path: Path) -> None:
    settings = gate_settings(tmp_path, port=module_broker.port, client_id="chain-gate",
                             reconnect_min_s=0.1)
    sub = Subscriber(module_broker, client_id="chain-sub")
    with GateApp(settings, pin_factory=MockFactory()) as app:
        app.start_sync()
        assert scan(app, "out-cam")
        head = app.journal.chain_head()
        assert head["seq"] >= 2  # the passage and the relay's release
        assert app.sync is not None
        app.sync.publisher.request_state()
        wait_until(lambda: any(m.get("chain") == head for m in sub.on(TOPICS.state)),
                   what="the chain head in the retained state")
    sub.close()

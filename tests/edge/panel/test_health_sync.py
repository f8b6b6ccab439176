"""Gate health with the real platform link (a real Mosquitto): broker state and outbox."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from gpiozero.pins.mock import MockFactory

from edge.app import GateApp
from edge.panel.server import start_panel
from edge.panel.services import SyncStatus
from edge.settings import parse_settings
from gate.model import AlertSpec, Severity
from gate.vocabulary import AlertKind
from tests.edge.panel.conftest import ADMIN_PASSWORD, fast_hasher, gate_config
from tests.edge.panel.test_server import login
from tests.fixtures.broker import Broker

pytestmark = pytest.mark.broker


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Broker]:
    broker = Broker(tmp_path)
    broker.start()
    yield broker
    broker.stop()


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} within {timeout} s")


def test_health_shows_the_broker_and_the_outbox(mosquitto: Broker, tmp_path: Path) -> None:
    broker = mosquitto
    config = gate_config(tmp_path)
    config["mqtt"] = {"enabled": True, "host": "127.0.0.1", "port": broker.port,
                      "reconnect_min_s": 0.1, "reconnect_max_s": 0.5}
    config["panel"] = {"port": 0}
    with GateApp(parse_settings(config), pin_factory=MockFactory()) as gate, start_panel(
            gate, gate.settings.panel, sync=SyncStatus.of(gate.sync), hasher=fast_hasher(),
            announce=lambda text: None) as panel:
        panel.services.users.add("root", "admin", ADMIN_PASSWORD)
        gate.start_sync()
        with httpx.Client(base_url=panel.url) as client:
            login(client, "root", ADMIN_PASSWORD)
            health = lambda: client.get("/api/health").json()  # noqa: E731
            wait_for(lambda: health()["broker"] == "connected", "the broker shows connected")
            assert health()["versions"]["documents"] == {}  # no platform document yet
            wait_for(lambda: health()["outbox_waiting"] == 0, "the outbox drains")
            broker.stop()
            wait_for(lambda: health()["broker"] == "disconnected", "the outage shows")
            gate.journal.record_alert(
                AlertSpec(AlertKind.CONFIG_CHANGED, Severity.INFO, "测试", "test"))
            wait_for(lambda: health()["outbox_waiting"] >= 1, "the alert waits in the outbox")
            assert "未连接" in client.get("/health").text
            broker.start()
            wait_for(lambda: health()["broker"] == "connected", "the link comes back")
            wait_for(lambda: health()["outbox_waiting"] == 0, "the waiting alert is sent")

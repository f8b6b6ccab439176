"""An open live feed (Server-Sent Events on a real uvicorn server) ends soon after its session
does, however busy the gate is: removed account, logout, password change."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from edge.app import GateApp
from edge.cli.user import user
from edge.panel.live import LiveItem
from edge.panel.routes.live import SESSION_CHECK_S
from edge.panel.server import PanelServer, start_panel
from edge.settings.panel import PanelSettings
from tests.edge.panel.conftest import ADMIN_PASSWORD, PASSWORD, fast_hasher
from tests.edge.panel.test_server import Feed, login


@pytest.fixture
def server(gate: GateApp) -> Iterator[PanelServer]:
    server = start_panel(gate, PanelSettings(port=0), hasher=fast_hasher(),
                         announce=lambda text: None)
    server.services.users.add("root", "admin", ADMIN_PASSWORD)
    server.services.users.add("guard1", "guard", PASSWORD)
    yield server
    server.stop()


class BusyGate:
    """Door events every 0.2 s for as long as the test runs: the feed is never idle."""

    def __init__(self, server: PanelServer) -> None:
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(server,), daemon=True)
        self.thread.start()

    def _run(self, server: PanelServer) -> None:
        while not self.stopped.wait(0.2):
            server.services.hub.publish(LiveItem("door", {"door": "in-cam", "kind": "pulse"}))

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(2)


@pytest.fixture
def busy(server: PanelServer) -> Iterator[BusyGate]:
    traffic = BusyGate(server)
    yield traffic
    traffic.stop()


def open_feed(server: PanelServer, name: str, password: str) -> tuple[httpx.Client, str, Feed]:
    client = httpx.Client(base_url=server.url, timeout=10)
    csrf = login(client, name, password)
    feed = Feed(client)
    feed.wait_for("door", 2)  # events are flowing
    return client, csrf, feed


def ended_within(feed: Feed, seconds: float) -> float:
    """How long the stream took to end; fails when it is still open after `seconds`."""
    start = time.monotonic()
    feed.thread.join(seconds)
    assert not feed.thread.is_alive(), f"the live feed is still open after {seconds} s"
    return time.monotonic() - start


def test_feed_ends_when_the_account_is_removed_elsewhere(
        server: PanelServer, busy: BusyGate, tmp_path: Path) -> None:
    client, _, feed = open_feed(server, "guard1", PASSWORD)
    # `gridgate user remove` runs in another process: nothing tells the panel but the database.
    removed = CliRunner().invoke(user, ["remove", "guard1", "--yes", "-c",
                                        str(tmp_path / "gridgate.toml")])
    assert removed.exit_code == 0, removed.output
    delivered = len(feed.received)
    took = ended_within(feed, SESSION_CHECK_S + 2)
    assert took <= SESSION_CHECK_S + 1
    assert len(feed.received) - delivered <= (SESSION_CHECK_S + 1) / 0.2 + 2
    assert client.get("/api/me").status_code == 401
    client.close()


def test_feed_ends_at_once_when_an_admin_removes_the_user(server: PanelServer,
                                                          busy: BusyGate) -> None:
    client, _, feed = open_feed(server, "guard1", PASSWORD)
    admin = httpx.Client(base_url=server.url, timeout=10)
    csrf = login(admin, "root", ADMIN_PASSWORD)
    response = admin.post("/users/guard1/remove", data={"csrf_token": csrf})
    assert response.status_code == 303
    assert ended_within(feed, 2) < 1.0
    admin.close()
    client.close()


def test_feed_ends_at_once_on_logout(server: PanelServer, busy: BusyGate) -> None:
    client, csrf, feed = open_feed(server, "guard1", PASSWORD)
    other, _, other_feed = open_feed(server, "root", ADMIN_PASSWORD)
    assert client.post("/logout", data={"csrf_token": csrf}).status_code == 303
    assert ended_within(feed, 2) < 1.0
    # Other sessions keep their feed.
    seen = len(other_feed.received)
    other_feed.wait_for("door", seen + 3)
    assert other_feed.thread.is_alive()
    server.stop()  # ends the remaining feed before its client goes
    ended_within(other_feed, 3)
    other.close()
    client.close()


def test_feed_ends_at_once_on_password_change(server: PanelServer, busy: BusyGate) -> None:
    client, csrf, feed = open_feed(server, "guard1", PASSWORD)
    changed = client.post("/account/password", data={
        "current": PASSWORD, "password": "new password 2", "password2": "new password 2",
        "csrf_token": csrf})
    assert changed.status_code == 303
    assert ended_within(feed, 2) < 1.0
    client.close()

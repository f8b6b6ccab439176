"""Idle sockets cannot take the gate display away from its kiosk: real uvicorn beside a gate on
the MockFactory, real TCP clients from loopback and from this machine's network address."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from gpiozero.pins.mock import MockFactory

from edge.app import GateApp
from edge.connection_guard import HEADER_TIMEOUT_S, ConnectionLimits
from edge.display.server import LOCAL_RESERVE, MAX_CONNECTIONS, PER_CLIENT, start_displays
from edge.settings import parse_settings
from tests.edge.connection_support import close_all, closed_by_server, connect, lan_address
from tests.edge.display.support import display_config


class Screens:
    def __init__(self, root: Path, screen: dict[str, Any], header_timeout_s: float) -> None:
        self.factory = MockFactory()
        config = display_config(root)
        config["display"]["screens"] = [{"reader_id": "in-cam", "port": 0, **screen}]
        self.app = GateApp(parse_settings(config), pin_factory=self.factory)
        server = start_displays(self.app, header_timeout_s=header_timeout_s)
        assert server is not None
        self.server = server
        self.port = int(server.urls["in-cam"].rstrip("/").rsplit(":", 1)[1])
        self.kiosk = f"http://127.0.0.1:{self.port}/screen.json"

    def close(self) -> None:
        self.server.stop()
        self.app.close()
        self.factory.reset()


@pytest.fixture
def screens(tmp_path: Path) -> Iterator[Any]:
    made: list[Screens] = []

    def make(header_timeout_s: float = HEADER_TIMEOUT_S, **screen: Any) -> Screens:
        made.append(Screens(tmp_path, screen, header_timeout_s))
        return made[-1]

    yield make
    for s in made:
        s.close()


def test_a_stranger_is_dropped_before_a_byte_is_read_and_the_kiosk_keeps_its_screen(
        screens: Any) -> None:
    lan = lan_address()
    s = screens(host="0.0.0.0", allowed_clients=["198.51.100.7"])
    socks = [connect(lan, s.port, source=lan) for _ in range(2 * MAX_CONNECTIONS)]
    try:
        dropped = [closed_by_server(sock, within=2) for sock in socks]
        print(f"stranger's {len(socks)} idle sockets closed after at most "
              f"{max(d for d in dropped if d is not None):.3f} s" if all(dropped) else dropped)
        assert all(d is not None for d in dropped), "every stranger's socket is closed at once"
        started = time.monotonic()
        kiosk = httpx.get(s.kiosk, timeout=5)
        print(f"the kiosk on loopback: {kiosk.status_code} in {time.monotonic() - started:.3f} s")
        assert kiosk.status_code == 200
        with pytest.raises(httpx.TransportError):  # no answer at all, not even a 403 to read
            httpx.get(f"http://{lan}:{s.port}/screen.json", timeout=5)
        assert s.server.services.sites  # the screen is still served
    finally:
        close_all(socks)


def test_idle_and_trickling_connections_are_closed_after_the_header_deadline(
        screens: Any) -> None:
    s = screens(header_timeout_s=3.0)
    kept_alive = connect("127.0.0.1", s.port)
    trickle = connect("127.0.0.1", s.port)
    idle = [connect("127.0.0.1", s.port) for _ in range(MAX_CONNECTIONS - 2)]
    socks = [*idle, trickle, kept_alive]
    try:
        # A whole request, then only the start of the next head on the same connection.
        kept_alive.sendall(b"GET /screen.json HTTP/1.1\r\nHost: gate\r\n\r\n")
        assert kept_alive.recv(4096).startswith(b"HTTP/1.1 200")
        kept_alive.sendall(b"GET /screen.json HTTP/1.1\r\n")
        started = time.monotonic()
        with pytest.raises(httpx.TransportError):  # every connection is taken, for now
            httpx.get(s.kiosk, timeout=5)
        for part in (b"GET /scr", b"een.json HTTP/1.1\r\n", b"Host: g", b"ate\r\n"):
            try:  # a few bytes now and then keep uvicorn's keep-alive timer off
                trickle.sendall(part)
            except OSError:
                break  # cut off already (a slow machine): what is asserted next
            time.sleep(0.6)
        assert closed_by_server(trickle, within=5) is not None, "a trickled head is cut off"
        assert closed_by_server(kept_alive, within=5) is not None
        waits = [closed_by_server(sock, within=5) for sock in idle]
        print(f"idle sockets closed {time.monotonic() - started:.2f} s after the trickle "
              f"began (deadline 3 s)")
        assert all(w is not None for w in waits)
        assert httpx.get(s.kiosk, timeout=5).status_code == 200
    finally:
        close_all(socks)


def test_one_allowed_tablet_holds_at_most_its_share(screens: Any) -> None:
    lan = lan_address()
    s = screens(host="0.0.0.0", allowed_clients=[lan])
    socks = [connect(lan, s.port, source=lan) for _ in range(PER_CLIENT + 4)]
    try:
        time.sleep(0.3)  # refusals are immediate; the header deadline is seconds away
        states = [closed_by_server(sock, within=0.01) for sock in socks]
        print("the tablet's idle sockets, closed (s) or kept (None):", states)
        assert states[:PER_CLIENT] == [None] * PER_CLIENT, "its share stays open"
        assert all(w is not None for w in states[PER_CLIENT:]), "beyond it: closed at once"
        assert httpx.get(s.kiosk, timeout=5).status_code == 200
        close_all(socks)
        tablet = httpx.get(f"http://{lan}:{s.port}/screen.json", timeout=5)
        assert tablet.status_code == 200, "once it lets go, the tablet is served"
    finally:
        close_all(socks)


def test_the_limits_keep_room_for_this_machine() -> None:
    limits = ConnectionLimits(total=10, per_client=3, local_reserve=4)
    assert limits.refusal("192.0.2.9", 1, ["192.0.2.9"] * 2) is None
    assert "from one address" in str(limits.refusal("192.0.2.9", 1, ["192.0.2.9"] * 3))
    network = ["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.5", "192.0.2.6"]
    assert "kept for this machine" in str(limits.refusal("192.0.2.7", 1, network))
    for local in ("127.0.0.1", "::1", "::ffff:127.0.0.1"):
        assert limits.refusal(local, 1, network) is None
        assert limits.refusal(local, 1, ["127.0.0.1"] * 9) is None
    assert "in use" in str(limits.refusal("127.0.0.1", 1, network + ["127.0.0.1"] * 4))
    strict = ConnectionLimits(total=10, per_client=3, local_reserve=4,
                              admits=lambda client, port: port == 8091)
    assert strict.refusal("127.0.0.1", 8092, []) == "not an allowed client"
    assert limits.server_limit == 11
    assert (MAX_CONNECTIONS, PER_CLIENT, LOCAL_RESERVE) == (32, 8, 8)
    for bad in ({"local_reserve": 10}, {"per_client": 0}, {"header_timeout_s": 0.0},
                {"header_timeout_s": float("nan")}):
        with pytest.raises(ValueError, match="connection limits"):
            ConnectionLimits(**{"total": 10, "per_client": 3, "local_reserve": 4, **bad})


def test_a_kiosk_page_and_its_stream_still_work(screens: Any) -> None:
    s = screens()
    with httpx.Client(timeout=5) as client:
        for _ in range(3):  # one kept-alive connection, several requests
            assert client.get(s.kiosk).status_code == 200
    with socket.create_connection(("127.0.0.1", s.port), timeout=5) as sock:
        sock.sendall(b"GET /events HTTP/1.1\r\nHost: gate\r\n\r\n")
        time.sleep(HEADER_TIMEOUT_S + 0.5)  # a stream that lives longer than the deadline
        data = sock.recv(65536)
        assert data.startswith(b"HTTP/1.1 200") and b"text/event-stream" in data
        sock.settimeout(3)
        assert sock.recv(4096), "the stream goes on past the header deadline"

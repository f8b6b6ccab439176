"""Idle sockets cannot lock the guards out of their panel: real uvicorn, plain HTTP and TLS, real
TCP clients from loopback and from this machine's network address."""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
from pathlib import Path

import httpx

from edge.app import GateApp
from edge.panel.server import LOCAL_RESERVE, MAX_CONNECTIONS, PER_CLIENT, start_panel
from edge.panel.tls import create_self_signed
from edge.settings.panel import PanelSettings
from tests.edge.connection_support import close_all, closed_by_server, connect, lan_address
from tests.edge.panel.conftest import fast_hasher


def test_idle_sockets_no_longer_fill_the_panel(gate: GateApp) -> None:
    settings = PanelSettings(host="0.0.0.0", port=0, allow_insecure_http=True)
    server = start_panel(gate, settings, hasher=fast_hasher(), announce=print,
                         header_timeout_s=1.0)
    socks: list[socket.socket] = []
    try:
        page = f"http://127.0.0.1:{server.port}/setup"  # no admin yet: the first page
        socks = [connect("127.0.0.1", server.port) for _ in range(MAX_CONNECTIONS)]
        started = time.monotonic()
        waits = [closed_by_server(sock, within=4) for sock in socks]
        print(f"{len(socks)} idle sockets closed by the panel within "
              f"{time.monotonic() - started:.2f} s (deadline 1 s)")
        assert all(w is not None for w in waits)
        assert httpx.get(page, timeout=5).status_code == 200
    finally:
        close_all(socks)
        server.stop()


def test_one_machine_on_the_network_holds_at_most_its_share(gate: GateApp) -> None:
    lan = lan_address()
    settings = PanelSettings(host="0.0.0.0", port=0, allow_insecure_http=True)
    server = start_panel(gate, settings, hasher=fast_hasher(), announce=print)
    socks: list[socket.socket] = []
    try:
        socks = [connect(lan, server.port, source=lan) for _ in range(PER_CLIENT + 3)]
        time.sleep(0.3)  # refusals are immediate; the header deadline is seconds away
        states = [closed_by_server(sock, within=0.01) for sock in socks]
        print("idle sockets of one network client, closed (s) or kept (None):", states)
        assert states[:PER_CLIENT] == [None] * PER_CLIENT, "its share stays open"
        assert all(w is not None for w in states[PER_CLIENT:]), "beyond it: closed at once"
        # This machine's own clients keep their room meanwhile.
        page = f"http://127.0.0.1:{server.port}/setup"
        assert httpx.get(page, timeout=5).status_code == 200
        assert LOCAL_RESERVE < MAX_CONNECTIONS - PER_CLIENT
    finally:
        close_all(socks)
        server.stop()


def test_an_idle_connection_after_the_tls_handshake_is_closed_too(gate: GateApp,
                                                                  tmp_path: Path) -> None:
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    create_self_signed(cert, key, hosts=["localhost", "127.0.0.1"])
    settings = PanelSettings(port=0, tls=True, tls_cert=cert, tls_key=key)
    server = start_panel(gate, settings, hasher=fast_hasher(), announce=print,
                         header_timeout_s=1.0)
    context = ssl.create_default_context(cafile=str(cert))
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw, \
                context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            tls.sendall(b"GET /login HTTP/1.1\r\n")  # the head never ends
            started = time.monotonic()
            tls.settimeout(4)
            with contextlib.suppress(ConnectionResetError, ssl.SSLError):
                assert tls.recv(4096) == b""
            waited = time.monotonic() - started
            print(f"a TLS connection with half a request head closed after {waited:.2f} s")
            assert waited < 3.5
        with httpx.Client(base_url=server.url, verify=context) as client:
            assert client.get("/setup").status_code == 200
    finally:
        server.stop()

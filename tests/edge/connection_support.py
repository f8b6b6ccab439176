"""Raw TCP clients for the connection-guard tests: idle sockets, trickled request heads, and
this machine's non-loopback address (a client that is not loopback, for real)."""

from __future__ import annotations

import ipaddress
import socket
import time

import pytest


def lan_address() -> str:
    """This machine's address on its default route; skips the test when it has none."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # UDP: nothing is sent, a route is chosen
            address = str(probe.getsockname()[0])
        except OSError:
            address = ""
    if not address or ipaddress.ip_address(address).is_loopback:
        pytest.skip("this machine has no non-loopback IPv4 address to connect from")
    return address


def connect(host: str, port: int, *, source: str | None = None) -> socket.socket:
    """A TCP connection that sends nothing (yet)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if source is not None:
        sock.bind((source, 0))
    sock.settimeout(5)
    sock.connect((host, port))
    return sock


def closed_by_server(sock: socket.socket, within: float) -> float | None:
    """Seconds until the server closed the connection (EOF or reset), None if still open."""
    started = time.monotonic()
    sock.settimeout(max(0.01, within))
    try:
        while True:
            if sock.recv(4096) == b"":
                return time.monotonic() - started
    except (ConnectionResetError, BrokenPipeError):
        return time.monotonic() - started
    except TimeoutError:
        return None


def close_all(socks: list[socket.socket]) -> None:
    for sock in socks:
        sock.close()

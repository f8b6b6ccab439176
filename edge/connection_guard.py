"""Connections to the gate's own web servers (gate displays, guards' panel) judged when they are
made, before a byte of a request is read.

uvicorn counts every open connection against `limit_concurrency`, idle ones too, and answers
503 beyond it; it has no deadline for a request's headers (`timeout_keep_alive` runs only
between requests and restarts with every byte received; uvicorn issue #157 lists a "request
start" timeout as not done), and an ASGI middleware runs only once the headers are in. So a
client that merely opened enough sockets took every slot, and the kiosk on the gate's screen
or the guards' phones got 503 for as long as it liked.

`GuardedH11` is uvicorn's own h11 protocol (h11 is pinned; given as the `http` class, so the
choice does not change with what else is installed) with three checks of its own:
- a client the server does not admit (a display screen's `allowed_clients`) is dropped at
  once, and never counts;
- one address may hold at most `per_client` connections, and the network at large at most
  `total - local_reserve`, so this machine's own clients (loopback: the kiosk, a local proxy)
  always find a free slot;
- a connection has `header_timeout_s` from its opening, and again after each response, to
  send a whole request head; otherwise it is closed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, cast

import h11
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.utils import get_local_addr, get_remote_addr
from uvicorn.server import ServerState

log = logging.getLogger(__name__)
HEADER_TIMEOUT_S = 5.0  # a request head on a LAN takes milliseconds; uvicorn's keep-alive is 5 s
LOG_EVERY_S = 60.0  # refused connections are said at most this often (a flood is one line)


def is_local(address: str) -> bool:
    """True for a loopback client address (IPv4, IPv6, or IPv4 mapped in IPv6)."""
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


@dataclass(frozen=True)
class ConnectionLimits:
    """Who may connect and how many at once; `admits(address, local port)` None: anyone."""

    total: int
    per_client: int
    local_reserve: int
    header_timeout_s: float = HEADER_TIMEOUT_S
    admits: Callable[[str, int], bool] | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.local_reserve < self.total or self.per_client < 1:
            raise ValueError("connection limits: 0 <= local_reserve < total and per_client >= 1")
        if not self.header_timeout_s > 0:
            raise ValueError("connection limits: header_timeout_s must be positive")

    @property
    def server_limit(self) -> int:
        """uvicorn's `limit_concurrency`: it counts the asking connection too, so one above
        ours, and it never answers 503 to a connection admitted here."""
        return self.total + 1

    def refusal(self, client: str, port: int, open_clients: list[str]) -> str | None:
        """Why a new connection from `client` on local `port` is refused, given the addresses
        of the connections open now; None when it is accepted."""
        if self.admits is not None and not self.admits(client, port):
            return "not an allowed client"
        if len(open_clients) >= self.total:
            return "every connection is in use"
        if is_local(client):
            return None
        if sum(1 for c in open_clients if c == client) >= self.per_client:
            return f"more than {self.per_client} connections from one address"
        if sum(1 for c in open_clients if not is_local(c)) >= self.total - self.local_reserve:
            return "the remaining connections are kept for this machine's own clients"
        return None


class _Refusals:
    """Refused connections, said in the log at most once a minute per server."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.count = 0
        self._since_said = 0
        self._said_at = float("-inf")

    def note(self, client: str, why: str) -> None:
        self.count += 1
        self._since_said += 1
        now = time.monotonic()
        if now - self._said_at >= LOG_EVERY_S:
            log.warning("%s: refused %d connection(s), the last from %s: %s", self.name,
                        self._since_said, client, why)
            self._said_at, self._since_said = now, 0


class GuardedH11(H11Protocol):
    """uvicorn's h11 protocol, judged at connection and with a deadline for request heads."""

    limits: ClassVar[ConnectionLimits]
    refusals: ClassVar[_Refusals]

    def __init__(self, config: Config, server_state: ServerState, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._refused = False
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        client = get_remote_addr(transport)
        local = get_local_addr(transport)
        address = client[0] if client else ""
        port = local[1] if local is not None and local[1] is not None else 0
        open_clients = [p.client[0] for p in self.connections
                        if isinstance(p, H11Protocol) and p.client]
        why = self.limits.refusal(address, port, open_clients)
        if why is not None:
            self._refused = True
            self.refusals.note(address, why)
            transport.abort()  # no answer: nothing is read, nothing is kept
            return
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if not self._refused:
            super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:  # a whole request head is in
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # Kept alive for a next request: its head gets the same deadline.
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._arm()

    def _arm(self) -> None:
        self._disarm()
        self._head_timer = self.loop.call_later(self.limits.header_timeout_s, self._too_slow)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _too_slow(self) -> None:
        self._head_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()  # no complete request head in time (idle or trickling)


def guarded_protocol(name: str, limits: ConnectionLimits) -> type[GuardedH11]:
    """A protocol class for one server (uvicorn.Config(http=...)) with these limits."""
    made = type(f"GuardedH11_{name}", (GuardedH11,),
                {"limits": limits, "refusals": _Refusals(name)})
    return cast("type[GuardedH11]", made)

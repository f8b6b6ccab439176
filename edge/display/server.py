"""Serving the gate displays inside the gridgate process: one uvicorn in a thread, one socket
per screen, stopped with the gate.

Not a route set of the guards' panel, for three reasons. The panel may be off, or served over
TLS to the guards' phones, while a kiosk browser on the gate's own HDMI screen wants plain
HTTP on loopback. The display has no login, so it must not share an address with pages that
need one, and each screen is bound only where it is looked at (loopback, or the tablet's
network with `allowed_clients`). And a reader's screen shows only that reader: the port says
which. The panel's security headers and its refusal of bodies before reading them apply here
too (edge/display/app.py).
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

import uvicorn
from fastapi import FastAPI

from edge.connection_guard import HEADER_TIMEOUT_S, ConnectionLimits, guarded_protocol
from edge.display.app import DisplayServices, Site, create_display_app
from edge.display.board import DisplayBoard
from edge.display.prompts import default_dir
from edge.panel.frames import LiveFrames
from edge.panel.gate import PanelReader
from edge.server_thread import stop_server
from edge.settings import Settings
from gate.errors import GridgateError

log = logging.getLogger(__name__)
# Connections at once, over all screens: a kiosk needs two or three (page, stream, preview).
# They are judged when made (edge/connection_guard.py): a client a screen does not admit is
# dropped before it is read, one address holds at most PER_CLIENT, and LOCAL_RESERVE of them
# stay for this machine's own kiosk whatever the network does.
MAX_CONNECTIONS = 32
PER_CLIENT = 8
LOCAL_RESERVE = 8


def display_limits(sites: Mapping[int, Site], *,
                   header_timeout_s: float = HEADER_TIMEOUT_S) -> ConnectionLimits:
    """The displays' connection limits: only the screen's own clients, by the port they came
    in on (loopback and `allowed_clients`)."""

    def admits(client: str, port: int) -> bool:
        site = sites.get(port)
        return site is not None and site.admits(client)

    return ConnectionLimits(total=MAX_CONNECTIONS, per_client=PER_CLIENT,
                            local_reserve=LOCAL_RESERVE, header_timeout_s=header_timeout_s,
                            admits=admits)


class DisplayError(GridgateError, RuntimeError):
    """A display cannot be served (address in use, bad address)."""


class DisplayGate(Protocol):
    """What the displays need of the running gate (edge.app.GateApp has it)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def boards(self) -> Mapping[str, DisplayBoard]:
        """Each reader's display board."""
        ...

    @property
    def pipelines(self) -> Mapping[str, PanelReader]:
        """Each reader, for its camera frames."""
        ...


def _bind(host: str, port: int, reader_id: str) -> socket.socket:
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        raise DisplayError(f"the display of {reader_id} cannot listen on {host}:{port}: {exc}; "
                           "set display.screens host and port to a free address") from exc
    sock.set_inheritable(True)
    return sock


class DisplayServer:
    """The displays being served; `stop()` ends their streams and the server."""

    def __init__(self, app: FastAPI, server: uvicorn.Server, socks: list[socket.socket],
                 thread: threading.Thread, urls: dict[str, str],
                 detach: list[Callable[[], None]]) -> None:
        self.app = app
        self.server = server
        self.thread = thread
        self.urls = urls  # reader id -> the page's address
        self._socks = socks
        self._detach = detach

    @property
    def services(self) -> DisplayServices:
        """The display's services (sites, frames)."""
        return self.app.state.display  # type: ignore[no-any-return]

    def stop(self, timeout: float = 5.0) -> None:
        """End the screens' streams, then the server; waits up to `timeout` seconds."""
        self.services.closing.set()
        stop_server(self.server, self.thread, timeout)
        for sock in self._socks:
            sock.close()
        for detach in self._detach:
            detach()
        self._detach.clear()

    def __enter__(self) -> DisplayServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_displays(gate: DisplayGate, *, ready_timeout: float = 15.0,
                   header_timeout_s: float = HEADER_TIMEOUT_S) -> DisplayServer | None:
    """Serve each configured screen on its own address; None when none is configured.
    DisplayError when an address cannot be listened on."""
    settings = gate.settings.display
    if not settings.screens:
        return None
    socks: list[socket.socket] = []
    sites: dict[int, Site] = {}
    urls: dict[str, str] = {}
    try:
        for screen in settings.screens:
            sock = _bind(screen.host, screen.port, screen.reader_id)
            socks.append(sock)
            port = sock.getsockname()[1]
            sites[port] = Site(screen, gate.boards[screen.reader_id], port,
                               [ipaddress.ip_network(c, strict=False)
                                for c in screen.allowed_clients])
            host = screen.host if ":" not in screen.host else f"[{screen.host}]"
            urls[screen.reader_id] = f"http://{host}:{port}/"
    except BaseException:
        for sock in socks:
            sock.close()
        raise
    frames = LiveFrames()
    detach = ([gate.pipelines[s.reader_id].add_frame_listener(frames.hook(s.reader_id))
               for s in settings.screens] if settings.preview else [])
    prompts: Path = settings.prompts_dir or default_dir()
    if not prompts.is_dir():
        log.warning("display: no spoken prompts in %s; make them with `gridgate display "
                    "prompts` (needs espeak-ng)", prompts)
    app = create_display_app(DisplayServices(sites=sites, settings=settings, frames=frames,
                                             prompts_dir=prompts))
    limits = display_limits(sites, header_timeout_s=header_timeout_s)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                            timeout_graceful_shutdown=1, server_header=False,
                            http=guarded_protocol("display", limits),
                            limit_concurrency=limits.server_limit)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": socks}, name="display",
                              daemon=True)
    thread.start()
    deadline = time.monotonic() + ready_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            for sock in socks:
                sock.close()
            for stop in detach:
                stop()
            raise DisplayError("the display did not start; see the log above")
        time.sleep(0.02)
    for reader_id, url in urls.items():
        log.info("display of %s: serving on %s", reader_id, url)
    return DisplayServer(app, server, socks, thread, urls, detach)

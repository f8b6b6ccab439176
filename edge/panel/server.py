"""Running the panel inside the gridgate process: uvicorn in a thread, stopped with the gate."""

from __future__ import annotations

import logging
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import uvicorn
from argon2 import PasswordHasher
from fastapi import FastAPI

from edge.connection_guard import HEADER_TIMEOUT_S, ConnectionLimits, guarded_protocol
from edge.errors import EXPECTED_ERRORS
from edge.panel.app import create_app
from edge.panel.errors import PanelError
from edge.panel.gate import PanelGate
from edge.panel.services import PanelServices, SyncStatus
from edge.panel.tls import check_pair
from edge.server_thread import stop_server
from edge.settings.panel import PanelSettings
from gate.clock import Clock

log = logging.getLogger(__name__)
# What may stop the panel from starting, said as one PanelError rather than a traceback.
_CANNOT_START: tuple[type[Exception], ...] = (OSError, *EXPECTED_ERRORS)
# Connections and requests in flight at once; beyond, a new connection is closed as made. Each
# request holds at most its body limit (edge/panel/limits.py: 64 KiB before login) plus
# uvicorn's 64 KiB read buffer, so a flood costs the gate process at most ~13 MB; a handful
# of guards' browsers use a few connections each. They are judged when made
# (edge/connection_guard.py): one address holds at most PER_CLIENT, LOCAL_RESERVE stay for this
# machine's own clients, and a connection that sends no whole request head in time is closed,
# so idle sockets cannot fill the limit and lock the guards out.
MAX_CONNECTIONS = 100
PER_CLIENT = 24
LOCAL_RESERVE = 10


def tls_paths(settings: PanelSettings, state_dir: Path) -> tuple[Path, Path]:
    """Certificate and key the panel uses when TLS is on."""
    return (settings.tls_cert or state_dir / "panel" / "tls.crt",
            settings.tls_key or state_dir / "panel" / "tls.key")


def _bind(host: str, port: int) -> socket.socket:
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        raise PanelError(f"the panel cannot listen on {host}:{port}: {exc}; set panel.host and "
                         "panel.port to a free address") from exc
    sock.set_inheritable(True)
    return sock


def _announce(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


class PanelServer:
    """The panel being served; `stop()` ends live streams and the server."""

    def __init__(self, app: FastAPI, server: uvicorn.Server, sock: socket.socket,
                 thread: threading.Thread, url: str) -> None:
        self.app = app
        self.server = server
        self.thread = thread
        self.url = url
        self.port = sock.getsockname()[1]
        self._sock = sock

    @property
    def services(self) -> PanelServices:
        """The panel's services (stores, live hub, frames)."""
        return self.app.state.panel  # type: ignore[no-any-return]

    def stop(self, timeout: float = 5.0) -> None:
        """End open live streams, then the server; waits up to `timeout` seconds."""
        self.services.hub.close()
        stop_server(self.server, self.thread, timeout)
        self._sock.close()

    def __enter__(self) -> PanelServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_panel(gate: PanelGate, settings: PanelSettings, *, sync: SyncStatus | None = None,
                config_path: Path | None = None, clock: Clock | None = None,
                hasher: PasswordHasher | None = None,
                announce: Callable[[str], None] = _announce,
                ready_timeout: float = 15.0,
                header_timeout_s: float = HEADER_TIMEOUT_S) -> PanelServer:
    """Serve the panel for `gate` in a background thread; stores a setup token (and says where)
    when no admin exists yet. Raises PanelError when it cannot listen or the certificate is
    unusable."""
    cert_file: str | None = None
    key_file: str | None = None
    if settings.tls:
        cert, key = tls_paths(settings, gate.settings.storage.state_dir)
        check_pair(cert, key)
        cert_file, key_file = str(cert), str(key)
    sock = _bind(settings.host, settings.port)
    try:
        app = create_app(gate, settings, clock=clock, hasher=hasher, sync=sync,
                         config_path=config_path)
    except _CANNOT_START as exc:  # e.g. the visitor key cannot be written
        sock.close()
        raise PanelError(f"the panel cannot start: {exc}") from exc
    limits = ConnectionLimits(total=MAX_CONNECTIONS, per_client=PER_CLIENT,
                              local_reserve=LOCAL_RESERVE, header_timeout_s=header_timeout_s)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on",
                            timeout_graceful_shutdown=2, server_header=False,
                            http=guarded_protocol("panel", limits),
                            limit_concurrency=limits.server_limit, ssl_certfile=cert_file,
                            ssl_keyfile=key_file)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="panel",
                              daemon=True)
    thread.start()
    deadline = time.monotonic() + ready_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            app.state.panel.close()
            raise PanelError("the panel did not start; see the log above")
        time.sleep(0.02)
    host = settings.host if ":" not in settings.host else f"[{settings.host}]"
    url = f"{'https' if settings.tls else 'http'}://{host}:{sock.getsockname()[1]}"
    panel = PanelServer(app, server, sock, thread, url)
    log.info("panel: serving on %s", url)
    _offer_setup(panel, settings, announce)
    return panel


def _offer_setup(panel: PanelServer, settings: PanelSettings,
                 announce: Callable[[str], None]) -> None:
    """Without an admin, store a one-time setup token and say where it is (never the token:
    what gridgate prints ends up in the journal, which whole groups may read)."""
    setup = panel.services.setup
    if panel.services.users.has_admin():
        setup.revoke()  # also a file a crashed run may have left
        return
    try:
        setup.issue()
    except OSError as exc:
        announce(f"gridgate panel: no admin account yet, and the setup token cannot be stored "
                 f"in {setup.path} ({exc}); create the first admin with "
                 "`gridgate user add NAME --role admin`.")
        return
    minutes = f"{settings.setup_token_minutes:g}"
    announce(f"gridgate panel: no admin account yet. Open {panel.url}/setup and enter the "
             f"one-time setup token stored in {setup.path} (readable only by this account; "
             f"valid for {minutes} minutes, then restart gridgate for a new one), or run "
             "`gridgate user add NAME --role admin`.")

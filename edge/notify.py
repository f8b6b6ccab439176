"""systemd supervision: sd_notify over $NOTIFY_SOCKET and a watchdog fed only while frames flow.

The protocol is one datagram of newline-separated KEY=VALUE lines to the unix socket named by
$NOTIFY_SOCKET ('@' starts an abstract name). systemd restarts the service when WATCHDOG=1 stops
arriving within WatchdogSec, so pings are sent only while every reader keeps processing frames:
a stalled camera or a hung frame loop stops them, and systemd restarts the gate.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger(__name__)

STALL_SECONDS = 10.0  # a reader without a processed frame for this long is stalled


class Notifier:
    """Sends sd_notify messages; does nothing when the process is not run by systemd."""

    def __init__(self, address: str | None, *, watchdog_usec: int | None = None) -> None:
        self.address = address
        self.watchdog_usec = watchdog_usec
        self._socket: socket.socket | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Notifier:
        """Read $NOTIFY_SOCKET, $WATCHDOG_USEC and $WATCHDOG_PID as systemd sets them."""
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET") or None
        usec: int | None = None
        pid = env.get("WATCHDOG_PID")
        # The watchdog belongs to the main process only; a child must not feed it by accident.
        if env.get("WATCHDOG_USEC", "").isdigit() and (pid is None or pid == str(os.getpid())):
            usec = int(env["WATCHDOG_USEC"]) or None
        return cls(address, watchdog_usec=usec)

    @property
    def enabled(self) -> bool:
        """True when a notify socket is configured."""
        return self.address is not None

    @property
    def watchdog_seconds(self) -> float | None:
        """WatchdogSec as systemd passed it, or None when no watchdog is configured."""
        return None if self.watchdog_usec is None else self.watchdog_usec / 1_000_000

    def _target(self) -> str | bytes:
        assert self.address is not None
        if self.address.startswith("@"):
            return b"\0" + self.address[1:].encode()
        return self.address

    def send(self, **fields: str | int) -> bool:
        """Send one message (e.g. READY=1, STATUS=...); False when not sent."""
        if self.address is None:
            return False
        message = "\n".join(f"{key}={value}" for key, value in fields.items())
        with self._lock:
            try:
                if self._socket is None:
                    self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                    self._socket.setblocking(False)
                self._socket.sendto(message.encode(), self._target())
                return True
            except OSError as exc:  # supervision trouble must never stop the gate
                log.warning("sd_notify to %s failed: %s", self.address, exc)
                return False

    def ready(self, status: str = "") -> bool:
        """Tell systemd the service is up."""
        return self.send(READY=1, STATUS=status) if status else self.send(READY=1)

    def watchdog(self) -> bool:
        """Feed the watchdog."""
        return self.send(WATCHDOG=1)

    def status(self, text: str) -> bool:
        """Set the one-line status `systemctl status` shows."""
        return self.send(STATUS=text)

    def stopping(self, status: str = "") -> bool:
        """Tell systemd the service is shutting down."""
        return self.send(STOPPING=1, STATUS=status) if status else self.send(STOPPING=1)

    def close(self) -> None:
        """Close the socket."""
        with self._lock:
            if self._socket is not None:
                self._socket.close()
                self._socket = None


class _Stats(Protocol):
    last_frame_at: float | None
    fps: float


class _HasStats(Protocol):
    @property
    def stats(self) -> _Stats: ...


@dataclass(frozen=True)
class FrameHealth:
    """Whether every reader delivered a frame, and which ones have stopped."""

    waiting: tuple[str, ...]  # readers that never delivered a frame
    stalled: tuple[str, ...]  # readers whose last frame is older than the stall limit
    text: str

    @property
    def started(self) -> bool:
        return not self.waiting

    @property
    def healthy(self) -> bool:
        return not self.waiting and not self.stalled


def frame_health(pipelines: Mapping[str, _HasStats], now: float,
                 stall_seconds: float = STALL_SECONDS) -> FrameHealth:
    """Judge the readers from their pipelines' stats.last_frame_at (monotonic seconds)."""
    waiting, stalled, parts = [], [], []
    for reader_id, pipeline in pipelines.items():
        last = pipeline.stats.last_frame_at
        if last is None:
            waiting.append(reader_id)
            parts.append(f"{reader_id} waiting for the first frame")
        elif now - last > stall_seconds:
            stalled.append(reader_id)
            parts.append(f"{reader_id} stalled, no frame for {now - last:.0f} s")
        else:
            parts.append(f"{reader_id} {pipeline.stats.fps:.1f} fps")
    return FrameHealth(tuple(waiting), tuple(stalled), "; ".join(parts) or "no readers")


class FrameWatchdog:
    """READY=1 once every reader delivered a frame; WATCHDOG=1 only while all keep doing so."""

    def __init__(self, notifier: Notifier, pipelines: Mapping[str, _HasStats], *,
                 stall_seconds: float = STALL_SECONDS, tick_seconds: float | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.notifier = notifier
        self.pipelines = pipelines
        self.stall_seconds = stall_seconds
        watchdog = notifier.watchdog_seconds
        # Check often enough for a prompt READY and at least four pings per watchdog period.
        self.tick_seconds = tick_seconds or min(1.0, watchdog / 4 if watchdog else 1.0)
        self.monotonic = monotonic
        self.ready_sent = False
        self.pings = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_status = ""

    def tick(self) -> FrameHealth:
        """One supervision step: readiness, watchdog ping and status as the frames say."""
        health = frame_health(self.pipelines, self.monotonic(), self.stall_seconds)
        if health.started and not self.ready_sent:
            self.ready_sent = True
            self.notifier.ready(f"ready: {health.text}")
            self._last_status = health.text
            log.info("ready: %s", health.text)
        if health.healthy and self.notifier.watchdog_seconds is not None:
            self.notifier.watchdog()
            self.pings += 1
        if health.text != self._last_status:
            self._last_status = health.text
            self.notifier.status(health.text)
            if health.stalled:
                log.warning("frames stopped (%s); watchdog pings withheld", health.text)
        return health

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # a supervision bug must not kill the gate; the watchdog will
                log.exception("frame watchdog tick failed")
            self._stop.wait(self.tick_seconds)

    def start(self) -> FrameWatchdog:
        """Start supervising in a daemon thread."""
        self._thread = threading.Thread(target=self._run, name="frame-watchdog", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop supervising (no more pings)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

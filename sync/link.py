"""The connection loop: connect, fall back from MQTT 5 to 3.1.1, run the pump, reconnect.

One thread owns the connection. While connected it runs `on_session(session)` (the outbox
pump), which returns when the connection drops or the link stops; then the loop backs off
(exponentially, with jitter) and connects again with a fresh client.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt

from sync.backoff import Backoff
from sync.connection import (
    V5,
    V311,
    BrokerConfigError,
    BrokerOptions,
    Session,
    Will,
    close_session,
    open_session,
)
from sync.receive import Refusal, Screen

log = logging.getLogger(__name__)

STABLE_S = 10.0  # a connection up this long counts as healthy


class MqttLink:
    """Keeps one connection to the broker alive for as long as it runs."""

    def __init__(
        self,
        options: BrokerOptions,
        *,
        will: Callable[[], Will] | None,
        subscriptions: list[str],
        on_session: Callable[[Session], None],
        on_message: Callable[[Session, mqtt.MQTTMessage], None] | None = None,
        on_publish: Callable[[Session, int, int], None] | None = None,
        on_close: Callable[[Session], None] | None = None,
        on_stopping: Callable[[Session], None] | None = None,
        screen: Screen | None = None,
        on_refused: Callable[[Session, str, int, Refusal | None, int, int], None] | None = None,
    ) -> None:
        self.options = options
        self.will = will
        self.subscriptions = subscriptions
        self.on_session = on_session
        self.on_message = on_message
        self.on_publish = on_publish
        self.on_close = on_close
        self.on_stopping = on_stopping
        self.screen = screen
        self.on_refused = on_refused
        self.session: Session | None = None
        self.connections = 0
        self.last_error = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._protocol = V311 if options.protocol == V311 else V5
        self._settled = options.protocol != "auto"  # auto: settle once a version connects

    @property
    def connected(self) -> bool:
        """True while a session is up."""
        session = self.session
        return bool(session and session.connected.is_set() and not session.closed.is_set())

    @property
    def protocol(self) -> str | None:
        """The MQTT version of the live session."""
        return self.session.protocol if self.connected and self.session else None

    @property
    def stopping(self) -> threading.Event:
        """Set when the link is asked to stop; the pump returns on it."""
        return self._stop

    def start(self) -> None:
        """Start the connection thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="mqtt-link", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop: the pump ends, offline state is published, the connection closes."""
        self._stop.set()
        if self.on_close is not None and self.session is not None:
            self.on_close(self.session)  # wakes a waiting pump
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        backoff = Backoff(self.options.reconnect_min_s, self.options.reconnect_max_s)
        attempt = 0
        while not self._stop.is_set():
            session = self._attempt()
            if session is not None and session.connected.is_set():
                started, healthy = time.monotonic(), True
                try:
                    self.on_session(session)
                except Exception:  # the pump must never kill the link thread
                    healthy = False
                    log.exception("outbox pump failed; reconnecting")
                finally:
                    if self._stop.is_set() and self.on_stopping is not None:
                        try:
                            self.on_stopping(session)
                        except Exception:
                            log.exception("publishing the offline state failed")
                    close_session(session)
                    self.session = None
                if self._stop.is_set():
                    break
                log.warning("MQTT connection to %s:%d lost (%s); reconnecting",
                            self.options.host, self.options.port,
                            session.close_reason or "closed")
                # Only a connection that lasted resets the backoff: a broker (or a disk) that
                # fails again at once must not be hammered.
                if healthy and time.monotonic() - started > STABLE_S:
                    attempt = 0
            elif session is not None and session.auth_refused:
                attempt = 64  # the longest wait: don't hammer a broker with bad credentials
            self._stop.wait(backoff.delay(attempt))
            attempt += 1

    def _attempt(self) -> Session | None:
        protocol = self._protocol
        try:
            session = open_session(
                self.options, protocol, will=self.will() if self.will else None,
                subscriptions=self.subscriptions, on_message=self.on_message,
                on_publish=self.on_publish, on_close=self.on_close,
                screen=self.screen, on_refused=self.on_refused,
            )
        except BrokerConfigError as exc:
            self.last_error = str(exc)
            log.error("MQTT: %s", exc)
            return None
        self.session = session
        deadline = time.monotonic() + 2 * self.options.connect_timeout_s
        while not self._stop.is_set() and time.monotonic() < deadline:
            if session.connected.wait(0.05) or session.closed.is_set():
                break
        if session.connected.is_set() and not session.closed.is_set():
            self.connections += 1
            self.last_error = ""
            if not self._settled:
                self._settled = True
                log.info("MQTT %s connection to %s:%d", protocol, self.options.host,
                         self.options.port)
            return session
        reason = session.refused or session.close_reason or "closed before CONNACK"
        self.last_error = reason
        close_session(session)
        self.session = None
        if not self._settled and (session.unsupported_version or session.refused is None):
            # A 3.1.1 broker refuses (or chokes on) a version 5 CONNECT: try the other version.
            self._protocol = V311 if protocol == V5 else V5
            log.info("MQTT %s refused by %s:%d (%s); trying %s", protocol, self.options.host,
                     self.options.port, reason, self._protocol)
        else:
            log.warning("MQTT connection to %s:%d failed: %s", self.options.host,
                        self.options.port, reason)
        return session

"""The status link: a second, small MQTT connection whose Last Will is the plain availability
topic, carrying what Home Assistant reads.

MQTT gives one Last Will per connection, and the platform link's will is the JSON state the
other gates read (sync/service.py); so the plain `online`/`offline` rides a connection of its
own (client id CLIENT_ID-status, no session kept, nothing subscribed). It also publishes the
discovery configs and the live states, apart from the outbox pump: they are current states,
not events, and a backlog of events must never hold them up.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from gate.checkpoint import Outcome
from gate.clock import Clock
from gate.door import Door, DoorEvent
from gate.errors import GridgateError
from gate.files import write_atomic
from sync.connection import BrokerOptions, Session, Will, close_session, open_session
from sync.discovery.entities import (
    AVAILABLE,
    NOT_AVAILABLE,
    GateDescription,
    decision_state,
    discovery_configs,
    door_state,
    door_topic,
    gate_topic,
    reader_topic,
)
from sync.link import MqttLink
from sync.topics import Topics

log = logging.getLogger(__name__)

GateStats = Callable[[], dict[str, Any]]


@dataclass(frozen=True)
class HomeAssistantOptions:
    """Home Assistant discovery: on or off, its prefix, how often counters are sent."""

    enabled: bool = False
    discovery_prefix: str = "homeassistant"
    stats_interval_s: float = 30.0


class DiscoveryError(GridgateError, ConnectionError):
    """The broker could not be reached to remove retained messages."""


def status_options(broker: BrokerOptions) -> BrokerOptions:
    """The platform link's broker options for the status connection: its own client id, and
    no session (nothing is subscribed, nothing waits for it)."""
    return replace(broker, client_id=f"{broker.client_id[:56]}-status", persistent=False)


class StatusLink:
    """Publishes availability (with its Last Will), discovery configs and live states."""

    def __init__(self, broker: BrokerOptions, topics: Topics, gate: GateDescription, *,
                 home_assistant: HomeAssistantOptions, marker: Path, doors: Sequence[Door],
                 stats: GateStats, clock: Clock) -> None:
        self.topics = topics
        self.gate = gate
        self.options = home_assistant
        self.marker = marker
        self.doors = {door.name: door for door in doors}
        self.stats = stats
        self.clock = clock
        self._lock = threading.Lock()
        self._pending: dict[str, dict[str, Any]] = {}  # topic -> newest state
        self._last: dict[str, dict[str, Any]] = {}  # what a new session sends first
        self._wake = threading.Event()
        self.link = MqttLink(status_options(broker), will=self._will, subscriptions=[],
                             on_session=self._session, on_close=lambda _s: self._wake.set(),
                             on_stopping=self._offline)
        if home_assistant.enabled:
            for door in doors:
                door.add_listener(self.door_changed)

    # -- what the gate tells it --------------------------------------------------------------

    def door_changed(self, event: DoorEvent) -> None:
        """A door event: its state is read and sent by the link thread."""
        self._queue(door_topic(self.topics, event.door), {})

    def decided(self, outcome: Outcome) -> None:
        """A decision: the reader's last decision, without who it was."""
        if self.options.enabled:
            reader = outcome.observation.reader.reader_id
            self._queue(reader_topic(self.topics, reader),
                        decision_state(outcome.observation, outcome.decision))

    def _queue(self, topic: str, state: dict[str, Any]) -> None:
        with self._lock:
            self._pending[topic] = state
        self._wake.set()

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self.link.connected

    def start(self) -> None:
        self.link.start()

    def stop(self) -> None:
        self.link.stop()

    def _will(self) -> Will:
        return Will(self.topics.availability, NOT_AVAILABLE.encode(), retain=True)

    def _session(self, session: Session) -> None:
        publish(session, self.topics.availability, AVAILABLE.encode())
        if self.options.enabled:
            self._announce(session)
        else:
            self._withdraw(session)
        stopping = self.link.stopping
        next_stats = 0.0
        while not stopping.is_set() and not session.closed.is_set():
            now = self.clock.monotonic()
            if self.options.enabled and now >= next_stats:
                self._queue(gate_topic(self.topics), self.stats())
                next_stats = now + self.options.stats_interval_s
            self._flush(session)
            self._wake.wait(max(0.05, next_stats - now) if self.options.enabled else None)
            self._wake.clear()

    def _offline(self, session: Session) -> None:
        if not session.closed.is_set():
            publish(session, self.topics.availability, NOT_AVAILABLE.encode(), wait=2.0)

    # -- publishing --------------------------------------------------------------------------

    def _announce(self, session: Session) -> None:
        """Every config, retained; configs of a previous run that no longer exist removed."""
        configs = discovery_configs(self.gate, self.topics, self.options.discovery_prefix)
        for topic in sorted(set(_read_marker(self.marker)) - set(configs)):
            publish(session, topic, b"")
        for topic, config in configs.items():
            publish(session, topic, json.dumps(config, ensure_ascii=False).encode())
        write_atomic(self.marker, json.dumps(sorted(configs)).encode(), mode=0o644)
        with self._lock:
            for name in self.doors:
                self._pending[door_topic(self.topics, name)] = {}
            for topic, state in self._last.items():
                self._pending.setdefault(topic, state)
        log.info("Home Assistant discovery: %d entities under %s", len(configs),
                 self.options.discovery_prefix)

    def _withdraw(self, session: Session) -> None:
        """Discovery is off: remove what an earlier run announced (empty retained configs)."""
        topics = _read_marker(self.marker)
        if not topics:
            return
        for topic in topics:
            publish(session, topic, b"", wait=2.0)
        self.marker.unlink(missing_ok=True)
        log.info("Home Assistant discovery off: removed %d entities", len(topics))

    def _flush(self, session: Session) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
        for topic, state in pending.items():
            if not state:  # a door: read it now, on this thread
                name = topic.rsplit("/", 1)[1]
                door = self.doors.get(name)
                if door is None:
                    continue
                state = door_state(door, self.clock.now())
            self._last[topic] = state
            publish(session, topic, json.dumps(state, ensure_ascii=False).encode())


def publish(session: Session, topic: str, payload: bytes, *, wait: float | None = None) -> None:
    """Publish retained with QoS 1; optionally wait for the broker's acknowledgement."""
    info = session.client.publish(topic, payload, qos=1, retain=True)
    if wait is not None:
        info.wait_for_publish(timeout=wait)


def _read_marker(path: Path) -> list[str]:
    try:
        topics = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [t for t in topics if isinstance(t, str)] if isinstance(topics, list) else []


def clear_retained(broker: BrokerOptions, topics: list[str], *, timeout: float = 10.0) -> int:
    """Publish an empty retained message on each topic (what removes a Home Assistant
    entity, or a retained state); returns how many the broker acknowledged."""
    options = replace(broker, client_id=f"{broker.client_id[:55]}-cleanup", persistent=False)
    protocol = "3.1.1" if options.protocol == "3.1.1" else "5"
    session = open_session(options, protocol, will=None, subscriptions=[], on_message=None,
                           on_publish=None, manual_ack=False)
    try:
        if not session.connected.wait(timeout) or session.closed.is_set():
            raise DiscoveryError(f"cannot connect to {options.host}:{options.port}: "
                                  f"{session.refused or session.close_reason or 'no answer'}")
        infos = [session.client.publish(t, b"", qos=1, retain=True) for t in topics]
        for info in infos:
            info.wait_for_publish(timeout)
        return sum(info.is_published() for info in infos)
    finally:
        close_session(session)


def marker_topics(marker: Path) -> list[str]:
    """The config topics an earlier run announced (state_dir/homeassistant-discovery.json)."""
    return _read_marker(marker)

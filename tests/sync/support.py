"""Shared pieces for sync tests: a gate database, a platform key, a subscriber, waiting."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from gate.clock import SystemClock
from gate.journal import Journal
from gate.model import AlertSpec, Colour, Decision, Direction, Method, Person, Reader
from gate.observation import Observation
from gate.passes import TrustList, generate_signing_key
from gate.policy import Policy
from gate.rulebook import Rulebook
from gate.store import open_database
from gate.vocabulary import DoorEventKind, Rule
from sync.connection import BrokerOptions
from sync.messages import EventMessage
from sync.service import OutboxOptions, SyncService
from sync.topics import Topics
from tests.fixtures.broker import Broker

PREFIX, COMPOUND, GATE = "gg", "wenjiang-01", "gate-east"
TOPICS = Topics(PREFIX, COMPOUND, GATE)
PLATFORM_KEY = generate_signing_key()
NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
# Subscribers must not lose what the gate delivered: no per-client queue limit in tests.
BROKER_CONFIG = "max_queued_messages 0\n" + ("user root\n" if os.geteuid() == 0 else "")


def platform_trust() -> TrustList:
    trust = TrustList()
    trust.add(PLATFORM_KEY.key_id, PLATFORM_KEY.public_key, "all")
    return trust


def as_legacy(signed: bytes) -> bytes:
    """The same signed message in the first wire form (the JSON envelope): both carry the same
    signature over the same payload bytes."""
    header, payload = signed.split(b"\n", 1)
    fields = json.loads(header)
    return json.dumps({"schema_version": 1, "alg": "EdDSA", "kid": fields["kid"],
                       "payload": payload.decode("utf-8"), "signature": fields["signature"]},
                      ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def start_broker(workdir: Path, extra: str = "") -> Broker:
    workdir.mkdir(parents=True, exist_ok=True)
    broker = Broker(workdir, extra_config=BROKER_CONFIG + extra)
    broker.start()
    return broker


def gate_journal(path: Path, *, fast: bool = True) -> Journal:
    """The gate's journal on a real SQLite file. `fast` skips fsync per commit (kill -9 does
    not lose the OS cache; only power loss would), so tests record thousands of events."""
    db = open_database(path)
    if fast:
        db.execute("PRAGMA synchronous=NORMAL")
    return Journal(db, gate_id=GATE, clock=SystemClock())


def broker_options(broker: Broker, **changes: Any) -> BrokerOptions:
    base: dict[str, Any] = {"host": broker.host, "port": broker.port,
                            "client_id": f"gridgate-{GATE}", "reconnect_min_s": 0.1,
                            "reconnect_max_s": 0.5, "keepalive_s": 10}
    return BrokerOptions(**(base | changes))


def service(journal: Journal, db_path: Path, broker: Broker, **kw: Any) -> SyncService:
    options = kw.pop("outbox", OutboxOptions(window=200, batch_size=500))
    rules = kw.pop("rules", None) or Rulebook(trust=platform_trust(), policy=Policy())
    return SyncService(journal=journal, db_path=db_path, topics=TOPICS,
                       broker=kw.pop("broker_options", broker_options(broker)),
                       clock=kw.pop("clock", SystemClock()),
                       rules=rules,
                       outbox=options, **kw)


def record_door_events(journal: Journal, count: int, start: int = 0) -> list[str]:
    """Record `count` door events; returns their event ids in order."""
    return [journal.record_door_event("relay17", DoorEventKind.RELEASED, f"n{i}").event_id
            for i in range(start, start + count)]


def wait_until(condition: Callable[[], bool], timeout: float = 10.0,
               what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class Subscriber:
    """A platform-side consumer: QoS 1, a persistent MQTT 5 session, every message kept."""

    def __init__(self, broker: Broker, filters: list[str] | None = None,
                 client_id: str = "test-platform", login: tuple[str, str] | None = None) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self.filters = filters or [f"{PREFIX}/v1/{COMPOUND}/#"]
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=mqtt.MQTTv5)
        self.client.on_message = self._on_message
        self.subscribed = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        if login:
            self.client.username_pw_set(*login)
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = 3600
        self.client.connect(broker.host, broker.port, clean_start=False,
                            properties=properties)
        self.client.loop_start()
        assert self.subscribed.wait(10), "subscription not confirmed"

    def _on_connect(self, client: mqtt.Client, *args: Any) -> None:
        client.subscribe([(f, SubscribeOptions(qos=1)) for f in self.filters])

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((message.topic, message.payload))

    def events(self) -> list[EventMessage]:
        """Every event message received (duplicates included), in arrival order; what gates
        tell each other (peers/...) is not for the platform, nor are the plain availability and
        the status states (sync/discovery)."""
        with self._lock:
            items = list(self.messages)
        return [EventMessage.model_validate_json(p) for t, p in items
                if not t.endswith(("/state", "/availability")) and "/peers/" not in t
                and "/status/" not in t]

    def on(self, topic: str) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(p) for t, p in self.messages if t == topic]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def record_passage(journal: Journal, person_id: str = "p-101", *, grid_id: str | None = "grid-7",
                   alert: AlertSpec | None = None, reason: str = "green permit") -> list[str]:
    """Record one granted passage (with an optional alert); returns the event ids."""
    reader = Reader("in-cam", GATE, Direction.IN)
    observation = Observation(reader=reader, method=Method.PASS, seen_at=SystemClock().now())
    decision = Decision(granted=True, rule=Rule.GREEN_IN, reason_zh="绿码通行",
                        reason_en=reason, alerts=(alert,) if alert else (),
                        person_id=person_id, colour=Colour.GREEN)
    person = Person(person_id, "h-1", grid_id)
    return [e.event_id for e in journal.record_passage(observation, decision, person)]

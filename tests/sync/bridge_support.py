"""Two real Mosquitto processes for tests/sync/test_bridge.py: the compound broker running
the shipped config/mosquitto-compound.conf with only its site values replaced (`SITE_KEYS`),
a platform broker it bridges to, and the gates' and the platform's clients."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from gate.clock import SystemClock
from gate.journal import Journal
from gate.model import AlertSpec, Colour, Decision, Direction, Method, Person, Reader, Severity
from gate.observation import Observation
from gate.policy import Policy
from gate.rulebook import Rulebook
from gate.store import open_database
from gate.vocabulary import AlertKind, DoorEventKind, Rule
from sync.connection import BrokerOptions
from sync.messages import EventMessage
from sync.service import OutboxOptions, SyncService
from sync.topics import Topics
from tests.fixtures.broker import ConfiguredBroker, free_port
from tests.sync.certs import make_pki
from tests.sync.support import platform_trust

REPO = Path(__file__).resolve().parents[2]
SHIPPED_CONF = REPO / "config" / "mosquitto-compound.conf"
SHIPPED_ACL = REPO / "config" / "mosquitto-compound.acl"
PREFIX, COMPOUND = "gridgate", "wenjiang-01"  # as in the shipped files
GATES = ("gate-east", "gate-west")
OBSERVER = "gate-north"  # a third gate of the compound, listening only
BRIDGE_ID = f"gridgate-bridge-{COMPOUND}"
NOTIFICATION = f"$SYS/broker/connection/{BRIDGE_ID}/state"
ROOT = f"{PREFIX}/v1/{COMPOUND}"
# The directives a site changes (each occurs exactly once in the shipped file), plus
# restart_timeout: the shipped back-off reaches 30 s, longer than these tests wait.
SITE_KEYS = ("listener", "cafile", "certfile", "keyfile", "password_file", "acl_file",
             "persistence_location", "log_dest", "address", "bridge_cafile",
             "bridge_certfile", "bridge_keyfile", "restart_timeout")
AS_ROOT = "user root\n" if os.geteuid() == 0 else ""  # root would drop to user mosquitto


def directives(text: str) -> list[tuple[str, str]]:
    """(name, value) of every setting line, comments and blank lines left out."""
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition(" ")
            found.append((name, value.strip()))
    return found


def site_config(values: dict[str, str], **changes: str) -> str:
    """The shipped configuration with the site values (and `changes`) replaced."""
    wanted = values | changes
    text = SHIPPED_CONF.read_text()
    names = [name for name, _ in directives(text)]
    for key in wanted:
        assert names.count(key) == 1, f"{key} must occur once in {SHIPPED_CONF.name}"
    lines = []
    for line in text.splitlines():
        name = line.split(" ", 1)[0]
        lines.append(f"{name} {wanted[name]}" if name in wanted else line)
    return "\n".join(lines) + "\n" + AS_ROOT


@dataclass
class Site:
    """Certificates, the password file and per-gate passwords of one test compound."""

    folder: Path
    pki: dict[str, Path]
    passwd: Path
    passwords: dict[str, Path]


def make_site(folder: Path, users: tuple[str, ...] = (*GATES, OBSERVER)) -> Site:
    tool = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
    if not Path(tool).exists():
        pytest.skip("mosquitto_passwd is not installed")
    pki = make_pki(folder / "pki")
    passwd = folder / "gridgate.passwd"
    passwords = {}
    for i, user in enumerate(users):
        secret = f"pw-{user}-{os.urandom(6).hex()}"
        subprocess.run([tool, *(["-c"] if i == 0 else []), "-b", str(passwd), user, secret],
                       check=True, capture_output=True)
        passwords[user] = folder / f"{user}.password"
        passwords[user].write_text(secret + "\n")
    return Site(folder, pki, passwd, passwords)


def platform_broker(site: Site, folder: Path) -> tuple[ConfiguredBroker, int]:
    """The platform stand-in: TLS with client certificates for bridges (the compound's
    certificate is make_pki's client certificate), a plain loopback listener for the test's
    consumer, persistence (its consumers' sessions survive its restart, as a cluster's do).
    Returns the broker (at its plain port) and its TLS port."""
    tls_port, plain_port = free_port(), free_port()
    (folder / "data").mkdir(parents=True, exist_ok=True)
    text = (f"per_listener_settings false\nallow_anonymous true\n"
            f"persistence true\npersistence_location {folder / 'data'}/\n"
            "max_queued_messages 0\n"
            f"log_dest file {folder / 'mosquitto.log'}\n"
            "log_type error\nlog_type warning\nlog_type notice\n"
            f"listener {tls_port} 127.0.0.1\ncafile {site.pki['ca']}\n"
            f"certfile {site.pki['broker']}\nkeyfile {site.pki['broker_key']}\n"
            "require_certificate true\nuse_identity_as_username true\n"
            f"listener {plain_port} 127.0.0.1\n" + AS_ROOT)
    return ConfiguredBroker(folder, text, port=plain_port), tls_port


def compound_broker(site: Site, folder: Path, uplink_port: int,
                    **changes: str) -> ConfiguredBroker:
    """The shipped compound broker with this test's site values."""
    port = free_port()
    (folder / "data").mkdir(parents=True, exist_ok=True)
    values = {
        "listener": f"{port} 127.0.0.1",
        "cafile": str(site.pki["ca"]), "certfile": str(site.pki["broker"]),
        "keyfile": str(site.pki["broker_key"]),
        "password_file": str(site.passwd), "acl_file": str(SHIPPED_ACL),
        "persistence_location": f"{folder / 'data'}/",
        "log_dest": f"file {folder / 'mosquitto.log'}",
        "address": f"127.0.0.1:{uplink_port}",
        "bridge_cafile": str(site.pki["ca"]), "bridge_certfile": str(site.pki["gate"]),
        "bridge_keyfile": str(site.pki["gate_key"]),
        "restart_timeout": "1 2",
    }
    assert set(values) == set(SITE_KEYS)
    return ConfiguredBroker(folder, site_config(values, **changes), port=port)


class Client:
    """An MQTT 5 consumer with a persistent session that keeps every message it gets (TLS
    and a login for the compound broker, plain for the platform's test listener)."""

    def __init__(self, port: int, filters: list[str], client_id: str, *,
                 site: Site | None = None, user: str | None = None) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self._lock = threading.Lock()
        self.filters = filters
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=mqtt.MQTTv5)
        self.client.reconnect_delay_set(0.2, 1)
        if site is not None and user is not None:
            self.client.tls_set_context(ssl.create_default_context(cafile=str(site.pki["ca"])))
            self.client.username_pw_set(user, site.passwords[user].read_text().strip())
        self.subscribed = threading.Event()
        self.client.on_connect = lambda c, *a: c.subscribe(
            [(f, SubscribeOptions(qos=1)) for f in self.filters])
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.on_message = self._on_message
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = 3600
        self.client.connect("127.0.0.1", port, clean_start=False, properties=properties)
        self.client.loop_start()
        assert self.subscribed.wait(10), "subscription not confirmed"

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((message.topic, bytes(message.payload), message.retain))

    def received(self) -> list[tuple[str, bytes, bool]]:
        with self._lock:
            return list(self.messages)

    def events(self) -> list[EventMessage]:
        """Event messages in arrival order, duplicates included."""
        return [EventMessage.model_validate_json(p) for t, p, _ in self.received()
                if not t.endswith("/state")]

    def payloads(self, topic: str) -> list[str]:
        return [p.decode() for t, p, _ in self.received() if t == topic]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def publish(port: int, items: list[tuple[str, str, bool]]) -> None:
    """Publish (topic, payload, retain) at QoS 1 on the platform's plain listener and wait
    for each PUBACK."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"platform-pub-{time.time_ns()}",
                         protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        for topic, payload, retain in items:
            client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)
    finally:
        client.disconnect()
        client.loop_stop()


def puback_reason(site: Site, port: int, user: str, topic: str) -> int:
    """The PUBACK reason code the compound broker answers `user` publishing on `topic`."""
    codes: list[int] = []
    done = threading.Event()

    def on_publish(client: mqtt.Client, userdata: Any, mid: int, reason: Any,
                   properties: Any) -> None:
        codes.append(int(reason.value))
        done.set()

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{user}-probe",
                         protocol=mqtt.MQTTv5)
    client.tls_set_context(ssl.create_default_context(cafile=str(site.pki["ca"])))
    client.username_pw_set(user, site.passwords[user].read_text().strip())
    client.on_publish = on_publish
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        client.publish(topic, "probe", qos=1)
        assert done.wait(5), "no PUBACK"
    finally:
        client.disconnect()
        client.loop_stop()
    return codes[0]


class Gate:
    """One gate of the compound: its journal on a real SQLite file and its real SyncService,
    logged in to the compound broker with its gate id over TLS."""

    def __init__(self, gate_id: str, folder: Path, broker: ConfiguredBroker, site: Site) -> None:
        self.gate_id = gate_id
        self.topics = Topics(PREFIX, COMPOUND, gate_id)
        db_path = folder / f"{gate_id}.db"
        db = open_database(db_path)
        db.execute("PRAGMA synchronous=NORMAL")
        self.journal = Journal(db, gate_id=gate_id, clock=SystemClock())
        options = BrokerOptions(
            host=broker.host, port=broker.port, client_id=f"gridgate-{COMPOUND}-{gate_id}",
            tls=True, ca_file=site.pki["ca"], username=gate_id,
            password_file=site.passwords[gate_id], reconnect_min_s=0.1, reconnect_max_s=0.5,
            keepalive_s=10)
        self.link = SyncService(journal=self.journal, db_path=db_path, topics=self.topics,
                                broker=options, clock=SystemClock(),
                                rules=Rulebook(trust=platform_trust(), policy=Policy()),
                                outbox=OutboxOptions(window=200, batch_size=500))
        self.recorded: list[str] = []  # event ids, in recording order

    def record(self, count: int) -> None:
        """Passages (every 7th with a grid alert, every 11th with a gate alert) and door
        events: every topic the bridge carries out."""
        reader = Reader("in-cam", self.gate_id, Direction.IN)
        for _ in range(count):
            n = len(self.recorded)
            if n % 5 == 4:
                self.recorded.append(self.journal.record_door_event(
                    "relay17", DoorEventKind.RELEASED, f"n{n}").event_id)
                continue
            alert = None
            if n % 7 == 0 or n % 11 == 0:
                alert = AlertSpec(AlertKind.RED_EXIT_ATTEMPT, Severity.URGENT, "红码外出",
                                  "red permit holder tried to leave")
            decision = Decision(granted=True, rule=Rule.GREEN_IN, reason_zh="绿码通行",
                                reason_en="green permit", alerts=(alert,) if alert else (),
                                person_id=f"p-{n}", colour=Colour.GREEN)
            person = Person(f"p-{n}", "h-1", "grid-7" if n % 11 else None)
            observation = Observation(reader=reader, method=Method.PASS,
                                      seen_at=SystemClock().now())
            self.recorded += [e.event_id for e in
                              self.journal.record_passage(observation, decision, person)]

    def close(self) -> None:
        self.link.stop()
        self.journal.db.close()


class Uplink:
    """A TCP relay between the compound's bridge and the platform: `cut()` drops every
    connection and refuses new ones (both brokers keep running), `restore()` listens again
    on the same port."""

    def __init__(self, target_port: int) -> None:
        self.port = free_port()
        self.target_port = target_port
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._server: socket.socket | None = None
        self._threads: list[threading.Thread] = []

    def restore(self) -> None:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(8)
        self._server = server
        self._spawn(self._accept, server)

    def _spawn(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                inside, _ = server.accept()
            except OSError:
                return  # closed by cut()
            try:
                outside = socket.create_connection(("127.0.0.1", self.target_port), timeout=2)
                outside.settimeout(None)
            except OSError:
                inside.close()
                continue
            with self._lock:
                self._sockets += [inside, outside]
            self._spawn(self._pump, inside, outside)
            self._spawn(self._pump, outside, inside)

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for s in (source, sink):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        if self._server is not None:
            self._server.shutdown(socket.SHUT_RDWR)
            self._server.close()
            self._server = None
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for s in sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
        for thread in self._threads:
            thread.join(5)
        self._threads = []

"""One MQTT connection attempt with paho-mqtt 2.x: protocol, TLS, credentials, Last Will.

A fresh paho client is made for every connection, so nothing survives a disconnect in paho's
memory: what must survive lives in the outbox. The will is set before connecting and
subscriptions are made in `on_connect`, as paho documents.
"""

from __future__ import annotations

import logging
import ssl
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.exception import MalformedPacket
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from gate.errors import GridgateError
from sync.receive import Refusal, Screen
from sync.receive import install as install_reader

log = logging.getLogger(__name__)


class _ClosedSocketNoise(logging.Filter):
    """paho's network loop logs an error for the socket it has itself just closed after a
    requested disconnect; that is no error, and it must not alarm whoever reads the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Client is not connected")


paho_log = logging.getLogger("paho")
paho_log.addFilter(_ClosedSocketNoise())

V5, V311 = "5", "3.1.1"
_PROTOCOLS = {V5: mqtt.MQTTv5, V311: mqtt.MQTTv311}
# CONNACK codes meaning "this broker does not speak the version you asked for".
_UNSUPPORTED_VERSION = {132, 1}
_AUTH_REFUSED = {134, 135, 4, 5}


class BrokerConfigError(GridgateError, ValueError):
    """The broker settings cannot work (unreadable password file, bad TLS files)."""


@dataclass(frozen=True)
class BrokerOptions:
    """Where and how to connect; plain values so sync never reads the settings tree."""

    host: str
    port: int
    client_id: str
    protocol: str = "auto"  # "auto" | "5" | "3.1.1"
    keepalive_s: int = 30
    tls: bool = False
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    username: str | None = None
    password_file: Path | None = None
    session_expiry_s: int = 7 * 86400
    max_inbound_bytes: int = 16 * 1024 * 1024
    reconnect_min_s: float = 0.5
    reconnect_max_s: float = 60.0
    persistent: bool = True  # keep subscriptions and queued messages while offline
    connect_timeout_s: float = 5.0


@dataclass(frozen=True)
class Will:
    """The message the broker publishes for us when we vanish."""

    topic: str
    payload: bytes
    retain: bool = True


@dataclass
class Session:
    """One live connection and what the broker said about its limits."""

    client: mqtt.Client
    protocol: str
    connected: threading.Event = field(default_factory=threading.Event)
    closed: threading.Event = field(default_factory=threading.Event)
    refused: str | None = None  # why the broker refused the connection
    unsupported_version: bool = False
    auth_refused: bool = False
    receive_maximum: int | None = None
    max_packet_size: int | None = None
    close_reason: str = ""

    @property
    def is_v5(self) -> bool:
        return self.protocol == V5


def read_password(path: Path) -> str:
    """The broker password from its file (first line, surrounding whitespace removed)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BrokerConfigError(f"cannot read mqtt.password_file {path}: {exc}") from None
    password = text.splitlines()[0].strip() if text.strip() else ""
    if not password:
        raise BrokerConfigError(f"mqtt.password_file {path} is empty")
    return password


def tls_context(options: BrokerOptions) -> ssl.SSLContext:
    """A verifying TLS context: the given CA (or the system's), optional client certificate."""
    try:
        context = ssl.create_default_context(
            cafile=str(options.ca_file) if options.ca_file else None)
        if options.cert_file and options.key_file:
            context.load_cert_chain(str(options.cert_file), str(options.key_file))
    except (OSError, ssl.SSLError) as exc:
        raise BrokerConfigError(f"cannot load the MQTT TLS files: {exc}") from None
    return context


def inbound_packet_limit(options: BrokerOptions) -> int:
    """The largest packet accepted: the payload limit, and room for topic and properties."""
    return options.max_inbound_bytes + 65536


def _code(reason: ReasonCode | int) -> int:
    return reason.value if isinstance(reason, ReasonCode) else int(reason)


def open_session(options: BrokerOptions, protocol: str, *, will: Will | None,
                 subscriptions: list[str],
                 on_message: Callable[[Session, mqtt.MQTTMessage], None] | None,
                 on_publish: Callable[[Session, int, int], None] | None,
                 on_close: Callable[[Session], None] | None = None,
                 manual_ack: bool = True, screen: Screen | None = None,
                 on_refused: Callable[[Session, str, int, Refusal | None, int, int], None]
                 | None = None) -> Session:
    """Start connecting; the session's `connected` or `closed` event tells how it went.

    Packets are read without copies; a PUBLISH over the inbound limit, or a big one `screen`
    refuses from its first bytes, is skipped unkept (sync.receive), and `on_refused(session,
    topic, size, refusal, mid, qos)` hears of each."""
    persistent = options.persistent
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=options.client_id,
        clean_session=None if protocol == V5 else not persistent,
        protocol=_PROTOCOLS[protocol], reconnect_on_failure=False, manual_ack=manual_ack,
    )
    session = Session(client, protocol)
    install_reader(client, max_packet=inbound_packet_limit(options), screen=screen,
                   on_refused=None if on_refused is None else (
                       lambda *refused: on_refused(session, *refused)))
    client.enable_logger(paho_log)
    if options.tls:
        client.tls_set_context(tls_context(options))
    if options.username:
        client.username_pw_set(options.username, read_password(options.password_file)
                               if options.password_file else None)
    if will is not None:
        client.will_set(will.topic, will.payload, qos=1, retain=will.retain)

    def on_connect(c: mqtt.Client, _u: Any, flags: mqtt.ConnectFlags, reason: ReasonCode,
                   properties: Properties | None) -> None:
        code = _code(reason)
        if code != 0:
            session.refused = str(reason)
            session.unsupported_version = code in _UNSUPPORTED_VERSION
            session.auth_refused = code in _AUTH_REFUSED
            session.closed.set()
            return
        if properties is not None:
            session.receive_maximum = getattr(properties, "ReceiveMaximum", None)
            session.max_packet_size = getattr(properties, "MaximumPacketSize", None)
        if subscriptions:
            if protocol == V5:
                c.subscribe([(f, SubscribeOptions(qos=1)) for f in subscriptions])
            else:
                c.subscribe([(f, 1) for f in subscriptions])
        session.connected.set()

    def on_disconnect(c: mqtt.Client, _u: Any, flags: mqtt.DisconnectFlags,
                      reason: ReasonCode, properties: Properties | None) -> None:
        session.close_reason = session.close_reason or str(reason)
        session.closed.set()
        if on_close is not None:
            on_close(session)

    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    if on_message is not None:
        client.on_message = lambda c, u, m: on_message(session, m)
    if on_publish is not None:
        client.on_publish = lambda c, u, mid, reason, p: on_publish(session, mid, _code(reason))
        if protocol == V5:
            _read_refusals_paho_rejects(client)
    client.connect_timeout = options.connect_timeout_s
    properties = None
    if protocol == V5:
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = options.session_expiry_s if persistent else 0
        # The broker then never sends us more than we accept (MQTT 5 only).
        properties.MaximumPacketSize = inbound_packet_limit(options)
    try:
        client.connect(options.host, options.port, keepalive=options.keepalive_s,
                       clean_start=not persistent if protocol == V5 else
                       mqtt.MQTT_CLEAN_START_FIRST_ONLY,
                       properties=properties)
    except (OSError, ssl.SSLError, ValueError) as exc:
        session.refused = f"cannot reach {options.host}:{options.port}: {exc}"
        session.closed.set()
        return session
    client.loop_start()
    return session


def _read_refusals_paho_rejects(client: mqtt.Client) -> None:
    """Let a PUBACK with a reason code paho does not know reach `on_publish`.

    Mosquitto answers a publish over its message_size_limit with PUBACK 0x95 (packet too large),
    which MQTT 5 does not list for PUBACK, so paho calls the packet malformed and drops the
    connection: the one message-specific piece of evidence would be lost. This reads it.
    """
    original = client._handle_pubackcomp

    def handle(cmd: Literal["PUBACK", "PUBCOMP"]) -> MQTTErrorCode:
        try:
            return original(cmd)
        except MalformedPacket:
            packet = client._in_packet["packet"]
            if cmd != "PUBACK" or len(packet) < 3:
                raise
            mid, code = struct.unpack("!H", packet[:2])[0], packet[2]
            reason = ReasonCode(PacketTypes.PUBACK)
            reason.value = code  # the name table lacks it; only the number is used
            with client._out_message_mutex:
                if mid in client._out_messages:
                    return client._do_on_publish(mid, reason, Properties(PacketTypes.PUBACK))
            return MQTTErrorCode.MQTT_ERR_SUCCESS

    # Replacing a method of this one client on purpose (paho offers no hook for this).
    client._handle_pubackcomp = handle  # type: ignore[method-assign]


def close_session(session: Session, timeout: float = 2.0) -> None:
    """Disconnect (if still connected) and stop the network thread."""
    client = session.client
    try:
        if session.connected.is_set() and not session.closed.is_set():
            client.disconnect()
            session.closed.wait(timeout)
    finally:
        client.loop_stop()
        session.closed.set()

"""What the grid platform does on the wire, for installers, tests and a reference consumer:
sign documents and commands, publish them, and watch a compound's events and alerts."""

from __future__ import annotations

import json
import secrets
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Literal

import paho.mqtt.client as mqtt
from paho.mqtt.subscribeoptions import SubscribeOptions
from pydantic import ValidationError

from gate.errors import GridgateError
from gate.passes import SigningKey
from sync.bodies import BODIES, Document
from sync.commands import Action, Command
from sync.connection import V5, BrokerOptions, Session, close_session, open_session
from sync.signing import sign_payload
from sync.topics import DocumentKind


class PlatformError(GridgateError, RuntimeError):
    """The platform tool could not do what was asked (bad document, broker unreachable)."""


def signed_document(kind: DocumentKind, body: dict[str, Any], *, version: int,
                    compound_id: str, key: SigningKey, now: datetime,
                    base_version: int | None = None) -> bytes:
    """A signed snapshot (no base) or delta, checked against the document schema first."""
    mode: Literal["snapshot", "delta"] = "snapshot" if base_version is None else "delta"
    try:
        document = Document(document=kind, mode=mode, compound_id=compound_id, version=version,
                            base_version=base_version, issued_at=now, body=body)
        BODIES[(kind, mode)].model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(document)"
        raise PlatformError(f"{kind.value} {mode} is invalid at {where}: {first['msg']}") from None
    except KeyError:
        raise PlatformError(f"{kind.value} comes as snapshots only") from None
    return sign_payload(document.model_dump(mode="json"), key)


def signed_command(action: Action, *, compound_id: str, gate_id: str, key: SigningKey,
                   now: datetime, ttl_s: int = 60, reader_id: str | None = None,
                   seconds: float | None = None, reason: str = "",
                   issuer: str = "platform") -> tuple[Command, bytes]:
    """A signed command with a fresh nonce, valid for `ttl_s` seconds."""
    try:
        command = Command(command_id=uuid.uuid4().hex, action=action, compound_id=compound_id,
                          gate_id=gate_id, reader_id=reader_id, seconds=seconds, reason=reason,
                          issuer=issuer, issued_at=now, expires_at=now + timedelta(seconds=ttl_s),
                          nonce=secrets.token_urlsafe(24))
    except ValidationError as exc:
        first = exc.errors()[0]
        raise PlatformError(f"command {'.'.join(map(str, first['loc']))}: "
                            f"{first['msg']}") from None
    return command, sign_payload(command.model_dump(mode="json"), key)


def publish(options: BrokerOptions, messages: list[tuple[str, bytes, bool]],
            timeout: float = 10.0) -> None:
    """Publish (topic, payload, retain) messages with QoS 1 and wait for every PUBACK."""
    session = _connect(options, subscriptions=[], on_message=None)
    try:
        for topic, payload, retain in messages:
            info = session.client.publish(topic, payload, qos=1, retain=retain)
            info.wait_for_publish(timeout)
            if not info.is_published():
                raise PlatformError(f"no acknowledgement from the broker for {topic}")
    finally:
        close_session(session)


def _connect(options: BrokerOptions, *, subscriptions: list[str],
             on_message: Callable[[Session, mqtt.MQTTMessage], None] | None,
             timeout: float = 10.0) -> Session:
    protocol = V5 if options.protocol in ("auto", V5) else options.protocol
    session = open_session(options, protocol, will=None, subscriptions=subscriptions,
                           on_message=on_message, on_publish=None, manual_ack=False)
    if not session.connected.wait(timeout) or session.closed.is_set():
        close_session(session)
        raise PlatformError(f"cannot connect to {options.host}:{options.port}: "
                            f"{session.refused or session.close_reason or 'no answer'}")
    return session


class Listener:
    """Watches topics (events and alerts through an MQTT 5 shared subscription)."""

    def __init__(self, options: BrokerOptions, *, shared: list[str], plain: list[str],
                 group: str, on_message: Callable[[str, bytes], None],
                 timeout: float = 10.0) -> None:
        self.options = options
        self.timeout = timeout  # for connecting, and again for the subscription
        self.filters = [f"$share/{group}/{f}" for f in shared] + plain
        self.on_message = on_message
        self.session: Session | None = None
        self.subscribed = threading.Event()

    def __enter__(self) -> Listener:
        session = _connect(self.options, subscriptions=[], on_message=self._message,
                           timeout=self.timeout)
        self.session = session
        session.client.on_subscribe = lambda *args: self.subscribed.set()
        session.client.subscribe([(f, SubscribeOptions(qos=1)) for f in self.filters])
        if not self.subscribed.wait(self.timeout):
            raise PlatformError("the broker did not confirm the subscription")
        return self

    def _message(self, session: Session, message: mqtt.MQTTMessage) -> None:
        self.on_message(message.topic, bytes(message.payload))  # paho: bytes or bytearray

    def __exit__(self, *exc: object) -> None:
        if self.session is not None:
            close_session(self.session)


def parse_json(payload: bytes) -> Any:
    """A payload as JSON, or None when it is not JSON."""
    try:
        return json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return None

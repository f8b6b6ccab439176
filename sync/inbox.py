"""Inbound platform messages: checked, counted, dispatched to documents and commands.

Messages are handled in arrival order on two threads, one for documents and one for commands,
so a backlog of large documents never delays a door command; each is acknowledged to the broker
(manual PUBACK) only after it was applied, so a crash mid-way means a redelivery, which the
version and nonce checks make harmless. A command is small: a payload over MAX_COMMAND_BYTES is
refused before any parsing, so a flood on the command topic costs next to nothing.
Malformed, oversized, unsigned, forged and unknown messages are rejected with a log line and a
counter, never a crash; forgeries also raise an alert (at most one per kind a minute, so a
flood cannot fill the outbox).
"""

from __future__ import annotations

import logging
import queue
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from pydantic import ValidationError

from gate.clock import Clock
from gate.model import AlertSpec, Severity
from gate.passes import TrustList
from gate.vocabulary import AlertKind
from sync.bodies import Document
from sync.commands import Command, Commands, Verdict
from sync.connection import Session
from sync.documents import Documents, Outcome
from sync.signing import MessageError, SignatureError, verify
from sync.topics import DocumentKind, InboundKind, Topics

log = logging.getLogger(__name__)

ALERT_INTERVAL_S = 60.0
MAX_COMMAND_BYTES = 4096  # a signed command is under 1 KB
FORGED = {InboundKind.DOCUMENT: AlertKind.FORGED_DOCUMENT,
          InboundKind.COMMAND: AlertKind.FORGED_COMMAND}
REFUSED = {DocumentKind.ROSTER: AlertKind.ROSTER_REFUSED,
           DocumentKind.PERMITS: AlertKind.PERMITS_REFUSED,
           DocumentKind.TRUST: AlertKind.TRUST_REFUSED,
           DocumentKind.REVOCATIONS: AlertKind.REVOCATIONS_REFUSED,
           DocumentKind.POLICY: AlertKind.POLICY_REFUSED}


@dataclass(frozen=True)
class _Item:
    session: Session | None
    topic: str
    payload: bytes
    mid: int = 0
    qos: int = 0


class Inbox:
    """Receives, verifies and dispatches what the platform sends to this gate."""

    def __init__(self, *, topics: Topics, trust: Callable[[], TrustList], documents: Documents,
                 commands: Commands, clock: Clock, max_bytes: int,
                 alert: Callable[[AlertSpec], None] | None = None,
                 command_result: Callable[[Command, Verdict], None] | None = None) -> None:
        self.topics = topics
        self.trust = trust
        self.documents = documents
        self.commands = commands
        self.clock = clock
        self.max_bytes = max_bytes
        self.alert = alert
        self.command_result = command_result
        self.counters: Counter[str] = Counter()
        self._counter_lock = threading.Lock()
        self._queue: queue.Queue[_Item | None] = queue.Queue()  # documents
        self._command_queue: queue.Queue[_Item | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._last_alert: dict[AlertKind, float] = {}
        self._suppressed: Counter[AlertKind] = Counter()

    # -- threading ---------------------------------------------------------------------------

    def submit(self, session: Session, message: mqtt.MQTTMessage) -> None:
        """paho's on_message: hand the message to its thread (acked after handling)."""
        item = _Item(session, message.topic, bytes(message.payload), message.mid, message.qos)
        inbound = self.topics.classify(message.topic)
        if inbound is not None and inbound.kind is InboundKind.COMMAND:
            self._command_queue.put(item)
        else:
            self._queue.put(item)

    def start(self) -> None:
        """Start the document and command threads."""
        if not self._threads:
            self._threads = [
                threading.Thread(target=self._run, args=(q,), name=name, daemon=True)
                for q, name in ((self._queue, "mqtt-inbox"),
                                (self._command_queue, "mqtt-commands"))]
            for thread in self._threads:
                thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Finish the messages already received, then stop."""
        if self._threads:
            self._queue.put(None)
            self._command_queue.put(None)
            for thread in self._threads:
                thread.join(timeout)
            self._threads = []

    def _run(self, items: queue.Queue[_Item | None]) -> None:
        while (item := items.get()) is not None:
            try:
                self.process(item.topic, item.payload)
            except Exception:
                # Not acknowledged: the broker sends it again on the next connection.
                self._count("error")
                log.exception("inbound message on %s failed", item.topic)
                continue
            session = item.session
            if item.qos > 0 and session is not None and not session.closed.is_set():
                session.client.ack(item.mid, item.qos)

    # -- handling ------------------------------------------------------------------------------

    def process(self, topic: str, payload: bytes) -> str:
        """Handle one message; returns what happened (also the counter's name)."""
        if len(payload) > self.max_bytes:
            return self._reject("oversized", topic, f"{len(payload)} bytes")
        inbound = self.topics.classify(topic)
        if inbound is None:
            return self._reject("unknown_topic", topic, "not a topic the gate subscribes to")
        if inbound.kind is InboundKind.COMMAND and len(payload) > MAX_COMMAND_BYTES:
            return self._reject("oversized_command", topic,
                                f"{len(payload)} bytes, commands are at most {MAX_COMMAND_BYTES}")
        try:
            verified = verify(payload, self.trust(), self.clock.now())
        except SignatureError as exc:
            self._forgery(FORGED[inbound.kind], exc.reason, topic, str(exc))
            return self._reject(exc.reason, topic, str(exc))
        except MessageError as exc:
            return self._reject(exc.reason, topic, str(exc))
        kind = verified.payload.get("type")
        if kind not in ("document", "command"):
            return self._reject("unknown_type", topic, f"type {kind!r}")
        if kind != inbound.kind.value:
            return self._reject("wrong_topic", topic, f"a {kind} on a {inbound.kind} topic")
        if inbound.kind is InboundKind.COMMAND:
            return self._command(topic, verified.payload, verified.key_id)
        try:
            document = Document.model_validate(verified.payload)
        except ValidationError as exc:
            return self._reject("malformed", topic, _first_error(exc))
        if document.document is not inbound.document:
            return self._reject("wrong_topic", topic,
                                f"a {document.document} document on a {inbound.document} topic")
        result = self.documents.handle(document)
        self._count(f"document_{result.outcome.value}")
        if result.outcome is Outcome.INVALID:
            log.warning("document %s version %d rejected: %s", document.document.value,
                        document.version, result.detail)
            # Well signed yet unusable: the platform has a bug someone must look at.
            self._limited_alert(
                REFUSED[document.document],
                f"平台数据 {document.document.value} 版本 {document.version} 无法使用，已拒绝："
                f"{result.detail[:200]}",
                f"platform {document.document.value} version {document.version} refused: "
                f"{result.detail[:200]}")
        elif result.outcome is not Outcome.APPLIED:
            log.info("document %s version %d: %s (%s)", document.document.value,
                     document.version, result.outcome.value, result.detail)
        return f"document_{result.outcome.value}"

    def _command(self, topic: str, payload: dict[str, object], key_id: str) -> str:
        try:
            command = Command.model_validate(payload)
        except ValidationError as exc:
            return self._reject("malformed", topic, _first_error(exc))
        verdict = self.commands.handle(command, key_id)
        if verdict.duplicate:
            self._count("command_duplicate")
            log.info("command %s delivered again; handled before", command.command_id)
            return "command_duplicate"
        if verdict.forged:
            self._forgery(AlertKind.FORGED_COMMAND, "replayed_command", topic, verdict.reason)
        if self.command_result is not None:
            self.command_result(command, verdict)
        name = "command_accepted" if verdict.accepted else "command_refused"
        self._count(name)
        return name

    def _reject(self, reason: str, topic: str, detail: str) -> str:
        self._count(reason)
        log.warning("rejected message on %s: %s (%s)", topic, reason, detail[:300])
        return reason

    def _count(self, name: str) -> None:
        with self._counter_lock:
            self.counters[name] += 1

    def _forgery(self, kind: AlertKind, reason: str, topic: str, detail: str) -> None:
        command = kind is AlertKind.FORGED_COMMAND
        what_zh = "遥控命令" if command else "平台数据"
        self._limited_alert(
            kind, f"收到未通过签名校验的{what_zh}，已拒绝：{reason}",
            f"rejected platform {'command' if command else 'data'} on {topic}: "
            f"{detail[:200]}")

    def _limited_alert(self, kind: AlertKind, zh: str, en: str) -> None:
        """An urgent alert, at most one per kind a minute (a flood cannot fill the outbox)."""
        if self.alert is None:
            return
        now = self.clock.monotonic()
        with self._counter_lock:
            last = self._last_alert.get(kind)
            if last is not None and now - last < ALERT_INTERVAL_S:
                self._suppressed[kind] += 1
                return
            self._last_alert[kind] = now
            more = self._suppressed.pop(kind, 0)
        extra_zh = f"（另有 {more} 条同类消息）" if more else ""
        extra_en = f" ({more} more like it)" if more else ""
        self.alert(AlertSpec(kind, Severity.URGENT, zh + extra_zh, en + extra_en))

    def snapshot(self) -> dict[str, int]:
        """A copy of the counters."""
        with self._counter_lock:
            return dict(self.counters)


def _first_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"


def new_id() -> str:
    """A fresh event id for messages the link itself originates."""
    return uuid.uuid4().hex

"""Inbound platform messages: checked, counted, dispatched to documents and commands.

Messages are handled in arrival order on two threads, one for documents and one for commands,
so a backlog of large documents never delays a door command; each is acknowledged to the broker
(manual PUBACK) only after it was applied, so a crash mid-way means a redelivery, which the
version and nonce checks make harmless.

Someone with write access to the broker can send anything, as fast as the network goes, so
what a message costs before it is known to be the platform's is bounded: a message over
`max_bytes` (or a command over MAX_COMMAND_BYTES) is refused by its size as it arrives; a large
one that `screen` refuses from its first bytes (unsigned, malformed, an unknown key...) is not
even kept (sync.receive skips the rest and hands over a marker, counted in its turn); the
signature is checked over the raw bytes before anything in them is parsed (sync.signing);
refused messages write nothing (counters live in memory, the forgery alert comes at most once
per kind a minute) and are logged at most LOG_BURST times per reason a minute.

Each thread's queue is bounded (count, and bytes for documents): when one is full, the oldest
message that came with QoS 0 is dropped, or, with none such queued, the oldest message of all;
dropped messages are acknowledged (a broker stops sending to a client whose in-flight window
is full of unacknowledged messages) and counted (`document_dropped`, `command_dropped`).
The platform publishes with QoS 1, so a QoS 0 flood only ever pushes out its own messages.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections import Counter, deque
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
from sync.receive import Payload, Refusal
from sync.signing import MessageError, SignatureError, screen, verify
from sync.topics import DocumentKind, Inbound, InboundKind, Topics

log = logging.getLogger(__name__)

ALERT_INTERVAL_S = 60.0
MAX_COMMAND_BYTES = 4096  # a signed command is under 1 KB
MAX_QUEUED_DOCUMENTS = 64  # and at most two of the largest documents' worth of bytes
MAX_QUEUED_COMMANDS = 64
LOG_BURST = 10  # rejection lines per reason a minute; the rest are counted, then summed up
DOCUMENTS_NICE = 10  # the documents thread runs this much nicer than the gate
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
    payload: Payload  # as received (sync.receive): never copied
    mid: int = 0
    qos: int = 0
    refusal: Refusal | None = None  # refused from its first bytes, the rest never kept


class _Queue:
    """A bounded FIFO of received messages: at most `max_items` messages, `max_bytes` bytes.

    When a message does not fit, the oldest message that came with QoS 0 (the new one counts
    too, as the newest) is dropped, or with none such, the oldest message queued, until it fits.
    `close()` lets the reader finish what is queued, then `get()` returns None.
    """

    def __init__(self, max_items: int, max_bytes: int) -> None:
        self.max_items = max_items
        self.max_bytes = max_bytes
        self._items: deque[_Item] = deque()
        self._bytes = 0
        self._closed = False
        self._cond = threading.Condition()

    def put(self, item: _Item) -> list[_Item]:
        """Queue `item`; returns the messages dropped to make room (possibly `item` itself)."""
        dropped: list[_Item] = []
        with self._cond:
            while self._items and (len(self._items) >= self.max_items
                                   or self._bytes + len(item.payload) > self.max_bytes):
                victim = next((i for i in self._items if i.qos == 0), None)
                if victim is None and item.qos == 0:
                    return [item]  # only messages the platform sent with QoS 1 are queued
                victim = victim or self._items[0]
                self._items.remove(victim)
                self._bytes -= len(victim.payload)
                dropped.append(victim)
            self._items.append(item)
            self._bytes += len(item.payload)
            self._cond.notify()
        return dropped

    def get(self) -> _Item | None:
        """The next message, waiting for one; None once closed and empty."""
        with self._cond:
            while not self._items and not self._closed:
                self._cond.wait()
            if not self._items:
                return None
            item = self._items.popleft()
            self._bytes -= len(item.payload)
            return item

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)


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
        # Room for two of the largest documents: one may wait while another is applied.
        self._queue = _Queue(MAX_QUEUED_DOCUMENTS, 2 * max_bytes)  # documents
        self._command_queue = _Queue(MAX_QUEUED_COMMANDS, MAX_QUEUED_COMMANDS * MAX_COMMAND_BYTES)
        self._threads: list[threading.Thread] = []
        self._last_alert: dict[AlertKind, float] = {}
        self._suppressed: Counter[AlertKind] = Counter()
        self._log_window: dict[str, tuple[float, int, int]] = {}  # reason: start, lines, held

    # -- threading ---------------------------------------------------------------------------

    def submit(self, session: Session, message: mqtt.MQTTMessage) -> None:
        """paho's on_message: refuse by size and topic at once, else hand the message to its
        thread (acknowledged after handling); a full queue drops one (see the module)."""
        topic, payload = message.topic, message.payload  # kept as received: never copied
        inbound = self.topics.classify(topic)
        if self._refused_early(topic, len(payload), inbound) is not None:
            self._ack(session, message.mid, message.qos)
            return
        self._enqueue(_Item(session, topic, payload, message.mid, message.qos), inbound)

    def screen(self, topic: str, size: int, head: bytes) -> Refusal | None:
        """For sync.receive: whether a large message need be read at all, from its first
        bytes; None: read it (topics of others, such as the peer link's, are always read)."""
        inbound = self.topics.classify(topic)
        if inbound is None:
            return None
        if size > self.max_bytes:
            return "oversized", f"{size} bytes, not read", False
        if inbound.kind is InboundKind.COMMAND and size > MAX_COMMAND_BYTES:
            return ("oversized_command", f"{size} bytes, commands are at most "
                    f"{MAX_COMMAND_BYTES}; not read", False)
        try:
            screen(head, size, self.trust(), self.clock.now())
        except SignatureError as exc:
            return exc.reason, f"{exc}; not read", True
        except MessageError as exc:
            return exc.reason, f"{exc}; not read", False
        return None

    def refused(self, session: Session, topic: str, size: int, refusal: Refusal | None,
                mid: int, qos: int) -> None:
        """For sync.receive: a message refused before its payload was kept. It is counted (and
        acknowledged) in its turn on its thread, like the messages around it."""
        refusal = refusal or ("oversized", f"{size} bytes, not read", False)
        self._enqueue(_Item(session, topic, b"", mid, qos, refusal),
                      self.topics.classify(topic))

    def _enqueue(self, item: _Item, inbound: Inbound | None) -> None:
        command = inbound is not None and inbound.kind is InboundKind.COMMAND
        for dropped in (self._command_queue if command else self._queue).put(item):
            name = "command_dropped" if command else "document_dropped"
            self._count(name)
            self._log(name, f"queue full: dropped a message on {dropped.topic} "
                      f"({len(dropped.payload)} bytes, QoS {dropped.qos})")
            self._ack(dropped.session, dropped.mid, dropped.qos)

    @staticmethod
    def _ack(session: Session | None, mid: int, qos: int) -> None:
        if qos > 0 and session is not None and not session.closed.is_set():
            session.client.ack(mid, qos)

    def queued(self) -> dict[str, int]:
        """Messages waiting in each queue (documents, commands)."""
        return {"documents": len(self._queue), "commands": len(self._command_queue)}

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
            self._queue.close()
            self._command_queue.close()
            for thread in self._threads:
                thread.join(timeout)
            self._threads = []
            self._queue = _Queue(self._queue.max_items, self._queue.max_bytes)
            self._command_queue = _Queue(self._command_queue.max_items,
                                         self._command_queue.max_bytes)

    def _run(self, items: _Queue) -> None:
        if items is self._queue:
            _lower_priority(DOCUMENTS_NICE)
        while (item := items.get()) is not None:
            try:
                if item.refusal is not None:
                    self._refuse(item.topic, *item.refusal)
                else:
                    self.process(item.topic, item.payload)
            except Exception:
                # Not acknowledged: the broker sends it again on the next connection.
                self._count("error")
                log.exception("inbound message on %s failed", item.topic)
                continue
            self._ack(item.session, item.mid, item.qos)

    # -- handling ------------------------------------------------------------------------------

    def _refused_early(self, topic: str, size: int, inbound: Inbound | None) -> str | None:
        """Refusals by size and topic alone (nothing of the payload read); None: go on."""
        if size > self.max_bytes:
            return self._reject("oversized", topic, f"{size} bytes")
        if inbound is None:
            return self._reject("unknown_topic", topic, "not a topic the gate subscribes to")
        if inbound.kind is InboundKind.COMMAND and size > MAX_COMMAND_BYTES:
            return self._reject("oversized_command", topic,
                                f"{size} bytes, commands are at most {MAX_COMMAND_BYTES}")
        return None

    def process(self, topic: str, payload: Payload) -> str:
        """Handle one message; returns what happened (also the counter's name)."""
        inbound = self.topics.classify(topic)
        early = self._refused_early(topic, len(payload), inbound)
        if early is not None or inbound is None:
            return early or "unknown_topic"
        try:
            # A received buffer is the inbox's own: its header line may be written over.
            verified = verify(payload, self.trust(), self.clock.now(),
                              in_place=not isinstance(payload, bytes))
        except SignatureError as exc:
            return self._refuse(topic, exc.reason, str(exc), True)
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

    def _refuse(self, topic: str, reason: str, detail: str, forged: bool) -> str:
        inbound = self.topics.classify(topic)
        if forged and inbound is not None:
            self._forgery(FORGED[inbound.kind], reason, topic, detail)
        return self._reject(reason, topic, detail)

    def _reject(self, reason: str, topic: str, detail: str) -> str:
        self._count(reason)
        self._log(reason, f"rejected message on {topic}: {reason} ({detail[:300]})")
        return reason

    def _log(self, reason: str, text: str) -> None:
        """A warning, at most LOG_BURST per reason a minute (a flood cannot flood the log)."""
        now = self.clock.monotonic()
        with self._counter_lock:
            start, lines, held = self._log_window.get(reason, (now, 0, 0))
            if now - start >= ALERT_INTERVAL_S:
                start, lines = now, 0
            if lines >= LOG_BURST:
                self._log_window[reason] = (start, lines, held + 1)
                return
            self._log_window[reason] = (start, lines + 1, 0)
        if held:
            text += f"; {held} more {reason} not logged"
        log.warning("%s", text)

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


def _lower_priority(by: int) -> None:
    """This thread's CPU priority lowered (Linux nice values are per thread): verifying and
    parsing documents is background work; the door's thread and commands come first."""
    try:
        thread = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, thread, min(19, os.getpriority(os.PRIO_PROCESS,
                                                                      thread) + by))
    except (OSError, AttributeError):  # not Linux: the thread keeps the process's priority
        pass


def _first_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"


def new_id() -> str:
    """A fresh event id for messages the link itself originates."""
    return uuid.uuid4().hex

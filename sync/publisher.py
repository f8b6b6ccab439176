"""The outbox pump: publish MQTT rows in order with QoS 1, delete each only after its PUBACK.

Rows are read in batches and kept in flight up to a window (ours, lowered to the broker's
Receive Maximum); acknowledged rows are deleted in batches. When a connection drops, rows in
flight stay in the outbox and are sent again on the next connection (consumers drop the
duplicates by event id), however often that happens: a drop or a refusal says nothing about the
message itself (a broker ACL, a quota, a restart). A row is changed only on evidence about its
own content: a size over the limit the broker announced, or a PUBACK 0x95 (packet too large)
makes it a stub without data; a stub still refused as too large, or a PUBACK 0x99 (payload
format invalid), moves it to `outbox_dead` with an alert (`requeue_dead` sends it again).
After a drop with several rows in flight, those rows are sent again one at a time, so that a
PUBACK the broker sends just before closing the connection can be read.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from paho.mqtt.client import MQTT_ERR_SUCCESS
from sqlite_utils import Database

from gate.clock import Clock
from gate.model import AlertSpec, Severity
from gate.store import open_database
from gate.vocabulary import AlertKind, EventType
from sync.connection import Session
from sync.messages import EventMessage
from sync.outbox import OutboxRow, bury, delete, fetch, replace_payload
from sync.schema import MQTT_SINK

log = logging.getLogger(__name__)

_HEADER_ALLOWANCE = 512  # fixed header, topic and properties around the payload
_FAILED_PUBACK = 0x80
_OWN_ALERTS = (AlertKind.EVENT_TRUNCATED, AlertKind.EVENT_UNDELIVERABLE)
PACKET_TOO_LARGE = 0x95
PAYLOAD_FORMAT_INVALID = 0x99


@dataclass
class PublisherStats:
    """Counters for the state message, the panel and the benchmark."""

    published: int = 0
    acknowledged: int = 0
    stubbed: int = 0
    buried: int = 0
    refused: int = 0
    last_ack_at: float | None = None  # monotonic


class Publisher:
    """Pumps the MQTT rows of the outbox through one session at a time."""

    def __init__(self, db_path: Path, *, clock: Clock, window: int = 200, batch_size: int = 500,
                 max_message_bytes: int = 262144,
                 alert: Callable[[AlertSpec], None] | None = None,
                 state: Callable[[Session], None] | None = None,
                 state_interval_s: float = 60.0) -> None:
        self.db_path = db_path
        self.clock = clock
        self.window = window
        self.batch_size = batch_size
        self.max_message_bytes = max_message_bytes
        self.alert = alert
        self.publish_state = state
        self.state_interval_s = state_interval_s
        self.stats = PublisherStats()
        self._cond = threading.Condition()
        self._dirty = True
        self._state_due = True
        self._acks: deque[tuple[Session, int, int]] = deque()
        # After a drop with several rows in flight, rows up to this id are sent one at a time:
        # Mosquitto drops the connection right after its PUBACK 0x95, and that PUBACK is read
        # reliably only when nothing else of ours was still unread on the broker's side.
        self._probe_until = 0
        self._db: Database | None = None

    # -- callbacks from paho's network thread and from the outbox -------------------------

    def wake(self) -> None:
        """New rows were committed."""
        with self._cond:
            self._dirty = True
            self._cond.notify()

    def request_state(self) -> None:
        """Publish the retained state again soon (versions changed)."""
        with self._cond:
            self._state_due = True
            self._cond.notify()

    def on_publish(self, session: Session, mid: int, reason: int) -> None:
        """PUBACK (paho's on_publish): queue it for the pump thread."""
        with self._cond:
            self._acks.append((session, mid, reason))
            self._cond.notify()

    def on_close(self, session: Session) -> None:
        """The connection dropped or the link is stopping: let the pump look."""
        with self._cond:
            self._cond.notify()

    # -- the pump ---------------------------------------------------------------------------

    def pump(self, session: Session, stop: threading.Event) -> None:
        """Publish until the session closes or `stop` is set."""
        if self._db is None:
            self._db = open_database(self.db_path)
            # Losing a delete to power loss only means a duplicate later; no fsync per batch.
            self._db.execute("PRAGMA synchronous=NORMAL")
        db = self._db
        window = min(self.window, session.receive_maximum or self.window)
        limit = self.max_message_bytes
        if session.max_packet_size:
            limit = min(limit, session.max_packet_size - _HEADER_ALLOWANCE)
        inflight: dict[int, OutboxRow] = {}
        ahead: deque[OutboxRow] = deque()  # read from the outbox, not yet sent
        acked: list[int] = []
        cursor = 0  # id of the last row read
        last_delete = last_state = time.monotonic()
        self._state_due = True
        blamed = False  # a refusing PUBACK: the broker named the message itself
        try:
            while not stop.is_set() and not session.closed.is_set():
                busy = False
                for mid, reason in self._take_acks(session):
                    row = inflight.pop(mid, None)
                    if row is None:
                        continue  # the retained state, or a message of an earlier session
                    if reason >= _FAILED_PUBACK:
                        self._refused(db, row, reason, session)
                        blamed = True
                        break
                    acked.append(row.id)
                    self.stats.acknowledged += 1
                    self.stats.last_ack_at = time.monotonic()
                now = time.monotonic()
                if acked and (len(acked) >= self.batch_size or not inflight
                              or now - last_delete > 0.05):
                    delete(db, acked)
                    acked = []
                    last_delete = now
                    busy = True
                if self.publish_state and (self._state_due
                                           or now - last_state > self.state_interval_s):
                    self._state_due = False
                    last_state = now
                    self.publish_state(session)
                if not ahead:  # read a batch ahead: one query per batch, not per message
                    ahead.extend(fetch(db, MQTT_SINK, cursor, self.batch_size))
                    if ahead:
                        cursor = ahead[-1].id
                probing = bool(ahead) and ahead[0].id <= self._probe_until
                room = (1 if probing else window) - len(inflight)
                sent = 0
                while ahead and sent < room and not session.closed.is_set():
                    row = ahead.popleft()
                    payload = self._fit(db, row, limit)
                    info = session.client.publish(row.topic, payload, qos=1)
                    if info.rc != MQTT_ERR_SUCCESS:
                        session.closed.set()
                        break
                    inflight[info.mid] = row
                    sent += 1
                    self.stats.published += 1
                    if ahead and ahead[0].id > self._probe_until >= row.id:
                        break  # probing ends here; the full window opens next round
                busy = busy or sent > 0
                if not busy:
                    with self._cond:
                        if not self._acks and not (self._dirty and not ahead):
                            self._cond.wait(0.5 if not inflight else 0.05)
                        self._dirty = False
        finally:
            if acked:
                delete(db, acked)
            if len(inflight) > 1 and not stop.is_set() and not blamed:
                self._probe_until = max(self._probe_until,
                                        max(r.id for r in inflight.values()))

    def _take_acks(self, session: Session) -> list[tuple[int, int]]:
        with self._cond:
            acks = [(mid, reason) for s, mid, reason in self._acks if s is session]
            self._acks.clear()
        return acks

    def _refused(self, db: Database, row: OutboxRow, reason: int, session: Session) -> None:
        """A refusing PUBACK: change the row only when the code is about its content."""
        self.stats.refused += 1
        if reason == PACKET_TOO_LARGE and not EventMessage.model_validate_json(
                row.payload).truncated:
            self._stub(db, row, "the broker refused it as too large (PUBACK 0x95)")
        elif reason in (PACKET_TOO_LARGE, PAYLOAD_FORMAT_INVALID):
            self._bury(db, row, f"the broker refused it (PUBACK 0x{reason:02x})")
        else:
            # Not authorized, quota exceeded, unspecified: about the gate or the broker, not
            # this message. It stays first in line; the link reconnects with backoff.
            log.error("broker refused event %s (seq %d) with reason 0x%02x; keeping it and "
                      "trying again after a pause", row.event_id, row.seq, reason)
        session.close_reason = f"PUBACK reason 0x{reason:02x} for seq {row.seq}"
        # Later rows in flight may have been accepted; resending them all keeps the order.
        session.client.disconnect()
        session.closed.set()

    def _fit(self, db: Database, row: OutboxRow, limit: int) -> str:
        """The payload to send: whole, or a stub when over the known size limit."""
        size = len(row.payload.encode("utf-8"))
        if size <= limit:
            return row.payload
        message = EventMessage.model_validate_json(row.payload)
        if message.truncated:
            return row.payload
        return self._stub(db, row, f"{size} bytes over the limit of {limit}")

    def _stub(self, db: Database, row: OutboxRow, why: str) -> str:
        stub = EventMessage.model_validate_json(row.payload).stub(why).model_dump_json()
        replace_payload(db, row.id, stub)
        self.stats.stubbed += 1
        log.error("event %s (seq %d) sent without its data: %s", row.event_id, row.seq, why)
        self._raise(AlertSpec(
            AlertKind.EVENT_TRUNCATED, Severity.WARNING,
            f"事件 {row.event_id}（序号 {row.seq}）过大，只发送了摘要；完整记录在本机日志中",
            f"event {row.event_id} (seq {row.seq}) sent without its data ({why}); the full "
            "record stays in the gate's journal"), row)
        return stub

    def _bury(self, db: Database, row: OutboxRow, why: str) -> None:
        bury(db, row, MQTT_SINK, why, self.clock.now())
        self.stats.buried += 1
        log.error("event %s (seq %d) moved to outbox_dead: %s", row.event_id, row.seq, why)
        self._raise(AlertSpec(
            AlertKind.EVENT_UNDELIVERABLE, Severity.URGENT,
            f"事件 {row.event_id}（序号 {row.seq}）被服务器拒收，已移入待查表",
            f"event {row.event_id} (seq {row.seq}): {why}; moved to outbox_dead "
            "(`gridgate outbox requeue` sends it again)"), row)

    def _raise(self, spec: AlertSpec, row: OutboxRow) -> None:
        if self.alert is None:
            return
        if row.kind == EventType.ALERT and EventMessage.model_validate_json(row.payload).data.get(
                "kind") in _OWN_ALERTS:
            return  # an alert about one of these alerts could chain without end
        try:
            self.alert(spec)
        except Exception:
            log.exception("cannot record the %s alert", spec.kind)

    def close(self) -> None:
        """Close the pump's database connection."""
        if self._db is not None:
            self._db.close()
            self._db = None

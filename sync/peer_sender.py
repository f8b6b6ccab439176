"""The sender of the peer sink: this gate's signed passages to its peers, in order, QoS 1."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from paho.mqtt.client import MQTT_ERR_SUCCESS

from gate.clock import Clock
from gate.policy import Policy
from gate.store import open_database
from sync.connection import Session
from sync.outbox import OutboxRow, bury, delete, drop_older, fetch
from sync.peer_messages import lookback
from sync.schema import PEER_SINK, migrate

log = logging.getLogger(__name__)
PRUNE_INTERVAL_S = 600.0
RECENT_SENT = 4096  # digests of own messages kept to know their echo
_FAILED_PUBACK = 0x80
_ABOUT_THE_MESSAGE = (0x95, 0x99)  # packet too large, payload format invalid


class PeerSender:
    """Pumps the peer sink of the outbox through the live session: in order, QoS 1, a row
    deleted after its PUBACK. A refusal about the message itself (too large, bad format)
    moves the row to outbox_dead; any other refusal (an ACL) pauses the peer rows only, with
    backoff, and the platform's events go on. Rows older than the rules look back are
    dropped: a peer that missed them asks for them anyway."""

    def __init__(self, db_path: Path, *, clock: Clock, window: int,
                 policy: Callable[[], Policy]) -> None:
        self.db_path = db_path
        self.clock = clock
        self.window = window
        self.policy = policy
        self._db = open_database(db_path)
        self._db.execute("PRAGMA synchronous=NORMAL")  # a lost delete is a duplicate, no more
        migrate(self._db)
        self._cond = threading.Condition()
        self._session: Session | None = None
        self._acks: deque[tuple[Session, int, int]] = deque()
        self._dirty = True
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._published = 0
        self._acknowledged = 0
        self._refused = 0
        # Digests of what was published lately: the broker sends our own messages back to us
        # (a wildcard subscription), and knowing them costs no signature check.
        self._recent: deque[bytes] = deque(maxlen=RECENT_SENT)
        self._recent_set: set[bytes] = set()
        self._recent_lock = threading.Lock()

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="mqtt-peer-sender",
                                            daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self.wake()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def close(self) -> None:
        self._db.close()

    def use(self, session: Session) -> None:
        with self._cond:
            self._session = session
            self._dirty = True
            self._cond.notify()

    def wake(self) -> None:
        with self._cond:
            self._dirty = True
            self._cond.notify()

    def on_publish(self, session: Session, mid: int, reason: int) -> None:
        with self._cond:
            self._acks.append((session, mid, reason))
            self._cond.notify()

    def remember(self, payload: bytes) -> None:
        digest = hashlib.blake2b(payload, digest_size=16).digest()
        with self._recent_lock:
            if len(self._recent) == self._recent.maxlen:
                self._recent_set.discard(self._recent[0])
            self._recent.append(digest)
            self._recent_set.add(digest)

    def sent_recently(self, payload: bytes | bytearray) -> bool:
        digest = hashlib.blake2b(payload, digest_size=16).digest()
        with self._recent_lock:
            return digest in self._recent_set

    def stats(self) -> dict[str, int]:
        return {"published": self._published, "acknowledged": self._acknowledged,
                "publish_refused": self._refused}

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._pump()
            except Exception:  # a database error (a full disk): rows stay, sent again later
                log.exception("peer sender failed; trying again in a second")
                self._stop.wait(1.0)

    def _pump(self) -> None:
        current: Session | None = None
        inflight: dict[int, OutboxRow] = {}
        cursor = 0
        pause_until = 0.0
        backoff = 1.0
        last_prune = 0.0
        while not self._stop.is_set():
            with self._cond:
                session = self._session
                acks = [(m, r) for s, m, r in self._acks if s is session]
                self._acks.clear()
            now = time.monotonic()
            if now - last_prune > PRUNE_INTERVAL_S:
                last_prune = now
                self._prune()
            live = (session is not None and session.connected.is_set()
                    and not session.closed.is_set())
            if session is not current or not live:
                current, inflight, cursor = (session if live else None), {}, 0
            acked: list[int] = []
            for mid, reason in acks:
                row = inflight.pop(mid, None)
                if row is None:
                    continue
                if reason >= _FAILED_PUBACK:
                    self._refused += 1
                    if reason in _ABOUT_THE_MESSAGE:
                        bury(self._db, row, PEER_SINK, f"the broker refused it (PUBACK "
                             f"0x{reason:02x})", self.clock.now())
                        log.error("peer passage %s moved to outbox_dead (PUBACK 0x%02x)",
                                  row.event_id, reason)
                        continue
                    log.error("broker refused peer passage %s (PUBACK 0x%02x); peer "
                              "passages pause %.0f s (is the peers topic in the ACL?)",
                              row.event_id, reason, backoff)
                    pause_until, backoff = now + backoff, min(backoff * 2, 60.0)
                    inflight, cursor = {}, 0  # everything unacknowledged goes again, in order
                    break
                acked.append(row.id)
                self._acknowledged += 1
                backoff = 1.0
            if acked:
                delete(self._db, acked)
            busy = bool(acked)
            if current is not None and now >= pause_until and len(inflight) < self.window:
                for row in fetch(self._db, PEER_SINK, cursor, self.window - len(inflight)):
                    payload = row.payload.encode("utf-8")
                    self.remember(payload)
                    info = current.client.publish(row.topic, payload, qos=1)
                    if info.rc != MQTT_ERR_SUCCESS:
                        break
                    inflight[info.mid] = row
                    cursor = row.id
                    self._published += 1
                    busy = True
            if not busy:
                with self._cond:
                    if not self._acks and not self._dirty and not self._stop.is_set():
                        self._cond.wait(0.5)
                    self._dirty = False

    def _prune(self) -> None:
        try:
            dropped = drop_older(self._db, PEER_SINK,
                                 self.clock.now() - lookback(self.policy()))
        except Exception:
            log.exception("cannot prune old peer rows")
            return
        if dropped:
            log.warning("dropped %d peer passages never acknowledged by the broker within the "
                        "rules' look-back (peers ask for what they miss)", dropped)

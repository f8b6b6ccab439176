"""The peer link: the gates of one compound tell each other every passage they decide.

Each gate decides alone on what it knows (gate/compound.py); this link makes what it knows the
compound's. Every passage this gate records gets, in the journal's own transaction, an outbox
row of the `peer` sink: the passage's columns (gate.journal.rows.PEER_COLUMNS) with this
journal's epoch and the passage's seq, signed with this gate's own Ed25519 key
(state_dir/keys/gate.key, scope "gate" in the trust list). A sender thread of its own
(sync/peer_sender.py) publishes those rows in order with QoS 1 on
PREFIX/v1/COMPOUND/GATE/peers/passages and deletes each after its PUBACK, so they survive
restarts and outages like every outbox row, and a broker that refuses them (an ACL) never holds
up the platform's events.

Receiving (persistent session, QoS 1): on a thread of its own, in arrival order, each message is
acknowledged after it was handled, and refused, counted and never applied unless
sync/peer_verify.py believes it (the signature of exactly the gate that speaks, checked before
parsing; the strict models; the compound; the gate ids). A new peer passage that is a granted
yellow exit is checked for a quota conflict (gate.compound.quota_conflict): the gate whose own
exit is the latest raises the alert.

Catching up (sync/peer_catchup.py): a gate that was offline gets what it missed from its
persistent session; one that is new, whose session expired or whose broker forgot it asks its
peers on every connection, with what it held of each (per epoch: sync/peer_store.py) before
anything of the new session was applied, and once more to each peer whose state turns online
while it listens. Merging is safe whatever the order: passages are immutable facts with unique
event ids, and the rules order them by `order_at`.

The compound view (gate.compound.CompoundView) hears the broker connection come and go and each
peer's retained state turn online or offline: as signed by that peer's key in the state's
`peer` field, and never older than one already heard (its connection number only grows).
"""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.client import MQTT_ERR_SUCCESS
from pydantic import ValidationError
from sqlite_utils import Database

from gate.clock import Clock
from gate.compound import CompoundView, quota_conflict
from gate.events import JournalEvent
from gate.journal import Journal
from gate.journal.queries import utc_text
from gate.model import AlertSpec, Colour, Direction
from gate.passes import SigningKey, TrustList
from gate.passes.ledger import LiveUse, record_use
from gate.passes.live import step_of
from gate.passes.trust import GATE_SCOPE, TrustedKey
from gate.policy import Policy
from gate.store import open_database
from gate.vocabulary import EventType
from sync.connection import Session
from sync.outbox import insert_row
from sync.peer_catchup import MAX_REPLAY, CatchUp
from sync.peer_counts import PeerCounts
from sync.peer_messages import CatchupRequest, PassageMessage, StateProof, passage_message
from sync.peer_sender import PeerSender
from sync.peer_store import Mark, PeerStore
from sync.peer_verify import PeerVerifier, Refused
from sync.schema import PEER_SINK, counter
from sync.signing import sign_payload
from sync.topics import PeerInbound, PeerKind, Topics

log = logging.getLogger(__name__)

MAX_PEER_BYTES = 16 * 1024  # a signed passage is about 1 KB
MAX_STATE_BYTES = 64 * 1024
MAX_QUEUED = 1024  # received peer messages waiting for the peer thread
RETRY_AFTER_S = 30.0  # a passage that could not be recorded is asked for again after this


# -- the queue of received messages -----------------------------------------------------------


@dataclass(frozen=True)
class _Item:
    session: Session | None
    topic: str
    payload: bytes | bytearray
    peer: PeerInbound
    mid: int = 0
    qos: int = 0
    retain: bool = False


@dataclass(frozen=True)
class _Connected:
    session: Session


@dataclass(frozen=True)
class _Dropped:
    gate_id: str  # as the topic named it: catch up with it from here


_Entry = _Item | _Connected | _Dropped


class PeerLink:
    """This gate's side of the peer link: publishes its passages, keeps its peers'."""

    def __init__(self, *, journal: Journal, db_path: Path, topics: Topics, key: SigningKey,
                 trust: Callable[[], TrustList], policy: Callable[[], Policy], clock: Clock,
                 view: CompoundView | None = None,
                 alert: Callable[[AlertSpec], None] | None = None,
                 max_replay: int = MAX_REPLAY, window: int = 100) -> None:
        self.journal = journal
        self.topics = topics
        self.key = key
        self.trust = trust
        self.policy = policy
        self.clock = clock
        self.view = view
        self.gate_id = topics.gate_id
        self.counts = PeerCounts(alert)
        self._count = self.counts.count
        self._refuse = self.counts.refuse
        self._verifier = PeerVerifier(topics.compound_id, self.gate_id, TrustList(
            [TrustedKey(key.key_id, key.public_key, GATE_SCOPE, gate_id=self.gate_id)]))
        # The peer thread's connection: peer passages, high-water marks, replays, conflicts.
        # A peer passage lost to power loss is asked for again (the high-water mark is lower):
        # no fsync per peer passage.
        self._db = open_database(db_path)
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db_lock = threading.RLock()
        self._peer_journal = Journal(self._db, gate_id=self.gate_id, clock=clock)
        self.store = PeerStore(self._db, self._db_lock, self.gate_id)
        self.epoch = self.store.epoch
        self.connection = 0  # the number of the current connection (its states carry it)
        self._sender = PeerSender(db_path, clock=clock, window=window, policy=policy)
        self.catchup = CatchUp(store=self.store, topics=topics, clock=clock, policy=policy,
                               publish=self._publish, passage=self._passage_message,
                               count=self._count, linked=lambda: self._session is not None,
                               max_replay=max_replay)
        self._queue: deque[_Entry] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._session: Session | None = None  # the live session, for answers and requests
        self._seen: Session | None = None  # the session whose messages are being applied
        self._held_before: dict[str, Mark] = {}  # marks before `_seen`'s first message
        self._online: set[str] = set()  # peers heard online during this connection
        self._listeners: list[Callable[[dict[str, Any]], None]] = []
        journal.add_transaction_hook(self._record)
        journal.add_listener(self._after_commit)

    # -- what the service wires --------------------------------------------------------------

    @property
    def filters(self) -> list[str]:
        """Topic filters to subscribe to (QoS 1)."""
        return self.topics.peer_subscriptions()

    def add_listener(self, listener: Callable[[dict[str, Any]], None]) -> None:
        """Call `listener(row)` for every new peer passage, after it was recorded."""
        self._listeners.append(listener)

    def start(self) -> None:
        if self._thread is None:
            self._closed = False
            self._thread = threading.Thread(target=self._run, name="mqtt-peers", daemon=True)
            self._thread.start()
            self._sender.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Finish the messages received, stop both threads (connections stay for close())."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._sender.stop(timeout)

    def close(self) -> None:
        self.stop()
        self._sender.close()
        self._db.close()

    def new_connection(self) -> int:
        """Number the next connection (before its Last Will is made): higher than any before."""
        self.connection = self.store.next_connection(int(self.clock.now().timestamp() * 1000))
        return self.connection

    def state_proof(self, online: bool) -> str:
        """This gate's state for the current connection, signed: the `peer` field of its state
        message, which is all its peers believe of that message."""
        proof = {"type": "peer_state", "schema_version": 1,
                 "compound_id": self.topics.compound_id, "gate_id": self.gate_id,
                 "online": online, "connection": max(1, self.connection),
                 "at": utc_text(self.clock.now())}
        return sign_payload(proof, self.key).decode("utf-8")

    def session_started(self, session: Session) -> None:
        """The link is up (link thread, before the outbox pump runs)."""
        self._session = session
        if self.view is not None:
            self.view.link_up()
        self._sender.use(session)
        self._put(_Connected(session), force=True)

    def session_ended(self, session: Session) -> None:
        """The connection dropped or the link stops."""
        if self.view is not None:
            self.view.link_down()
        self._sender.wake()

    def on_publish(self, session: Session, mid: int, reason: int) -> None:
        """A PUBACK (paho's thread): the sender keeps those of its rows."""
        self._sender.on_publish(session, mid, reason)

    def submit(self, session: Session, message: mqtt.MQTTMessage) -> bool:
        """paho's on_message: True when the message is the peer link's (queued, or refused by
        its size and acknowledged at once); False for the platform's."""
        peer = self.topics.classify_peer(message.topic)
        if peer is None:
            return False
        payload = message.payload
        if peer.gate_id == self.gate_id and (peer.kind is PeerKind.STATE
                                             or self._sender.sent_recently(payload)):
            if peer.kind is not PeerKind.STATE:
                self._count("echo")  # our own, back from the broker: nothing to do
            _ack(session, message.mid, message.qos)
            return True
        limit = MAX_STATE_BYTES if peer.kind is PeerKind.STATE else MAX_PEER_BYTES
        if len(payload) > limit:
            self._count("oversized")
            log.warning("peer message on %s refused: %d bytes (limit %d)", message.topic,
                        len(payload), limit)
            _ack(session, message.mid, message.qos)
            return True
        item = _Item(session, message.topic, payload, peer, message.mid, message.qos,
                     bool(message.retain))
        if not self._put(item):
            self._count("dropped")
            _ack(session, message.mid, message.qos)
            # Catch up with that gate from where the queue stood when the message came.
            self._put(_Dropped(peer.gate_id), force=True)
        return True

    def snapshot(self) -> dict[str, int]:
        """The counters (`peer_` names, as they appear in the state message's `inbound`)."""
        counts = self.counts.snapshot()
        counts.update({f"peer_{k}": v for k, v in self._sender.stats().items() if v})
        return counts

    def waiting(self) -> int:
        """Own passages not yet acknowledged by the broker."""
        with self._db_lock:
            return int(self._db.execute("SELECT count(*) FROM outbox WHERE sink = ?",
                                        [PEER_SINK]).fetchone()[0])

    def high_water(self) -> dict[str, Mark]:
        """What is held of each peer gate: the newest seq of its latest epoch known."""
        return self.store.marks()

    # -- sending: the journal hook, signed messages ---------------------------------------------

    def _record(self, db: Database, event: JournalEvent) -> None:
        """Journal transaction hook: this gate's passage, signed, into the peer sink."""
        if event.kind != EventType.PASSAGE or event.row.get("gate_id") != self.gate_id:
            return
        row = event.row
        message = self._passage_message(row)
        try:
            PassageMessage.model_validate(message)
        except ValidationError as exc:  # sent anyway; the peers count it as malformed
            log.error("passage %s does not fit the peer message model, the other gates will "
                      "refuse it: %s", row["event_id"], exc.errors()[0])
        insert_row(db, sink=PEER_SINK, seq=counter(db, "seq"), event_id=row["event_id"],
                   kind=EventType.PASSAGE.value, topic=self.topics.peer_passages,
                   payload=sign_payload(message, self.key).decode("utf-8"),
                   created_at=utc_text(self.clock.now()))

    def _passage_message(self, row: dict[str, Any], request_id: str | None = None
                         ) -> dict[str, Any]:
        # The live step comes with the passage itself (written in its transaction), never from
        # the live-code ledger, which may not have been written (a full disk).
        return passage_message(row, compound_id=self.topics.compound_id, epoch=self.epoch,
                               request_id=request_id, live_step=row.get("live_step"))

    def _after_commit(self, event: JournalEvent) -> None:
        """After this gate's passage committed: wake the sender; a yellow exit decided while a
        peer's exit was being recorded may make this gate's exit the latest of a conflict."""
        if event.kind != EventType.PASSAGE or event.row.get("gate_id") != self.gate_id:
            return
        self._sender.wake()
        row = event.row
        if _yellow_exit(row):
            self._conflict(row)

    def _publish(self, topic: str, message: dict[str, Any]) -> bool:
        session = self._session
        if session is None or session.closed.is_set() or not session.connected.is_set():
            return False
        payload = sign_payload(message, self.key)
        self._sender.remember(payload)
        info = session.client.publish(topic, payload, qos=1)
        return info.rc == MQTT_ERR_SUCCESS

    # -- the peer thread ------------------------------------------------------------------

    def _put(self, entry: _Entry, *, force: bool = False) -> bool:
        with self._cond:
            if not force and len(self._queue) >= MAX_QUEUED:
                return False
            if (isinstance(entry, _Dropped) and self._queue
                    and self._queue[-1] == entry):
                return True  # one marker per run of drops
            self._queue.append(entry)
            self._cond.notify()
        return True

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait(self.catchup.next_due())
                    if self.catchup.due():
                        break
                if not self._queue and self._closed:
                    return
                entry = self._queue.popleft() if self._queue else None
            try:
                if entry is not None:
                    self._handle_entry(entry)
                self.catchup.run_due()
            except Exception:
                self._count("error")
                log.exception("peer link: handling failed")

    def _handle_entry(self, entry: _Entry) -> None:
        if isinstance(entry, _Connected):
            self._note_session(entry.session)
            self._online.clear()
            self.catchup.ask_all_now(dict(self._held_before))
            return
        if isinstance(entry, _Dropped):
            mark = self.high_water().get(entry.gate_id)
            self.catchup.ask(entry.gate_id, 1.0, {entry.gate_id: mark} if mark else None)
            return
        if entry.session is not None:
            self._note_session(entry.session)
        try:
            outcome = self.process(entry.topic, entry.payload, entry.peer, retained=entry.retain)
        except Exception:
            self._count("error")
            log.exception("peer message on %s failed; asking for it again later", entry.topic)
            floor = self._floor_for(entry)
            self.catchup.ask(entry.peer.gate_id, RETRY_AFTER_S,
                             {entry.peer.gate_id: floor} if floor else None)
        else:
            log.debug("peer message on %s: %s", entry.topic, outcome)
        _ack(entry.session, entry.mid, entry.qos)

    def _floor_for(self, entry: _Item) -> Mark | None:
        """What to ask again from after `entry` could not be applied."""
        try:
            message = json.loads(bytes(entry.payload).split(b"\n", 1)[1])
            return Mark(str(message["epoch"]), max(0, int(message["seq"]) - 1))
        except Exception:
            return self.high_water().get(entry.peer.gate_id)

    def _note_session(self, session: Session) -> None:
        """The marks before the first message of a new session is applied: what a catch-up
        request may claim to hold without hiding a gap behind a live message."""
        if session is not self._seen:
            self._seen = session
            self._held_before = self.high_water()

    # -- handling one message ---------------------------------------------------------------

    def process(self, topic: str, payload: bytes | bytearray, peer: PeerInbound | None = None,
                *, retained: bool = False) -> str:
        """Handle one peer message; returns what happened (the counter's name)."""
        peer = peer or self.topics.classify_peer(topic)
        if peer is None:
            return self._refuse("unknown_topic", topic, "not a peer topic")
        limit = MAX_STATE_BYTES if peer.kind is PeerKind.STATE else MAX_PEER_BYTES
        if len(payload) > limit:
            return self._refuse("oversized", topic, f"{len(payload)} bytes")
        try:
            if peer.kind is PeerKind.STATE:
                return self._state(topic, bytes(payload), peer, retained)
            message = self._verifier.message(topic, payload, peer, self.trust(),
                                             self.clock.now())
        except Refused as exc:
            if exc.forged:
                self.counts.forged(topic, str(exc))
            return self._refuse(exc.reason, topic, str(exc))
        if isinstance(message, PassageMessage):
            return self._passage(message, replay=peer.kind is PeerKind.REPLAY)
        if isinstance(message, CatchupRequest):
            return self.catchup.request(message)
        self.catchup.done(message)
        return self._count("replay_done")

    def _passage(self, message: PassageMessage, *, replay: bool) -> str:
        row = message.passage.model_dump()
        row["live_step"] = message.live_code.step if message.live_code is not None else None
        with self._db_lock:
            new = self._peer_journal.record_peer_passage(row, seq=message.seq)
            self.store.hold(message.gate_id, message.epoch, message.seq)
            if message.live_code is not None and row["granted"] and row["pass_id"]:
                # A screenshot that went through that gate must not open this one.
                record_use(self._db, LiveUse(row["pass_id"], message.live_code.step,
                                             row["direction"], row["gate_id"], row["at"]),
                           current_step=step_of(self.clock.now()))
        if _yellow_exit(row):  # also for a duplicate: its first delivery may have failed here
            self._conflict(row)
        if not new:
            return self._count("duplicate")
        for listener in self._listeners:
            try:
                listener(row)
            except Exception:
                log.exception("peer passage listener failed")
        return self._count("replayed" if replay else "applied")

    def _conflict(self, row: dict[str, Any]) -> None:
        """Raise the quota conflict this passage completes, when it is this gate's to raise."""
        at = datetime.fromisoformat(row["at"])
        with self._db_lock:  # one check-and-record at a time: the alert is raised once
            conflict = quota_conflict(self._peer_journal, gate_id=self.gate_id,
                                      household_id=row["household_id"], at=at,
                                      policy=self.policy())
            if conflict is None:
                return
            own = conflict.own
            self.journal.record_alert(conflict.alert(), reader_id=own["reader_id"],
                                      person_id=own["person_id"],
                                      household_id=conflict.household_id,
                                      grid_id=own["grid_id"], passage_id=own["id"])
        self._count("quota_conflict")
        log.warning("quota conflict: %s", conflict.alert().message_en)

    def _state(self, topic: str, payload: bytes, peer: PeerInbound, retained: bool) -> str:
        """A peer's retained state: believed only as its signed proof says, and never when it
        is older than one already heard (a replay)."""
        gate = peer.gate_id
        if gate == self.gate_id:
            return "own_state"
        trust = self.trust()
        if not payload:  # a retained state cleared: the gate left the compound
            if trust.gate_key(gate) is not None:
                raise Refused("state_unsigned", "an empty state of a gate the trust list "
                              "still holds (remove its key first)")
            self._online.discard(gate)
            if self.view is not None:
                self.view.peer_online(gate)  # nothing to wait for any more
            return self._count("state_cleared")
        proof: StateProof = self._verifier.state(payload, peer, trust, self.clock.now())
        if not self.store.newer_state(gate, proof.connection, proof.online,
                                      utc_text(self.clock.now())):
            raise Refused("state_replayed", f"connection {proof.connection} "
                          f"{'online' if proof.online else 'offline'}, older than one heard")
        if proof.online:
            if self.view is not None:
                self.view.peer_online(gate)
            if gate not in self._online:
                self._online.add(gate)
                if not retained:  # it connected just now: what it sent before we heard it
                    self.catchup.ask(gate, 0.0)
            return "state_online"
        self._online.discard(gate)
        if self.view is not None:
            self.view.peer_offline(gate)
        return "state_offline"


def _yellow_exit(row: dict[str, Any]) -> bool:
    return (bool(row["granted"]) and row["direction"] == Direction.OUT.value
            and row["colour"] == Colour.YELLOW.value and bool(row["household_id"]))


def _ack(session: Session | None, mid: int, qos: int) -> None:
    if qos > 0 and session is not None and not session.closed.is_set():
        session.client.ack(mid, qos)

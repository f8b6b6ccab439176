"""The peer link: the gates of one compound tell each other every passage they decide.

Each gate decides alone on what it knows (gate/compound.py); this link makes what it knows the
compound's. Every passage this gate records gets, in the journal's own transaction, an outbox
row of the `peer` sink: the passage's columns (gate.journal.rows.PEER_COLUMNS), signed with
this gate's own Ed25519 key (state_dir/keys/gate.key, scope "gate" in the trust list). A sender
thread of its own (sync/peer_sender.py) publishes those rows in order with QoS 1 on
PREFIX/v1/COMPOUND/GATE/peers/passages and deletes each after its PUBACK, so they survive
restarts and outages like every outbox row, and a broker that refuses them (an ACL) never holds
up the platform's events.

Receiving (PREFIX/v1/COMPOUND/+/peers/passages, persistent session, QoS 1): on a thread of its
own, in arrival order, each message is acknowledged after it was handled. A message is refused,
counted and never applied when it is oversized, unsigned, signed by a key that is not the
"gate" key of exactly the gate named in the topic (the signature is checked over the raw bytes
before anything in them is parsed), malformed (the models of sync/peer_messages.py are strict),
of another compound, naming another gate than its topic and its key, or claiming this gate's
own id. A new peer passage that is a granted yellow exit is checked for a quota conflict
(gate.compound.quota_conflict): the gate whose own exit is the latest raises the alert.

Catching up: a gate that was offline gets what it missed from its persistent session. A gate
that is new, whose session expired, or whose broker forgot it, asks: on every connection it
publishes a signed catch-up request on PREFIX/v1/COMPOUND/GATE/peers/catchup with the newest
sequence number it holds of each peer, taken before anything of the new session was applied (so
a live message cannot hide a gap), and once more to each peer whose state turns online while it
listens. Each peer answers on PREFIX/v1/COMPOUND/REQUESTER/peers/replay/PEER with its own
passages after that number, or, when the requester holds none of its passages, those the rules
look back on, at most `max_replay` per answer, then a `peer_replay_done` message; the requester
asks again from the last one while `more` is true. Merging is safe whatever the order: passages
are immutable facts with unique event ids, and the rules order them by `order_at`.

The compound view (gate.compound.CompoundView) hears the broker connection come and go and each
peer's retained state message turn online or offline.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.client import MQTT_ERR_SUCCESS
from pydantic import ValidationError
from sqlite_utils import Database

from gate.clock import Clock
from gate.compound import CompoundView, quota_conflict
from gate.errors import GridgateError
from gate.events import JournalEvent
from gate.journal import Journal
from gate.journal.queries import utc_text
from gate.journal.rows import PEER_COLUMNS
from gate.model import AlertSpec, Colour, Direction, Severity
from gate.passes import SigningKey, TrustList
from gate.passes.trust import GATE_SCOPE, TrustedKey
from gate.policy import Policy
from gate.store import open_database
from gate.vocabulary import AlertKind, EventType
from sync.connection import Session
from sync.outbox import insert_row
from sync.peer_messages import (
    MAX_HELD,
    MESSAGES,
    CatchupRequest,
    PassageMessage,
    PeerState,
    ReplayDone,
    lookback,
)
from sync.peer_sender import PeerSender
from sync.schema import PEER_SINK, counter
from sync.signing import MessageError, SignatureError, sign_payload, verify
from sync.topics import PeerInbound, PeerKind, Topics

log = logging.getLogger(__name__)

GATE_SCOPES = frozenset({GATE_SCOPE})  # the only keys that may sign a peer message
MAX_PEER_BYTES = 16 * 1024  # a signed passage is about 1 KB
MAX_STATE_BYTES = 64 * 1024
MAX_QUEUED = 1024  # received peer messages waiting for the peer thread
MAX_REPLAY = 1000  # passages in one answer to a catch-up request
ANSWER_INTERVAL_S = 1.0  # at most one answer a second to each requester (later ones coalesce)
RETRY_AFTER_S = 30.0  # a passage that could not be recorded is asked for again after this
ALERT_INTERVAL_S = 60.0
LOG_BURST = 10  # refusal lines per reason a minute; the rest are only counted

class _Refused(GridgateError, ValueError):
    """A peer message refused; `reason` names the counter (without the peer_ prefix)."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        super().__init__(f"{reason}: {detail}")


def _new_id() -> str:
    return uuid.uuid4().hex


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


@dataclass
class _Pending:
    """A catch-up answer waiting for its turn (one a second per requester)."""

    request: CatchupRequest
    due: float


@dataclass
class _Ask:
    """A catch-up request to send (to one peer, or to all with None)."""

    due: float
    floor: dict[str, int] = field(default_factory=dict)  # held seqs never to claim above


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
        self.alert = alert
        self.max_replay = max_replay
        self.window = window
        self.gate_id = topics.gate_id
        self.counters: Counter[str] = Counter()
        self._counter_lock = threading.Lock()
        self._own = TrustList([TrustedKey(key.key_id, key.public_key, GATE_SCOPE,
                                          gate_id=self.gate_id)])
        # The peer thread's connection: peer passages, high-water marks, replays, conflicts.
        # A peer passage lost to power loss is asked for again (the high-water mark is lower):
        # no fsync per peer passage.
        self._db = open_database(db_path)
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db_lock = threading.RLock()
        self._peer_journal = Journal(self._db, gate_id=self.gate_id, clock=clock)
        self._sender = PeerSender(db_path, clock=clock, window=window, policy=policy)
        self._queue: deque[_Entry] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._session: Session | None = None  # the live session, for answers and requests
        self._seen: Session | None = None  # the session whose messages are being applied
        self._held_before: dict[str, int] = {}  # high-water before `_seen`'s first message
        self._online: set[str] = set()  # peers heard online during this connection
        self._asks: dict[str | None, _Ask] = {}
        self._answers: dict[str, _Pending] = {}
        self._answered_at: dict[str, float] = {}
        self._last_alert: float | None = None
        self._held_back_alerts = 0
        self._log_window: dict[str, tuple[float, int]] = {}
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
        with self._counter_lock:
            counts = dict(self.counters)
        counts.update({f"peer_{k}": v for k, v in self._sender.stats().items() if v})
        return counts

    def waiting(self) -> int:
        """Own passages not yet acknowledged by the broker."""
        with self._db_lock:
            return int(self._db.execute("SELECT count(*) FROM outbox WHERE sink = ?",
                                        [PEER_SINK]).fetchone()[0])

    def high_water(self) -> dict[str, int]:
        """The newest seq held of each peer gate."""
        with self._db_lock:
            return self._peer_journal.peer_high_water()

    # -- sending: the journal hook and the catch-up messages ---------------------------------

    def _record(self, db: Database, event: JournalEvent) -> None:
        """Journal transaction hook: this gate's passage, signed, into the peer sink."""
        if event.kind != EventType.PASSAGE or event.row.get("gate_id") != self.gate_id:
            return
        row = event.row
        message = self._passage_message(row, seq=int(row["id"]))
        try:
            PassageMessage.model_validate(message)
        except ValidationError as exc:  # sent anyway; the peers count it as malformed
            log.error("passage %s does not fit the peer message model, the other gates will "
                      "refuse it: %s", row["event_id"], exc.errors()[0])
        insert_row(db, sink=PEER_SINK, seq=counter(db, "seq"), event_id=row["event_id"],
                   kind=EventType.PASSAGE.value, topic=self.topics.peer_passages,
                   payload=sign_payload(message, self.key).decode("utf-8"),
                   created_at=utc_text(self.clock.now()))

    def _passage_message(self, row: dict[str, Any], *, seq: int,
                         request_id: str | None = None) -> dict[str, Any]:
        passage = {name: row[name] for name in PEER_COLUMNS}
        passage["granted"] = bool(passage["granted"])
        message: dict[str, Any] = {
            "type": "peer_passage", "schema_version": 1,
            "compound_id": self.topics.compound_id, "gate_id": self.gate_id, "seq": seq,
            "passage": passage}
        if request_id is not None:
            message["request_id"] = request_id
        return message

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

    def _send_request(self, to: str | None, held: dict[str, int]) -> bool:
        request = {"type": "peer_catchup", "schema_version": 1,
                   "compound_id": self.topics.compound_id, "gate_id": self.gate_id,
                   "request_id": _new_id(), "at": utc_text(self.clock.now()),
                   "held": dict(sorted(held.items())[:MAX_HELD]),
                   "to": None if to is None else [to]}
        sent = self._publish(self.topics.peer_catchup, request)
        if sent:
            self._count("catchup_sent")
            log.info("asked %s for the passages missed (holding %s)", to or "every peer",
                     held or "none")
        return sent

    def _answer(self, request: CatchupRequest) -> None:
        """Re-publish this gate's own passages the requester lacks (at most max_replay)."""
        after = request.held.get(self.gate_id)
        since = None if after is not None else self.clock.now() - lookback(self.policy())
        with self._db_lock:
            rows = self._peer_journal.own_passages(after_id=after, since=since,
                                                   limit=self.max_replay + 1)
        more = len(rows) > self.max_replay
        rows = rows[:self.max_replay]
        topic = self.topics.peer_replay(request.gate_id)
        sent = 0
        for row in rows:
            if not self._publish(topic, self._passage_message(
                    row, seq=int(row["id"]), request_id=request.request_id)):
                return  # the link dropped: the requester asks again on its next connection
            sent += 1
        done = {"type": "peer_replay_done", "schema_version": 1,
                "compound_id": self.topics.compound_id, "gate_id": self.gate_id,
                "request_id": request.request_id, "count": sent,
                "last_seq": int(rows[-1]["id"]) if rows else after, "more": more}
        if self._publish(topic, done):
            self._count("catchup_answered")
            self._count("replay_sent", sent)
            log.info("answered %s's catch-up request with %d passages%s", request.gate_id, sent,
                     " (more follow on request)" if more else "")

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
                    self._cond.wait(self._next_due())
                    if self._due():
                        break
                if not self._queue and self._closed:
                    return
                entry = self._queue.popleft() if self._queue else None
            try:
                if entry is not None:
                    self._handle_entry(entry)
                self._run_due()
            except Exception:
                self._count("error")
                log.exception("peer link: handling failed")

    def _next_due(self) -> float:
        dues = [a.due for a in self._asks.values()] + [p.due for p in self._answers.values()]
        if not dues:
            return 1.0
        return min(1.0, max(0.01, min(dues) - time.monotonic()))

    def _due(self) -> bool:
        now = time.monotonic()
        return any(a.due <= now for a in self._asks.values()) or any(
            p.due <= now for p in self._answers.values())

    def _run_due(self) -> None:
        now = time.monotonic()
        for requester, pending in list(self._answers.items()):
            if pending.due <= now:
                del self._answers[requester]
                self._answered_at[requester] = now
                self._answer(pending.request)
        for to, ask in list(self._asks.items()):
            if ask.due <= now:
                held = self.high_water()
                for gate, floor in ask.floor.items():
                    if gate in held:
                        held[gate] = min(held[gate], floor)
                    elif floor > 0:  # holding none of it: the look-back window, not all
                        held[gate] = floor
                if self._send_request(to, held) or self._session is None:
                    del self._asks[to]
                else:
                    ask.due = now + 1.0

    def _ask(self, to: str | None, delay: float = 0.0, floor: dict[str, int] | None = None,
             ) -> None:
        due = time.monotonic() + delay
        ask = self._asks.get(to)
        if ask is None:
            self._asks[to] = ask = _Ask(due)
        ask.due = min(ask.due, due)
        for gate, seq in (floor or {}).items():
            ask.floor[gate] = min(seq, ask.floor.get(gate, seq))

    def _handle_entry(self, entry: _Entry) -> None:
        if isinstance(entry, _Connected):
            self._note_session(entry.session)
            self._online.clear()
            self._asks.pop(None, None)
            self._send_request(None, dict(self._held_before))
            return
        if isinstance(entry, _Dropped):
            held = self.high_water()
            self._ask(entry.gate_id, 1.0, {entry.gate_id: held.get(entry.gate_id, 0)})
            return
        if entry.session is not None:
            self._note_session(entry.session)
        try:
            outcome = self.process(entry.topic, entry.payload, entry.peer, retained=entry.retain)
        except Exception:
            self._count("error")
            log.exception("peer message on %s failed; asking for it again later", entry.topic)
            self._ask(entry.peer.gate_id, RETRY_AFTER_S,
                      {entry.peer.gate_id: self._floor_for(entry)})
        else:
            log.debug("peer message on %s: %s", entry.topic, outcome)
        _ack(entry.session, entry.mid, entry.qos)

    def _floor_for(self, entry: _Item) -> int:
        """The seq to ask again from after `entry` could not be applied."""
        try:
            seq = int(json.loads(bytes(entry.payload).split(b"\n", 1)[1])["seq"])
            return max(0, seq - 1)
        except Exception:
            return self.high_water().get(entry.peer.gate_id, 0)

    def _note_session(self, session: Session) -> None:
        """The high-water marks before the first message of a new session is applied: what a
        catch-up request may claim to hold without hiding a gap behind a live message."""
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
        if peer.kind is PeerKind.STATE:
            return self._state(topic, bytes(payload), peer, retained)
        try:
            message = self._verified(topic, payload, peer)
        except _Refused as exc:
            return self._refuse(exc.reason, topic, str(exc))
        if isinstance(message, PassageMessage):
            return self._passage(message, replay=peer.kind is PeerKind.REPLAY)
        if isinstance(message, CatchupRequest):
            return self._request(message)
        return self._done(message)

    def _verified(self, topic: str, payload: bytes | bytearray,
                  peer: PeerInbound) -> PassageMessage | CatchupRequest | ReplayDone:
        """Signature (over the raw bytes, before any parsing), key, then the strict model."""
        now = self.clock.now()
        if peer.gate_id == self.gate_id:
            try:
                verify(payload, self._own, now, GATE_SCOPES)
            except MessageError:
                raise _Refused("own_gate", f"a message on this gate's own topic {topic} "
                               "not signed by this gate") from None
            raise _Refused("echo", "this gate's own message")
        trust = self.trust()
        try:
            verified = verify(payload, trust, now, GATE_SCOPES)
        except SignatureError as exc:
            if exc.reason != "unknown_key":  # a gate the trust list lacks yet: doctor says so
                self._forged(topic, str(exc))
            raise _Refused(exc.reason, str(exc)) from None
        except MessageError as exc:
            raise _Refused(exc.reason, str(exc)) from None
        key = trust.get(verified.key_id)
        if key is None or key.gate_id != peer.gate_id:
            detail = (f"signed by the key of gate {key.gate_id if key else '?'}, not of "
                      f"{peer.gate_id} whose topic it came on")
            self._forged(topic, detail)
            raise _Refused("wrong_key", detail)
        kind = verified.payload.get("type")
        expected = {PeerKind.PASSAGES: ("peer_passage",), PeerKind.CATCHUP: ("peer_catchup",),
                    PeerKind.REPLAY: ("peer_passage", "peer_replay_done")}[peer.kind]
        if kind not in expected:
            raise _Refused("wrong_type", f"a {kind!r} message on a {peer.kind} topic")
        try:
            message = MESSAGES[str(kind)].model_validate(verified.payload)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise _Refused("malformed", f"{'.'.join(str(p) for p in first['loc'])}: "
                           f"{first['msg']}") from None
        if message.compound_id != self.topics.compound_id:
            raise _Refused("other_compound", f"for compound {message.compound_id}")
        claimed = {message.gate_id}
        if isinstance(message, PassageMessage):
            claimed.add(message.passage.gate_id)
        if self.gate_id in claimed:
            raise _Refused("own_gate", f"claims this gate's id {self.gate_id}")
        if claimed != {peer.gate_id}:
            raise _Refused("wrong_gate", f"names gate {sorted(claimed)}, signed by and "
                           f"published for {peer.gate_id}")
        return message

    def _passage(self, message: PassageMessage, *, replay: bool) -> str:
        row = message.passage.model_dump()
        with self._db_lock:
            new = self._peer_journal.record_peer_passage(row, seq=message.seq)
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

    def _request(self, request: CatchupRequest) -> str:
        if request.to is not None and self.gate_id not in request.to:
            return self._count("catchup_not_for_us")
        now = time.monotonic()
        last = self._answered_at.get(request.gate_id)
        due = now if last is None else max(now, last + ANSWER_INTERVAL_S)
        self._answers[request.gate_id] = _Pending(request, due)  # a newer request replaces
        return self._count("catchup_received")

    def _done(self, done: ReplayDone) -> str:
        if done.more and done.last_seq is not None:
            self._ask(done.gate_id, 0.0, {done.gate_id: done.last_seq})
        return self._count("replay_done")

    def _state(self, topic: str, payload: bytes, peer: PeerInbound, retained: bool) -> str:
        gate = peer.gate_id
        if gate == self.gate_id:
            return "own_state"
        if not payload:  # a retained state cleared: the gate is gone from the compound
            self._online.discard(gate)
            if self.view is not None:
                self.view.peer_online(gate)  # nothing to wait for any more
            return self._count("state_cleared")
        try:
            state = PeerState.model_validate_json(payload)
        except ValidationError as exc:
            return self._refuse("state_malformed", topic, str(exc.errors()[0]["msg"]))
        if state.gate_id != gate or state.compound_id != self.topics.compound_id:
            return self._refuse("state_malformed", topic,
                                f"state of {state.compound_id}/{state.gate_id} on {topic}")
        if state.online:
            if self.view is not None:
                self.view.peer_online(gate)
            if gate not in self._online:
                self._online.add(gate)
                if not retained:  # it connected just now: what it sent before we heard it
                    self._ask(gate, 0.0)
            return "state_online"
        self._online.discard(gate)
        if self.view is not None:
            self.view.peer_offline(gate)
        return "state_offline"

    # -- counting, logging, alerting --------------------------------------------------------

    def _count(self, name: str, n: int = 1) -> str:
        with self._counter_lock:
            self.counters[f"peer_{name}"] += n
        return f"peer_{name}"

    def _refuse(self, reason: str, topic: str, detail: str) -> str:
        name = self._count(reason)
        if reason == "echo":
            return name
        now = time.monotonic()
        with self._counter_lock:  # at most LOG_BURST lines per reason a minute
            start, lines = self._log_window.get(reason, (now, 0))
            if now - start >= ALERT_INTERVAL_S:
                start, lines = now, 0
            self._log_window[reason] = (start, lines + 1)
        if lines < LOG_BURST:
            log.warning("peer message on %s refused: %s", topic, detail[:300])
        return name

    def _forged(self, topic: str, detail: str) -> None:
        """An urgent alert, at most one a minute (a flood cannot fill the outbox)."""
        if self.alert is None:
            return
        now = time.monotonic()
        with self._counter_lock:
            if self._last_alert is not None and now - self._last_alert < ALERT_INTERVAL_S:
                self._held_back_alerts += 1
                return
            self._last_alert = now
            more, self._held_back_alerts = self._held_back_alerts, 0
        extra_zh = f"（另有 {more} 条同类消息）" if more else ""
        extra_en = f" ({more} more like it)" if more else ""
        self.alert(AlertSpec(
            AlertKind.FORGED_PEER, Severity.URGENT,
            f"收到未通过签名校验的其他门岗通行记录，已拒绝{extra_zh}",
            f"rejected a peer gate's message on {topic}: {detail[:200]}{extra_en}"))


def _yellow_exit(row: dict[str, Any]) -> bool:
    return (bool(row["granted"]) and row["direction"] == Direction.OUT.value
            and row["colour"] == Colour.YELLOW.value and bool(row["household_id"]))


def _ack(session: Session | None, mid: int, qos: int) -> None:
    if qos > 0 and session is not None and not session.closed.is_set():
        session.client.ack(mid, qos)

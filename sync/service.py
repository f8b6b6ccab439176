"""The platform link of one gate, assembled: outbox, publisher, inbox, documents, commands,
webhooks. `edge` builds it from the settings; everything here takes plain values."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import paho.mqtt.client as mqtt

from gate.clock import Clock
from gate.compound import CompoundView
from gate.controls import DoorControls
from gate.journal import Journal, JournalQueries
from gate.model import AlertSpec
from gate.passes import SigningKey
from gate.registry import Registry
from gate.rulebook import Rulebook
from gate.store import open_database
from gate.vocabulary import EventType
from sync.bound import OutboxBound
from sync.commands import Command, Commands, Verdict
from sync.connection import BrokerOptions, Session, Will
from sync.documents import Documents, FaceSink
from sync.inbox import Inbox, new_id
from sync.link import MqttLink
from sync.messages import ChainHead, StateMessage
from sync.outbox import Outbox
from sync.peers import PeerLink
from sync.publisher import Publisher
from sync.schema import counter
from sync.sinks.formats import WebhookRoute
from sync.sinks.webhook import WebhookSender
from sync.topics import DocumentKind, Topics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WebhookTarget:
    """One webhook: its routing and where and how to deliver."""

    route: WebhookRoute
    url: str
    secret: bytes | None = None
    timeout_s: float = 10.0
    backoff_max_s: float = 300.0


@dataclass(frozen=True)
class OutboxOptions:
    """How the outbox is drained and bounded."""

    window: int = 200
    batch_size: int = 500
    max_message_bytes: int = 262144
    max_rows: int = 100_000


class SyncService:
    """Starts and stops everything that links the gate to the platform."""

    def __init__(
        self,
        *,
        journal: Journal,
        db_path: Path,
        topics: Topics,
        broker: BrokerOptions,
        clock: Clock,
        rules: Rulebook,
        controls: DoorControls | None = None,
        outbox: OutboxOptions | None = None,
        webhooks: list[WebhookTarget] | None = None,
        command_max_lifetime_s: int = 300,
        hold_open_max_s: float = 4 * 3600,
        peer_key: SigningKey | None = None,
        compound: CompoundView | None = None,
        escalation_topic: str | None = None,
    ) -> None:
        options = outbox or OutboxOptions()
        self.journal = journal
        self.topics = topics
        self.clock = clock
        self.bound = OutboxBound(options.max_rows, monotonic=clock.monotonic)
        self.outbox = Outbox(topics, clock=clock, routes=[w.route for w in webhooks or []],
                             bound=self.bound, escalation_topic=escalation_topic)
        self.outbox.attach(journal)
        self.db = open_database(db_path)  # the inbox thread's connection
        self._status_db = open_database(db_path)  # reads from the panel and publisher threads
        self._status_lock = threading.Lock()
        self._status_registry = Registry(self._status_db)
        self.documents = Documents(self.db, compound_id=topics.compound_id, clock=clock,
                                   rules=rules, request_snapshot=self._request_snapshot,
                                   on_change=self._versions_changed)
        self._commands_db = open_database(db_path)  # the command thread's connection
        self.commands = Commands(self._commands_db, compound_id=topics.compound_id,
                                 gate_id=topics.gate_id, clock=clock, controls=controls,
                                 max_lifetime_s=command_max_lifetime_s,
                                 hold_open_max_s=hold_open_max_s)
        self.inbox = Inbox(topics=topics, trust=lambda: rules.trust, documents=self.documents,
                           commands=self.commands, clock=clock,
                           max_bytes=broker.max_inbound_bytes, alert=self.alert,
                           command_result=self._command_result)
        self.publisher = Publisher(db_path, clock=clock, window=options.window,
                                   batch_size=options.batch_size,
                                   max_message_bytes=options.max_message_bytes,
                                   alert=self.alert, state=self._publish_state)
        self.outbox.add_waker(self.publisher.wake)
        # The other gates of the compound (sync/peers.py), when this gate has its own key.
        self.peers = (PeerLink(journal=journal, db_path=db_path, topics=topics, key=peer_key,
                               trust=lambda: rules.trust, policy=lambda: rules.policy,
                               clock=clock, view=compound, alert=self.alert)
                      if peer_key is not None else None)
        self.link = MqttLink(
            broker, will=self._will,
            subscriptions=topics.subscriptions() + (self.peers.filters if self.peers else []),
            on_session=self._session, on_message=self._message, on_publish=self._published,
            on_close=self._closed, on_stopping=self._publish_offline,
            screen=self.inbox.screen, on_refused=self.inbox.refused,
        )
        self.senders = [
            WebhookSender(db_path, w.route, url=w.url, clock=clock, secret=w.secret,
                          timeout_s=w.timeout_s, backoff_max_s=w.backoff_max_s, alert=self.alert)
            for w in webhooks or []
        ]
        for sender in self.senders:
            self.outbox.add_waker(sender.wake)
        self.documents.restore()
        self._started = False

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Connect and start sending and receiving (idempotent)."""
        if self._started:
            return
        self._started = True
        self.documents.request_missing()
        self.inbox.start()
        if self.peers is not None:
            self.peers.start()
        for sender in self.senders:
            sender.start()
        self.link.start()

    def stop(self) -> None:
        """Publish the offline state, disconnect, stop every thread, close connections."""
        if self._started:
            self.link.stop()
            self.inbox.stop()
            if self.peers is not None:
                self.peers.stop()
            for sender in self.senders:
                sender.stop()
            self._started = False
        self.publisher.close()
        self.db.close()
        self._commands_db.close()
        self._status_db.close()
        if self.peers is not None:
            self.peers.close()

    def attach_faces(self, faces: FaceSink) -> int:
        """Send roster face encodings to a face gallery from now on; returns persons loaded."""
        self.documents.faces = faces
        return self.documents.resync_faces()

    # -- status (panel, doctor, state message) ---------------------------------------------

    @property
    def connected(self) -> bool:
        return self.link.connected

    def outbox_waiting(self) -> int:
        """Rows waiting in the outbox (all sinks)."""
        with self._status_lock:
            return counter(self._status_db, "outbox_rows")

    def outbox_oldest_age_s(self) -> float:
        """Seconds the first row in sending order has waited (0 when the outbox is empty)."""
        with self._status_lock:  # by id, the primary key: no scan of a long outbox
            row = self._status_db.execute(
                "SELECT created_at FROM outbox ORDER BY id LIMIT 1").fetchone()
        if not row or row[0] is None:
            return 0.0
        return max(0.0, (self.clock.now() - datetime.fromisoformat(row[0])).total_seconds())

    def dropped_routine(self) -> int:
        """Routine events dropped because the outbox was full, ever."""
        with self._status_lock:
            return counter(self._status_db, "dropped_routine")

    def versions(self) -> dict[str, int]:
        """Document versions held."""
        with self._status_lock:
            return self._status_registry.versions()

    def roster_version(self) -> str | None:
        version = self.versions().get(DocumentKind.ROSTER.value)
        return None if version is None else str(version)

    def state(self, online: bool) -> StateMessage:
        """The retained state message as it stands (signed for the peers of the compound)."""
        proof = self.peers.state_proof(online) if self.peers else None
        if not online:
            return StateMessage(gate_id=self.topics.gate_id,
                                compound_id=self.topics.compound_id, online=False,
                                at=self.clock.now(), peer=proof)
        return StateMessage(
            gate_id=self.topics.gate_id, compound_id=self.topics.compound_id, online=True,
            at=self.clock.now(), versions=self.versions(), outbox_waiting=self.outbox_waiting(),
            dropped_routine=self.dropped_routine(),
            inbound=self.inbox.snapshot() | (self.peers.snapshot() if self.peers else {}),
            protocol=self.link.protocol, peer=proof, chain=self.chain_head())

    def chain_head(self) -> ChainHead:
        """The journal's hash chain head, read on the status connection."""
        with self._status_lock:
            return ChainHead(**JournalQueries(self._status_db).chain_head())

    # -- callbacks --------------------------------------------------------------------------

    def alert(self, spec: AlertSpec) -> None:
        """Record an alert of the link itself (it travels through the outbox like any)."""
        self.journal.record_alert(spec)

    def _session(self, session: Session) -> None:
        """One connection: the outbox pump runs on it; the peer link hears it come and go."""
        if self.peers is not None:
            self.peers.session_started(session)
        try:
            self.publisher.pump(session, self.link.stopping)
        finally:
            if self.peers is not None:
                self.peers.session_ended(session)

    def _message(self, session: Session, message: mqtt.MQTTMessage) -> None:
        if self.peers is None or not self.peers.submit(session, message):
            self.inbox.submit(session, message)

    def _published(self, session: Session, mid: int, reason: int) -> None:
        self.publisher.on_publish(session, mid, reason)
        if self.peers is not None:
            self.peers.on_publish(session, mid, reason)

    def _closed(self, session: Session) -> None:
        self.publisher.on_close(session)
        if self.peers is not None:
            self.peers.session_ended(session)

    def _will(self) -> Will:
        """Made before each connection attempt: the connection's number goes into its Last
        Will and every state it publishes, so none of them can be replayed after a later one."""
        if self.peers is not None:
            self.peers.new_connection()
        return Will(self.topics.state, self.state(online=False).model_dump_json().encode())

    def _publish_state(self, session: Session) -> None:
        session.client.publish(self.topics.state, self.state(online=True).model_dump_json(),
                               qos=1, retain=True)

    def _publish_offline(self, session: Session) -> None:
        if session.closed.is_set():
            return
        info = session.client.publish(self.topics.state,
                                      self.state(online=False).model_dump_json(), qos=1,
                                      retain=True)
        info.wait_for_publish(timeout=2.0)

    def _versions_changed(self) -> None:
        self.publisher.request_state()

    def _request_snapshot(self, kind: DocumentKind, held: int | None, reason: str) -> None:
        self.outbox.enqueue(self.db, EventType.SNAPSHOT_REQUEST, new_id(),
                            {"document": kind.value, "have_version": held, "reason": reason},
                            self.topics.requests)

    def _command_result(self, command: Command, verdict: Verdict) -> None:
        self.outbox.enqueue(self._commands_db, EventType.COMMAND_RESULT, new_id(),
                            {"command_id": command.command_id, "action": command.action.value,
                             "accepted": verdict.accepted, "reason": verdict.reason,
                             "issuer": command.issuer}, self.topics.events)

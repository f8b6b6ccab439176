"""Everything the panel's routes use, built once per app and kept on `app.state.panel`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Protocol

from argon2 import PasswordHasher

from edge.panel.db import PanelDatabase
from edge.panel.frames import LiveFrames
from edge.panel.gate import PanelGate
from edge.panel.guard import GuardPrompts
from edge.panel.i18n import Translator
from edge.panel.live import EventHub, LiveItem
from edge.panel.people import PassPermits
from edge.panel.sessions import SessionStore
from edge.panel.setup_token import SetupToken, token_path
from edge.panel.snapshots import SnapshotStore, ThumbnailCache, thumb_key
from edge.panel.throttle import LoginThrottle
from edge.panel.users import UserStore
from edge.panel.visitors import VisitorDesk
from edge.settings.panel import PanelSettings
from gate.checkpoint import Outcome
from gate.clock import Clock
from gate.events import JournalEvent
from gate.journal import JournalQueries
from gate.journal.rows import passage_row
from gate.vocabulary import EventType

log = logging.getLogger(__name__)
DISPLAY = "display"  # a live item: a reader's gate screen changed


class SyncLink(Protocol):
    """What the panel reads from the platform link (sync.service.SyncService has it)."""

    @property
    def connected(self) -> bool:
        """True while the broker connection is up."""

    def outbox_waiting(self) -> int:
        """Events waiting in the outbox."""

    def versions(self) -> dict[str, int]:
        """Platform document -> version held."""


@dataclass(frozen=True)
class SyncStatus:
    """What the platform link reports, as callables (None: no link, shown "not configured")."""

    broker_connected: Callable[[], bool] | None = None
    outbox_waiting: Callable[[], int] | None = None
    versions: Callable[[], dict[str, int]] | None = None  # document -> version held

    @classmethod
    def of(cls, link: SyncLink | None) -> SyncStatus:
        """The status of a platform link; everything "not configured" without one."""
        if link is None:
            return cls()
        return cls(broker_connected=lambda: link.connected, outbox_waiting=link.outbox_waiting,
                   versions=link.versions)


@dataclass
class PanelServices:
    """The gate (as far as the panel may see it) plus the panel's own stores and live state."""

    gate: PanelGate
    settings: PanelSettings
    clock: Clock
    db: PanelDatabase
    users: UserStore
    sessions: SessionStore
    throttle: LoginThrottle
    i18n: Translator
    hub: EventHub
    frames: LiveFrames
    thumbs: ThumbnailCache
    snapshots: SnapshotStore
    visitors: VisitorDesk
    setup: SetupToken
    sync: SyncStatus
    prompts: GuardPrompts  # passages the partition rules left to the guard (edge/panel/guard.py)
    pass_permits: PassPermits = field(default_factory=PassPermits)  # edge/panel/people.py
    tls: bool = False
    config_path: Path | None = None  # the TOML file the gate was started from, when known
    _detach: list[Callable[[], None]] = field(default_factory=list)
    _closed: bool = False

    def queries(self) -> JournalQueries:
        """Journal reads on this thread's own connection."""
        return JournalQueries(self.db.conn())

    def attach(self) -> None:
        """Listen to the journal and the decisions; keep each reader's latest frame."""
        self.gate.journal.add_listener(self._on_journal)
        self.gate.add_outcome_listener(self._on_outcome)
        for reader_id, pipeline in self.gate.pipelines.items():
            self._detach.append(pipeline.add_frame_listener(self.frames.hook(reader_id)))
        for reader_id, board in self.gate.boards.items():  # what the resident was shown
            self._detach.append(board.add_listener(self._screen_changed(reader_id)))

    def _screen_changed(self, reader_id: str) -> Callable[[], None]:
        def changed() -> None:
            if not self._closed:
                self.hub.publish(LiveItem(DISPLAY, {"reader_id": reader_id}))

        return changed

    def _on_journal(self, event: JournalEvent) -> None:
        # Runs on the gate's thread right after commit; the door was already commanded.
        if self._closed:  # the journal has no way to remove a listener
            return
        if event.kind is EventType.PASSAGE:
            self.prompts.offer(event.row)  # before the browsers hear of it: they show it
            self._publish_passage(event.row)
        elif event.kind is EventType.ALERT_ACK:
            self.hub.publish(LiveItem("ack", {"id": event.row["alert_id"]}))
        elif event.kind is EventType.ALERT_UPDATE or event.row.get("escalated"):
            # A count grew or the alert was escalated: the whole alert, shown again.
            alert = self.queries().alert(int(event.row.get("alert_id") or event.row["id"]))
            if alert is not None:
                self.hub.publish(LiveItem(EventType.ALERT, alert))
        elif event.kind in (EventType.ALERT, EventType.DOOR):
            self.hub.publish(LiveItem(event.kind, event.row))

    def _on_outcome(self, outcome: Outcome) -> None:
        # A decision the journal could not record yet (full disk) still reaches the guards;
        # the journal's row replaces this one in the feed once it is written.
        if self._closed:
            return
        self.pass_permits.heard(outcome)  # where its permit came from, if from a pass
        if outcome.events:
            return
        obs = outcome.observation
        row = passage_row(obs, outcome.decision, outcome.person, gate_id=obs.reader.gate_id,
                          event_id=None, actor=None)
        self._publish_passage({**row, "unrecorded": True})

    def _publish_passage(self, row: dict[str, object]) -> None:
        key = thumb_key(row)
        if not row.get("snapshot") and key not in self.thumbs:
            image = self.frames.latest(str(row["reader_id"]))
            if image is not None:
                self.thumbs.put(key, image)
        self.hub.publish(LiveItem(EventType.PASSAGE, row))

    def close(self) -> None:
        """End live streams, stop hearing the readers' frames, close connections."""
        self._closed = True
        self.hub.close()
        for detach in self._detach:
            detach()
        self._detach.clear()
        self.setup.close()
        self.db.close()


def build_services(gate: PanelGate, settings: PanelSettings, *, clock: Clock | None = None,
                   hasher: PasswordHasher | None = None, sync: SyncStatus | None = None,
                   locales: Path | None = None, config_path: Path | None = None) -> PanelServices:
    """Open the panel's stores on the gate database and wire them to the gate."""
    clock = clock or gate.clock
    state_dir = gate.settings.storage.state_dir
    db = PanelDatabase(gate.db_path)
    users = UserStore(db, clock=clock, hasher=hasher)
    sessions = SessionStore(db, clock=clock, lifetime=timedelta(hours=settings.session_hours),
                            idle=timedelta(minutes=settings.idle_minutes))
    sessions.purge()
    throttle = LoginThrottle(
        account_failures=settings.lockout_account_failures,
        address_failures=settings.lockout_address_failures,
        window_s=settings.lockout_window_minutes * 60, lockout_s=settings.lockout_minutes * 60,
        monotonic=clock.monotonic)
    i18n = Translator.load(locales, settings.language) if locales else Translator.load(
        default=settings.language)
    visitors = VisitorDesk(
        db, key_path=settings.visitor_key or state_dir / "keys" / "visitor.key",
        rules=gate.rules, compound_id=gate.settings.gate.compound_id,
        clock=clock, max_hours=settings.visitor_max_hours)
    visitors.ensure_key()
    hub = EventHub()
    users.on_revoke = sessions.on_revoke = hub.sessions_changed  # open feeds end at once
    services = PanelServices(
        gate=gate, settings=settings, clock=clock, db=db, users=users, sessions=sessions,
        throttle=throttle, i18n=i18n, hub=hub, frames=LiveFrames(),
        thumbs=ThumbnailCache(), snapshots=SnapshotStore(state_dir), visitors=visitors,
        setup=SetupToken(token_path(state_dir), clock=clock,
                         lifetime=timedelta(minutes=settings.setup_token_minutes)),
        sync=sync or SyncStatus(), prompts=GuardPrompts(clock.monotonic), tls=settings.tls,
        config_path=config_path)
    services.attach()
    return services

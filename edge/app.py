"""Wiring one gate from its settings: database, journal, registry, doors, rules, checkpoint,
door controls, readers, and the platform link.

Every part that must be let go of is registered on one `ExitStack` as it is built, so a
failure halfway through closes what was built (doors driven locked first of all) and `close()`
is one line. The guards' panel is not part of the gate: `gridgate run` serves it beside the
gate (edge.panel.server.start_panel) through the narrow view in edge/panel/gate.py.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from contextlib import ExitStack, closing
from typing import TYPE_CHECKING, Any

from edge.blas import one_blas_thread, release_blas_threads
from edge.camera_watch import CameraWatch
from edge.doctor.clock import kernel_synchronised
from edge.reader.binding import Binding
from edge.reader.pipeline import ReaderPipeline
from edge.records import Pruner
from edge.resident import ResidentAnswer
from edge.settings import Settings
from edge.settings.core import ReaderSettings
from gate.alert_folding import AlertFolder
from gate.approvals import OverrideApprovals
from gate.ballast import BALLAST_NAME, Ballast
from gate.checkpoint import Checkpoint, OutcomeListener
from gate.clock import Clock, SystemClock
from gate.compound import CompoundView
from gate.controls import DoorControls, door_event_recorder
from gate.door import Door
from gate.door_modes import DoorModeStore, keep_modes
from gate.escalation import Escalator
from gate.freshness import ClockWatch, RulesFreshness
from gate.journal import Journal
from gate.journal.keeper import RecordKeeper
from gate.model import Reader
from gate.passes import Revocations, TrustList, load_or_create_signing_key
from gate.passes.ledger import LiveCodeLedger
from gate.registry import Registry
from gate.rulebook import Rulebook
from gate.state_lock import StateLock
from gate.store import database_path, gate_key_path, open_database
from vision.newest import NewestFrame
from vision.qr import make_decoder
from vision.repeat import RepeatFilter
from vision.sources import open_source

if TYPE_CHECKING:
    from gate.faces.gallery import FaceGallery
    from sync.discovery import StatusLink
    from sync.service import SyncService
    from sync.topics import Topics
    from vision.faces.pool import EncoderPool

log = logging.getLogger(__name__)
RETRY_SECONDS = 5.0  # how often records that wait for the journal are tried again
# A reader that wants the interpreter waits at most this long for the thread holding it (the
# peer link, the panel). Python's 5 ms default showed as +4 ms on the relay's p95 with peer
# passages arriving at 100/s (gridgate bench decide --peer-rate 100).
SWITCH_INTERVAL_S = 0.001
WATCH_SECONDS = 15.0  # how often escalation, approvals, rule ages and the clock are looked at


def reader_of(settings: Settings, reader_id: str) -> Reader:
    """The domain view of one configured reader."""
    for r in settings.readers:
        if r.reader_id == reader_id:
            return Reader(reader_id=r.reader_id, gate_id=settings.gate.gate_id,
                          direction=r.direction, anti_passback=r.anti_passback)
    raise KeyError(reader_id)


class GateApp:
    """Everything one gate runs, built from settings; a context manager that locks doors on exit."""

    def __init__(self, settings: Settings, *, clock: Clock | None = None,
                 pin_factory: Any = None,
                 time_synchronised: Callable[[], bool | None] = kernel_synchronised) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.time_synchronised = time_synchronised  # the clock watch asks it (tests swap it)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._parts = ExitStack()
        self.face_gallery: FaceGallery | None = None  # enrolled faces, when settings.faces.enabled
        self.face_pool: EncoderPool | None = None  # encoder workers, when faces.encode_workers
        self.sync: SyncService | None = None  # the platform link, when settings.mqtt.enabled
        # Availability and Home Assistant's states, on a connection of their own (mqtt only).
        self.status: StatusLink | None = None
        # How current this gate's picture of the other gates is (with the link only).
        self.compound: CompoundView | None = None
        try:
            self._build(pin_factory)
        except BaseException:
            self._parts.close()
            raise

    def _build(self, pin_factory: Any) -> None:
        settings, parts = self.settings, self._parts
        state_dir = settings.storage.state_dir
        state_dir.mkdir(parents=True, exist_ok=True)
        # Held while the gate runs: `gridgate restore` refuses to replace the database under it.
        parts.enter_context(StateLock.take(state_dir, "a running gate (gridgate run)"))
        self.db_path = database_path(state_dir)
        self.db = parts.enter_context(closing(open_database(self.db_path)))
        self.journal = Journal(self.db, gate_id=settings.gate.gate_id, clock=self.clock)
        # Every record goes through the keeper: on a full disk it waits and is retried, the
        # disk reserve is freed to say so, and at stop what could not be written is counted.
        ballast = Ballast(state_dir / BALLAST_NAME)
        ballast.lay()
        # On a connection of its own: a commit holds its connection for the fsync, and the
        # decisions' reads (registry, history) on the gate's connection must not wait for it.
        records_db = parts.enter_context(closing(open_database(self.db_path)))
        self.keeper = RecordKeeper(self.journal.sibling(records_db), ballast=ballast)
        parts.callback(self.keeper.close)  # after everything that records has stopped
        # Repeated alerts fold into one with a count; refusals that repeat become "probing".
        self.keeper.folding = AlertFolder(self.journal, settings.alerts.fold_rules())
        self._retrying = threading.Event()
        retrier = threading.Thread(target=self._retry_records, name="journal-retry",
                                   daemon=True)
        retrier.start()
        parts.callback(retrier.join, 5)
        parts.callback(self._retrying.set)
        self.registry = Registry(self.db)
        self.doors = self._build_doors(pin_factory)
        # A lockdown or hold-open set before a restart holds again (read on a connection of
        # its own; saved through the keeper: retried while the disk is full, never silently lost).
        modes_db = parts.enter_context(closing(open_database(self.db_path)))
        hold_max = max(settings.panel.hold_open_max_minutes, settings.mqtt.hold_open_max_minutes)
        self.door_modes = DoorModeStore(modes_db, clock=self.clock, keeper=self.keeper,
                                        synchronised=self.time_synchronised,
                                        hold_open_max_s=hold_max * 60.0)
        keep_modes(self.door_modes, list({id(d): d for d in self.doors.values()}.values()))
        # Each reader's lamps (driven off now and when the gate closes) and display board.
        self.answer = parts.enter_context(closing(
            ResidentAnswer(settings, doors=self.doors, pin_factory=pin_factory)))
        self.boards = self.answer.boards
        # Read after the relays are driven locked: a bad trust list must not leave them
        # undriven, and closing the parts locks them again on the way out.
        passes = settings.passes
        self.rules = Rulebook(
            trust=TrustList.load(passes.trust_list), policy=settings.policy,
            revocations=Revocations.load(passes.revocations) if passes.revocations else None)
        self.readers = {r.reader_id: reader_of(settings, r.reader_id) for r in settings.readers}
        if settings.mqtt.enabled and settings.mqtt.peer_link:
            self.compound = CompoundView(self.clock.monotonic)
        self.checkpoint = Checkpoint(
            compound_id=settings.gate.compound_id, rules=self.rules, registry=self.registry,
            journal=self.journal, doors=self.doors, clock=self.clock, keeper=self.keeper,
            compound=self.compound,
            live_codes=parts.enter_context(closing(LiveCodeLedger.open(self.db_path))))
        self.checkpoint.add_listener(self.answer.outcome, before_record=True)
        self.controls = DoorControls(checkpoint=self.checkpoint, doors=self.doors,
                                     readers=self.readers, modes=self.door_modes)
        self._build_watch()
        bindings = self._build_faces() if settings.faces.enabled else {}
        # Closed in reverse: once the readers and the platform link have stopped, the doors
        # lock before anything slower (face encoder workers finishing) is waited for.
        parts.callback(self.controls.lock_all)
        self.pipelines = {
            r.reader_id: ReaderPipeline(
                self.readers[r.reader_id], checkpoint=self.checkpoint,
                decoder=make_decoder(settings.vision.qr_decoder),
                repeat=RepeatFilter(settings.vision.repeat_seconds), clock=self.clock,
                binding=bindings.get(r.reader_id))
            for r in settings.readers
        }
        for reader_id, pipeline in self.pipelines.items():
            pipeline.add_waiting_listener(self.answer.waiting_listener(reader_id))
        self.camera_watch = CameraWatch(self.keeper, self.pipelines)
        if settings.mqtt.enabled:
            self.sync = self._build_sync()
        self.metrics_port: int | None = self._serve_metrics() if settings.metrics.enabled else None
        # Retention: soon after start, then daily, on a connection of its own (docs/journal.md).
        prune_db = parts.enter_context(closing(open_database(self.db_path)))
        self.pruner = Pruner(settings, self.journal.sibling(prune_db), self.clock)
        self.pruner.start()
        parts.callback(self.pruner.stop)
        # Last registered, first closed: readers stop before anything they use goes away.
        parts.callback(self._join_readers)

    def _build_watch(self) -> None:
        """The alert loop's parts: two-person overrides, escalation, the rules' age, the
        clock; `watch()` looks at them (a thread started by `start_watch`)."""
        settings = self.settings
        self.approvals = OverrideApprovals(controls=self.controls, journal=self.journal,
                                           rules=self.rules, clock=self.clock)
        after = settings.alerts.escalate_after_minutes * 60
        self.escalator = (Escalator(self.journal, after_s=after,
                                    audience=settings.alerts.escalate_to, clock=self.clock)
                          if after > 0 else None)
        self.freshness = RulesFreshness(self.rules, self.keeper, self.clock,
                                        settings.freshness.rules())
        self.clock_watch = ClockWatch(self.keeper, self.clock, self.time_synchronised)
        self._watching = threading.Event()
        self._parts.callback(self._watching.set)

    def watch(self) -> None:
        """Escalate unanswered urgent alerts, let lapsed override requests go, judge the
        age of the rules and the clock; each part's failure is logged, never fatal."""
        checks: list[Callable[[], object]] = [self.approvals.expire, self.freshness.check,
                                              self.clock_watch.check, self.camera_watch.check]
        if self.escalator is not None:
            checks.insert(0, self.escalator.tick)
        for check in checks:
            try:
                check()
            except Exception:
                log.exception("gate watch: %s failed", getattr(check, "__qualname__", check))

    def start_watch(self, interval_s: float = WATCH_SECONDS) -> None:
        """Run `watch()` now and every `interval_s` seconds until the gate closes."""

        def loop() -> None:
            while True:
                self.watch()
                if self._watching.wait(interval_s):
                    return

        thread = threading.Thread(target=loop, name="gate-watch", daemon=True)
        thread.start()
        self._parts.callback(thread.join, 5)

    def _build_doors(self, pin_factory: Any) -> dict[str, Door]:
        """Each reader's door, driven locked; readers on one relay pin share one door."""
        d = self.settings.door
        by_pin: dict[int, Door] = {}
        doors = {}
        for r in self.settings.readers:
            if r.relay_pin not in by_pin:
                first = not by_pin  # the exit button and contact belong to the first door
                by_pin[r.relay_pin] = self._parts.enter_context(Door(
                    r.relay_pin, active_high=d.relay_active_high, open_seconds=d.open_seconds,
                    exit_button_pin=d.exit_button_pin if first else None,
                    door_contact_pin=d.door_contact_pin if first else None,
                    contact_open_when_high=d.contact_open_when_high,
                    held_open_seconds=d.held_open_seconds, clock=self.clock,
                    pin_factory=pin_factory, on_event=door_event_recorder(self.keeper)))
            doors[r.reader_id] = by_pin[r.relay_pin]
        return doors

    def _build_faces(self) -> dict[str, Binding]:
        """The face gallery, the encoder workers and each reader's face binding."""
        from edge.reader.faces import FaceBinding, build_face_watch  # dlib loads only if enabled
        from gate.faces.gallery import FaceGallery
        from gate.faces.snapshots import UnknownFaceSnapshots
        from vision.faces.pool import EncoderPool

        faces, parts = self.settings.faces, self._parts
        # With one BLAS thread face-to-decision p95 fell from 80 to 57 ms, and the CPU spent on
        # faces by a third (docs/faces.md).
        one_blas_thread()
        parts.callback(release_blas_threads)
        self.face_gallery = FaceGallery(self.db)
        pool = self.face_pool = (parts.enter_context(closing(EncoderPool(faces.encode_workers)))
                                 if faces.encode_workers else None)
        # A connection of its own: readers save snapshots while the journal writes on self.db.
        snapshots = parts.enter_context(closing(UnknownFaceSnapshots.open(
            self.settings.storage.state_dir, self.db_path, keep_days=faces.unknown_snapshot_days)))
        return {
            reader_id: FaceBinding(
                reader, watch=build_face_watch(faces, self.face_gallery, pool),
                lookup=self.checkpoint, rules=self.rules, clock=self.clock, snapshots=snapshots,
                pass_wait_s=faces.pass_wait_s, liveness_wait_s=faces.liveness.wait_s,
                repeat_s=faces.repeat_seconds)
            for reader_id, reader in self.readers.items()
        }

    def _build_sync(self) -> SyncService:
        """Outbox hook on the journal now; publisher and inbox start with start_sync()."""
        from gate.faces.gallery import FaceGallery
        from sync.service import SyncService
        from sync.topics import Topics

        s, gate, parts = self.settings.mqtt, self.settings.gate, self._parts
        # Roster encodings reach the gallery from the inbox thread through a connection of
        # their own (closed after the link stops); the readers' gallery notices each change by
        # its version row.
        faces_db = (parts.enter_context(closing(open_database(self.db_path)))
                    if self.face_gallery is not None else None)
        # The gate's own key (made on the first run) signs what it tells the other gates.
        key = None
        if s.peer_link:
            key_path = gate_key_path(self.settings.storage.state_dir)
            key, created = load_or_create_signing_key(key_path)
            if created:
                log.warning("created this gate's key %s (%s): add it to the trust list with "
                            "scope 'gate' and gate_id %s (`gridgate keys gate`) so the other "
                            "gates accept its passages", key.key_id, key_path, gate.gate_id)
        topics = Topics(s.prefix, gate.compound_id, gate.gate_id)
        sync = SyncService(
            journal=self.journal, db_path=self.db_path, topics=topics,
            broker=s.broker_options(compound_id=gate.compound_id, gate_id=gate.gate_id),
            clock=self.clock, rules=self.rules, controls=self.controls,
            outbox=s.outbox_options(),
            webhooks=s.webhook_targets(self.settings.policy.timezone,
                                       self.settings.alerts.escalation_webhook),
            escalation_topic=self._escalation_topic(topics),
            command_max_lifetime_s=s.command_max_lifetime_s,
            hold_open_max_s=s.hold_open_max_minutes * 60.0,
            peer_key=key, compound=self.compound,
        )
        parts.callback(sync.stop)  # closed before the doors: no command mid-close
        if faces_db is not None:
            sync.attach_faces(FaceGallery(faces_db))
        self.status = self._build_status(sync)
        return sync

    def _serve_metrics(self) -> int:
        """Prometheus metrics on the configured address (edge/metrics); returns the port."""
        from edge.metrics import GateMetrics, MetricsServer

        m = self.settings.metrics
        server = MetricsServer(GateMetrics(self), m.host, m.port)
        self._parts.callback(server.close)
        return server.port

    def _build_status(self, sync: SyncService) -> StatusLink | None:
        """The availability topic and Home Assistant discovery (edge/homeassistant.py)."""
        from edge.homeassistant import build_status_link

        status = build_status_link(self, sync)
        if status is not None:
            self.add_outcome_listener(status.decided)
            self._parts.callback(status.stop)  # stopped before the platform link
        return status

    def _escalation_topic(self, topics: Topics) -> str | None:
        """The MQTT topic of escalated alerts; None: the alert's own (a webhook escalates)."""
        kind, _, name = self.settings.alerts.escalate_to.partition(":")
        if kind == "street_office":
            return topics.street_alerts
        return topics.grid_alerts(name) if kind == "grid" else None

    # -- what the panel, the CLI and the benchmarks use -------------------------------------

    def add_outcome_listener(self, listener: OutcomeListener) -> None:
        """Hear every decided outcome, overrides included (console output, panel, demo)."""
        self.checkpoint.add_listener(listener)

    @property
    def pending_records(self) -> int:
        """Passages decided but not yet written (the journal could not be written)."""
        return self.checkpoint.pending_records

    # -- running ----------------------------------------------------------------------------

    def start_sync(self) -> None:
        """Connect to the broker and start sending and receiving (no-op without mqtt)."""
        if self.sync is not None:
            self.sync.start()
        if self.status is not None:
            self.status.start()

    def start_readers(self, *, on_error: Callable[[str, Exception], None] | None = None,
                      realtime: bool = True,
                      on_ended: Callable[[str], None] | None = None) -> None:
        """Start one thread per reader reading its camera (and the platform link);
        `on_ended(reader_id)` hears of a camera that ended by itself (a file, not looping)."""
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        self.start_sync()
        for rs in self.settings.readers:
            thread = threading.Thread(target=self._read, args=(rs, on_error, realtime, on_ended),
                                      name=f"reader-{rs.reader_id}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _read(self, rs: ReaderSettings, on_error: Callable[[str, Exception], None] | None,
              realtime: bool, on_ended: Callable[[str], None] | None = None) -> None:
        pipeline = self.pipelines[rs.reader_id]
        try:
            with open_source(rs.camera, width=rs.width, height=rs.height, fps=rs.fps,
                             loop=rs.loop, realtime=realtime) as source:
                if not realtime:  # every frame, in order (tests, replays)
                    pipeline.run(source, self._stop)
                else:
                    with NewestFrame(source, stop=self._stop) as frames:
                        pipeline.run(frames, self._stop)
            if on_ended is not None and not self._stop.is_set():
                on_ended(rs.reader_id)
        except Exception as exc:
            pipeline.stats.camera_ok = False
            pipeline.stats.last_error = str(exc)
            log.error("reader %s stopped: %s", rs.reader_id, exc)
            if on_error:
                on_error(rs.reader_id, exc)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the reader threads to end; True when all ended."""
        for thread in self._threads:
            thread.join(timeout)
        return not any(t.is_alive() for t in self._threads)

    def stop(self) -> None:
        """Ask the reader loops to stop."""
        self._stop.set()

    def _retry_records(self) -> None:
        # Records wait only while the journal cannot be written; try again every few seconds
        # so they reach the disk even when nothing new is recorded.
        while not self._retrying.wait(RETRY_SECONDS):
            if self.keeper.waiting:
                self.keeper.retry()

    def _join_readers(self) -> None:
        self.stop()
        for thread in self._threads:
            thread.join(timeout=5)

    def close(self) -> None:
        """Stop readers and the platform link, lock every door, close the database."""
        self._parts.close()

    def __enter__(self) -> GateApp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

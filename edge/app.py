"""Wiring one gate from its settings: database, journal, registry, doors, checkpoint, readers."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from edge.blas import one_blas_thread, release_blas_threads
from edge.pipeline import ReaderPipeline
from edge.settings import Settings
from gate.checkpoint import Checkpoint
from gate.clock import Clock, SystemClock
from gate.door import Door, DoorEvent
from gate.journal import Journal
from gate.model import AlertSpec, Reader, Severity
from gate.passes import Revocations, TrustList
from gate.policy import Policy
from gate.registry import Registry
from gate.store import database_path, open_database
from vision.qr import make_decoder
from vision.repeat import RepeatFilter
from vision.sources import open_source

if TYPE_CHECKING:
    from edge.panel.server import PanelServer
    from sync.service import SyncService
    from vision.faces.gallery import FaceGallery
    from vision.faces.pool import EncoderPool

log = logging.getLogger(__name__)

_DOOR_ALERTS = {
    "forced": ("door_forced", Severity.URGENT, "门被强行打开", "door forced open"),
    "held_open": ("door_held_open", Severity.WARNING, "门长时间未关", "door held open"),
}


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
                 pin_factory: Any = None) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        state_dir = settings.storage.state_dir
        state_dir.mkdir(parents=True, exist_ok=True)
        self.db_path = database_path(state_dir)
        self.db = open_database(self.db_path)
        self.journal = Journal(self.db, gate_id=settings.gate.gate_id, clock=self.clock)
        self.registry = Registry(self.db)
        self._policy = settings.policy
        self.doors: dict[str, Door] = {}
        self._doors_by_pin: dict[int, Door] = {}
        # Set before anything can fail: close() needs them.
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.panel: PanelServer | None = None  # the guards' web panel, once served
        try:
            for r in settings.readers:
                self.doors[r.reader_id] = self._door_for(r.relay_pin, pin_factory)
            # Read after the relays are driven locked: a bad trust list must not leave them
            # undriven, and close() below locks them again on the way out.
            self.trust = TrustList.load(settings.passes.trust_list)
            self.revocations = (Revocations.load(settings.passes.revocations)
                                if settings.passes.revocations else Revocations())
        except Exception:
            self.close()
            raise
        self.readers = {r.reader_id: reader_of(settings, r.reader_id) for r in settings.readers}
        self.checkpoint = Checkpoint(
            compound_id=settings.gate.compound_id, trust=self.trust,
            revocations=self.revocations, registry=self.registry, journal=self.journal,
            doors=self.doors, policy=self.policy, clock=self.clock,
        )
        self.pipelines: dict[str, ReaderPipeline] = {
            r.reader_id: ReaderPipeline(
                self.readers[r.reader_id], checkpoint=self.checkpoint,
                decoder=make_decoder(settings.vision.qr_decoder),
                repeat=RepeatFilter(settings.vision.repeat_seconds), clock=self.clock,
            )
            for r in settings.readers
        }
        self.face_gallery: FaceGallery | None = None  # enrolled faces, when settings.faces.enabled
        self.face_pool: EncoderPool | None = None
        if settings.faces.enabled:
            try:
                self._build_faces()
            except Exception:
                self.close()
                raise
        self.sync: SyncService | None = None  # the platform link, when settings.mqtt.enabled
        if settings.mqtt.enabled:
            try:
                self.sync = self._build_sync()
            except Exception:
                self.close()
                raise
        if self.sync is not None and self.face_gallery is not None:
            from vision.faces.gallery import FaceGallery

            # Roster encodings reach the gallery from the inbox thread through a connection of
            # their own; the readers' gallery notices each change by its version row.
            try:
                self._faces_sync_db = open_database(self.db_path)
                self.sync.attach_faces(FaceGallery(self._faces_sync_db))
            except Exception:
                self.close()
                raise

    def _build_faces(self) -> None:
        """The face gallery, the encoder workers and each reader's face path (settings.faces)."""
        from edge.face_reader import FacePassages, build_face_watch  # dlib loads only if enabled
        from vision.faces.gallery import FaceGallery
        from vision.faces.pool import EncoderPool
        from vision.faces.snapshots import UnknownFaceSnapshots

        faces = self.settings.faces
        # With one BLAS thread face-to-decision p95 fell from 80 to 57 ms, and the CPU spent on
        # faces by a third (docs/faces.md).
        one_blas_thread()
        self._blas_limited = True
        self.face_gallery = FaceGallery(self.db)
        self.face_pool = EncoderPool(faces.encode_workers) if faces.encode_workers else None
        # A connection of its own: readers save snapshots while the journal writes on self.db.
        snapshots = self.face_snapshots = UnknownFaceSnapshots.open(
            self.settings.storage.state_dir, self.db_path, keep_days=faces.unknown_snapshot_days)
        for reader_id, pipeline in self.pipelines.items():
            pipeline.faces = FacePassages(
                self.readers[reader_id], checkpoint=self.checkpoint, clock=self.clock,
                watch=build_face_watch(faces, self.face_gallery, self.face_pool),
                snapshots=snapshots, pass_wait_s=faces.pass_wait_s,
                liveness_wait_s=faces.liveness.wait_s, repeat_s=faces.repeat_seconds)

    def _build_sync(self) -> SyncService:
        """Outbox hook on the journal now; publisher and inbox start with start_sync()."""
        from sync.commands import GateControls
        from sync.documents import DocumentTargets
        from sync.service import SyncService
        from sync.topics import Topics

        s, gate = self.settings.mqtt, self.settings.gate
        return SyncService(
            journal=self.journal, db_path=self.db_path,
            topics=Topics(s.prefix, gate.compound_id, gate.gate_id),
            broker=s.broker_options(compound_id=gate.compound_id, gate_id=gate.gate_id),
            clock=self.clock, trust=lambda: self.trust,
            targets=DocumentTargets(set_policy=self.set_policy, get_trust=lambda: self.trust,
                                    set_trust=self.set_trust),
            controls=GateControls(self.checkpoint, self.doors, self.readers),
            outbox=s.outbox_options(), webhooks=s.webhook_targets(self.settings.policy.timezone),
            command_max_lifetime_s=s.command_max_lifetime_s,
            hold_open_max_s=s.hold_open_max_minutes * 60.0,
        )

    def start_sync(self) -> None:
        """Connect to the broker and start sending and receiving (no-op without mqtt)."""
        if self.sync is not None:
            self.sync.start()

    def set_trust(self, trust: TrustList) -> None:
        """Replace the trust list in force (the platform rotates its keys)."""
        self.trust = trust
        self.checkpoint.trust = trust

    def policy(self) -> Policy:
        """The policy in force (the platform may replace it at run time)."""
        return self._policy

    def set_policy(self, policy: Policy) -> None:
        """Replace the policy in force."""
        self._policy = policy

    def _door_for(self, pin: int, pin_factory: Any) -> Door:
        if pin not in self._doors_by_pin:
            d = self.settings.door
            # The exit button and contact belong to the first door configured.
            first = not self._doors_by_pin
            door = Door(
                pin, active_high=d.relay_active_high, open_seconds=d.open_seconds,
                exit_button_pin=d.exit_button_pin if first else None,
                door_contact_pin=d.door_contact_pin if first else None,
                contact_open_when_high=d.contact_open_when_high,
                held_open_seconds=d.held_open_seconds, clock=self.clock,
                pin_factory=pin_factory, on_event=self._door_event,
            )
            self._doors_by_pin[pin] = door
        return self._doors_by_pin[pin]

    def _door_event(self, event: DoorEvent) -> None:
        self.journal.record_door_event(event.door, event.kind, event.detail, event.actor)
        if event.alert and event.kind in _DOOR_ALERTS:
            kind, severity, zh, en = _DOOR_ALERTS[event.kind]
            self.journal.record_alert(AlertSpec(kind, severity, f"{zh}（{event.door}）",
                                                f"{en} ({event.door})"))

    def start_readers(self, *, on_error: Callable[[str, Exception], None] | None = None,
                      realtime: bool = True) -> None:
        """Start one thread per reader reading its camera (and the platform link)."""
        self.start_sync()
        for rs in self.settings.readers:
            pipeline = self.pipelines[rs.reader_id]

            def loop(rs: Any = rs, pipeline: ReaderPipeline = pipeline) -> None:
                try:
                    with open_source(rs.camera, width=rs.width, height=rs.height, fps=rs.fps,
                                     loop=rs.loop, realtime=realtime) as source:
                        pipeline.run(source, self._stop)
                except Exception as exc:
                    pipeline.stats.camera_ok = False
                    pipeline.stats.last_error = str(exc)
                    log.error("reader %s stopped: %s", rs.reader_id, exc)
                    if on_error:
                        on_error(rs.reader_id, exc)

            thread = threading.Thread(target=loop, name=f"reader-{rs.reader_id}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the reader threads to end; True when all ended."""
        for thread in self._threads:
            thread.join(timeout)
        return not any(t.is_alive() for t in self._threads)

    def stop(self) -> None:
        """Ask the reader loops to stop."""
        self._stop.set()

    def start_panel(self, **options: Any) -> PanelServer:
        """Serve the guards' web panel from this process (settings.panel); close() stops it."""
        from edge.panel.server import start_panel  # FastAPI and uvicorn load only when served

        if self.panel is None:
            if self.sync is not None and "sync" not in options:
                from edge.panel.services import SyncStatus

                # Broker state, outbox size and document versions; "not configured" without.
                options["sync"] = SyncStatus.of(self.sync)
            self.panel = start_panel(self, self.settings.panel, **options)
        return self.panel

    def close(self) -> None:
        """Stop readers, lock every door, close the database."""
        try:
            self._close_parts()
        finally:
            if getattr(self, "_blas_limited", False):
                self._blas_limited = False
                release_blas_threads()

    def _close_parts(self) -> None:
        self.stop()
        if self.panel is not None:  # first: it reads the doors and the database
            self.panel.stop()
            self.panel = None
        if getattr(self, "sync", None) is not None:  # before the doors: no command mid-close
            self.sync.stop()  # type: ignore[union-attr]
            self.sync = None
        for thread in self._threads:
            thread.join(timeout=5)
        for door in self._doors_by_pin.values():
            door.close()
        if getattr(self, "face_pool", None) is not None:
            self.face_pool.close()  # type: ignore[union-attr]
            self.face_pool = None
        if getattr(self, "_faces_sync_db", None) is not None:
            self._faces_sync_db.close()
        if getattr(self, "face_snapshots", None) is not None:
            self.face_snapshots.close()  # type: ignore[union-attr]
            self.face_snapshots = None
        self.db.close()

    def __enter__(self) -> GateApp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

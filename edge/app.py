"""Wiring one gate from its settings: database, journal, registry, doors, checkpoint, readers."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

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
        self.trust = TrustList.load(settings.passes.trust_list)
        self.revocations = (Revocations.load(settings.passes.revocations)
                            if settings.passes.revocations else Revocations())
        self._policy = settings.policy
        self.doors: dict[str, Door] = {}
        self._doors_by_pin: dict[int, Door] = {}
        try:
            for r in settings.readers:
                self.doors[r.reader_id] = self._door_for(r.relay_pin, pin_factory)
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
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

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
        """Start one thread per reader reading its camera."""
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

    def close(self) -> None:
        """Stop readers, lock every door, close the database."""
        self.stop()
        for thread in self._threads:
            thread.join(timeout=5)
        for door in self._doors_by_pin.values():
            door.close()
        self.db.close()

    def __enter__(self) -> GateApp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

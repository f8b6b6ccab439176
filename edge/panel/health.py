"""Gate health for guards and installers: cameras, broker, outbox, versions, disk space."""

from __future__ import annotations

import importlib.metadata
import logging
import platform
import shutil
from collections.abc import Callable
from typing import Literal, TypeVar

from pydantic import BaseModel

from edge.panel.frames import STALE_S
from edge.panel.services import PanelServices

log = logging.getLogger(__name__)
T = TypeVar("T")

BrokerState = Literal["connected", "disconnected", "not_configured", "unknown"]


class ReaderHealth(BaseModel):
    reader_id: str
    direction: str
    camera_ok: bool
    fps: float
    frames: int
    decisions: int
    image_age_s: float | None
    last_error: str


class DoorHealth(BaseModel):
    reader_id: str
    door: str
    mode: str
    mode_remaining_s: float | None
    released: bool
    open: bool | None


class TrustedKeyOut(BaseModel):
    key_id: str
    scope: str


class Versions(BaseModel):
    gridgate: str
    python: str
    policy: str  # the version named inside the policy in force
    documents: dict[str, int] | None  # platform document -> version held; None: no link
    roster_persons: int
    roster_permits: int
    keys: list[TrustedKeyOut]


class DiskHealth(BaseModel):
    path: str
    free_bytes: int
    total_bytes: int
    free_percent: float


class HealthOut(BaseModel):
    gate_id: str
    gate_name: str
    readers: list[ReaderHealth]
    doors: list[DoorHealth]
    broker: BrokerState
    outbox_waiting: int | None
    journal_pending: int
    live_viewers: int
    versions: Versions
    disk: DiskHealth | None


def _ask(source: Callable[[], T] | None, what: str) -> tuple[bool, T | None]:
    """(configured, value) from a status callable; a failing callable reads as unknown."""
    if source is None:
        return False, None
    try:
        return True, source()
    except Exception as exc:  # the sync layer's trouble must not break the health page
        log.warning("panel: %s status unavailable: %s", what, exc)
        return True, None


def _version() -> str:
    try:
        return importlib.metadata.version("gridgate")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def door_health(svc: PanelServices) -> list[DoorHealth]:
    """Mode and relay state of the door behind each reader."""
    out = []
    for reader_id, door in svc.gate.controls.doors.items():
        remaining = door.mode_remaining_s
        out.append(DoorHealth(reader_id=reader_id, door=door.name, mode=door.mode.value,
                              mode_remaining_s=round(remaining, 1) if remaining else remaining,
                              released=door.is_released, open=door.is_open))
    return out


def trusted_keys(svc: PanelServices) -> list[TrustedKeyOut]:
    """The keys the gate accepts pass signatures from, with what each may sign."""
    return [TrustedKeyOut(key_id=k.key_id, scope=str(k.scope)) for k in svc.gate.rules.trust]


def gather(svc: PanelServices) -> HealthOut:
    """Collect the gate's health now."""
    gate = svc.gate
    readers = []
    for reader_id, pipeline in gate.pipelines.items():
        stats = pipeline.stats
        age = svc.frames.age_s(reader_id)
        live = age is not None and age <= STALE_S  # the pipeline's fps is kept after a stall
        readers.append(ReaderHealth(
            reader_id=reader_id, direction=pipeline.reader.direction.value,
            camera_ok=stats.camera_ok and live, fps=round(stats.fps, 1) if live else 0.0,
            frames=stats.frames,
            decisions=stats.decisions, image_age_s=None if age is None else round(age, 1),
            last_error=stats.last_error))
    configured, connected = _ask(svc.sync.broker_connected, "broker")
    broker: BrokerState = ("not_configured" if not configured else "unknown" if connected is None
                           else "connected" if connected else "disconnected")
    _, waiting = _ask(svc.sync.outbox_waiting, "outbox")
    _, documents = _ask(svc.sync.versions, "document versions")
    db = svc.db.conn()
    versions = Versions(
        gridgate=_version(), python=platform.python_version(), policy=gate.rules.policy.version,
        documents=dict(documents) if documents is not None else None,
        roster_persons=int(db.execute("SELECT COUNT(*) FROM persons").fetchone()[0]),
        roster_permits=int(db.execute("SELECT COUNT(*) FROM permits").fetchone()[0]),
        keys=trusted_keys(svc))
    state_dir = gate.settings.storage.state_dir
    try:
        usage = shutil.disk_usage(state_dir)
        disk = DiskHealth(path=str(state_dir), free_bytes=usage.free, total_bytes=usage.total,
                          free_percent=round(100 * usage.free / max(usage.total, 1), 1))
    except OSError as exc:
        log.warning("panel: cannot read disk usage of %s: %s", state_dir, exc)
        disk = None
    return HealthOut(
        gate_id=gate.settings.gate.gate_id, gate_name=gate.settings.gate.name,
        readers=readers, doors=door_health(svc), broker=broker,
        outbox_waiting=int(waiting) if waiting is not None else None,
        journal_pending=gate.pending_records, live_viewers=svc.hub.subscribers,
        versions=versions, disk=disk)

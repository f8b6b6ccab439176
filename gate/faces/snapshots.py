"""Snapshots of unknown faces, kept only for a few days (strangers' faces are personal data).

Files live under <state_dir>/snapshots/<date>/<id>.jpg, the layout the panel serves; each is also
listed in the face_snapshots table, so pruning removes exactly these files and never an
override's evidence kept in the same folders.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from sqlite_utils import Database

from gate.faces import schema
from gate.store import immediate, open_database
from vision.errors import ImageError
from vision.images import jpeg_bytes

log = logging.getLogger(__name__)
PRUNE_EVERY = timedelta(hours=1)


class UnknownFaceSnapshots:
    """A JPEG of the scene when an unknown face is turned away, forgotten after `keep_days`.

    Readers save from their own threads while the journal writes on the gate's connection, so
    the gate gives this class a connection of its own (`open`): sqlite3 transactions on one
    shared connection from two threads interleave and fail.
    """

    def __init__(self, state_dir: Path, db: Database, *, keep_days: int) -> None:
        self.state_dir = Path(state_dir)
        self.db = db
        self.keep_days = keep_days
        schema.prepare(db)  # face_snapshots is one of the face tables
        self._lock = threading.Lock()  # the readers of one gate share this object
        self._last_prune: datetime | None = None
        self._owns_db = False

    @classmethod
    def open(cls, state_dir: Path, db_path: Path, *, keep_days: int) -> UnknownFaceSnapshots:
        """Snapshots written through a new connection to `db_path`; close() closes it."""
        snapshots = cls(state_dir, open_database(db_path), keep_days=keep_days)
        snapshots._owns_db = True
        return snapshots

    def close(self) -> None:
        """Close the connection if this object opened it."""
        if self._owns_db:
            self.db.close()
            self._owns_db = False

    def save(self, image: np.ndarray, when: datetime) -> str | None:
        """Store the image; its reference, or None when snapshots are off or the disk refuses."""
        if self.keep_days <= 0:
            return None
        self.prune(when)
        ref = f"snapshots/{when.date().isoformat()}/{uuid.uuid4().hex}.jpg"
        path = self.state_dir / ref
        try:
            data = jpeg_bytes(image, quality=85)
        except ImageError:
            return None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            self._write("INSERT INTO face_snapshots (ref, taken_at) VALUES (?, ?)",
                        [ref, when.astimezone(UTC).isoformat()])
        except (OSError, sqlite3.Error) as exc:
            log.error("snapshot of an unknown face not kept: %s", exc)
            return None
        return ref

    def _write(self, sql: str, params: list[str]) -> None:
        # IMMEDIATE: the write lock is awaited (busy_timeout) up front; a deferred transaction
        # would fail at once if another connection committed between its read and its write.
        with self._lock, immediate(self.db):
            self.db.execute(sql, params)

    def prune(self, now: datetime, *, force: bool = False) -> int:
        """Delete snapshots older than `keep_days` (at most hourly unless forced); how many."""
        if not force and self._last_prune is not None and now - self._last_prune < PRUNE_EVERY:
            return 0
        self._last_prune = now
        cutoff = (now - timedelta(days=self.keep_days)).astimezone(UTC).isoformat()
        with self._lock:
            rows = self.db.execute("SELECT ref FROM face_snapshots WHERE taken_at < ?",
                                   [cutoff]).fetchall()
        removed = 0
        for (ref,) in rows:
            try:
                (self.state_dir / ref).unlink(missing_ok=True)
            except OSError as exc:
                log.error("cannot delete old snapshot %s: %s", ref, exc)
                continue
            self._write("DELETE FROM face_snapshots WHERE ref = ?", [ref])
            removed += 1
        return removed

"""The face gallery: enrolled encodings per person, kept in the gate's SQLite database.

Encodings are roster data, synced by the platform like persons and permits. They are stored as
128 little-endian float32 (512 bytes each; 100,000 take 51 MB) and searched through vision's
in-memory `EncodingIndex`. A version row, bumped in the same transaction as every change, tells
each gallery object (one per connection or thread) when another one changed the table, e.g.
the platform sync replacing a person's encodings.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlite_utils import Database

from gate.faces import schema
from gate.faces.errors import EncodingError, GalleryError
from gate.store import atomic
from vision.faces.index import ENCODING_LENGTH, EncodingIndex, Match

MAX_ENCODINGS_PER_PERSON = 100
Vector = Sequence[float] | np.ndarray  # one face encoding
MAX_PERSON_ID = 128


def check_encoding(values: Any, what: str = "encoding") -> np.ndarray:
    """`values` as a float64 vector of 128 finite numbers, or EncodingError saying what is wrong."""
    try:
        vector = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise EncodingError(f"{what}: not a list of numbers") from None
    if vector.ndim != 1 or vector.shape[0] != ENCODING_LENGTH:
        raise EncodingError(f"{what}: expected {ENCODING_LENGTH} numbers, got shape "
                            f"{tuple(vector.shape)}")
    if not np.all(np.isfinite(vector)):
        raise EncodingError(f"{what}: contains NaN or infinity")
    return vector


def _check_person(person_id: object) -> str:
    if not isinstance(person_id, str) or not person_id.strip() or len(person_id) > MAX_PERSON_ID:
        raise EncodingError(f"person id must be a non-empty string of at most {MAX_PERSON_ID} "
                            f"characters, got {person_id!r}")
    return person_id


class FaceGallery:
    """Enrolled face encodings of persons, stored in the gate database and searched in memory."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._lock = threading.RLock()
        self._index: EncodingIndex | None = None
        self._version: int | None = None
        schema.prepare(db)

    def replace_person(self, person_id: str, encodings: Sequence[Vector]) -> None:
        """Make `encodings` the person's only encodings (an empty list removes the person).

        Every vector is checked before anything is written; one bad vector rejects the whole
        call with EncodingError and leaves the stored encodings as they were.
        """
        self.replace_many({person_id: encodings})

    def replace_many(self, encodings_by_person: Mapping[str, Sequence[Vector]]) -> None:
        """`replace_person` for many persons in one transaction (a roster sync): all or nothing."""
        now = datetime.now(UTC).isoformat()
        rows = {person_id: self._rows(person_id, encodings, now)
                for person_id, encodings in encodings_by_person.items()}
        with self._lock:
            try:
                with atomic(self.db):
                    for person_id, person_rows in rows.items():
                        self.db.execute("DELETE FROM face_gallery WHERE person_id = ?",
                                        [person_id])
                        if person_rows:
                            self.db.table("face_gallery").insert_all(person_rows)
                    self._bump()
            except sqlite3.Error as exc:
                raise GalleryError(f"cannot store face encodings: {exc}") from exc
            self._index = None

    @staticmethod
    def _rows(person_id: str, encodings: object, now: str) -> list[dict[str, Any]]:
        # `object`: callers outside Python's types (roster JSON, the CLI) may pass anything.
        person_id = _check_person(person_id)
        if isinstance(encodings, str | bytes) or not isinstance(encodings, Sequence | np.ndarray):
            raise EncodingError(f"encodings of {person_id!r}: expected a list of encodings")
        if len(encodings) > MAX_ENCODINGS_PER_PERSON:
            raise EncodingError(f"encodings of {person_id!r}: {len(encodings)} is more than the "
                                f"{MAX_ENCODINGS_PER_PERSON} allowed per person")
        vectors = [check_encoding(e, f"encoding {i} of {person_id!r}")
                   for i, e in enumerate(encodings)]
        return [{"person_id": person_id, "encoding": v.astype("<f4").tobytes(), "added_at": now}
                for v in vectors]

    def add_encodings(self, person_id: str, encodings: Sequence[Vector]) -> None:
        """Keep the person's encodings and add these (same checks as `replace_person`)."""
        with self._lock:
            current = [self._decode(row[0]) for row in self.db.execute(
                "SELECT encoding FROM face_gallery WHERE person_id = ? ORDER BY id",
                [person_id])]
            self.replace_person(person_id, [*current, *encodings])

    def remove_person(self, person_id: str) -> bool:
        """Forget the person's encodings; False when there were none."""
        with self._lock:
            try:
                with atomic(self.db):
                    cursor = self.db.execute("DELETE FROM face_gallery WHERE person_id = ?",
                                             [person_id])
                    if cursor.rowcount:
                        self._bump()
            except sqlite3.Error as exc:
                raise GalleryError(f"cannot remove {person_id!r}: {exc}") from exc
            self._index = None
            return cursor.rowcount > 0

    def persons(self) -> list[str]:
        """Every person with at least one encoding, sorted."""
        return [row[0] for row in self.db.execute(
            "SELECT DISTINCT person_id FROM face_gallery ORDER BY person_id")]

    def counts(self) -> dict[str, int]:
        """Number of encodings per enrolled person."""
        return dict(self.db.execute("SELECT person_id, count(*) FROM face_gallery "
                                    "GROUP BY person_id ORDER BY person_id").fetchall())

    def encodings(self, person_id: str) -> list[np.ndarray]:
        """The stored encodings of one person."""
        return [self._decode(row[0]) for row in self.db.execute(
            "SELECT encoding FROM face_gallery WHERE person_id = ? ORDER BY id", [person_id])]

    def index(self) -> EncodingIndex:
        """The current in-memory index, reloaded when the table changed since the last look."""
        with self._lock:
            version = self._stored_version()
            if self._index is None or version != self._version:
                self._index = self._load()
                self._version = version
            return self._index

    def person_count(self) -> int:
        """Number of enrolled persons (the N of 1:N)."""
        return len(self.index().persons)

    def search(self, encoding: Sequence[float] | np.ndarray, k: int = 2) -> list[Match]:
        """The `k` closest enrolled persons to `encoding`, best first."""
        return self.index().search(check_encoding(encoding), k)

    def _bump(self) -> None:
        self.db.execute("UPDATE face_gallery_version SET version = version + 1 WHERE id = 1")

    def _stored_version(self) -> int:
        try:
            row = self.db.execute(
                "SELECT version FROM face_gallery_version WHERE id = 1").fetchone()
        except sqlite3.Error as exc:
            raise GalleryError(f"cannot read the face gallery: {exc}") from exc
        return int(row[0]) if row else 0

    @staticmethod
    def _decode(blob: bytes) -> np.ndarray:
        return np.frombuffer(blob, dtype="<f4").astype(np.float64)

    def _load(self) -> EncodingIndex:
        rows = self.db.execute("SELECT person_id, encoding FROM face_gallery").fetchall()
        ids = [r[0] for r in rows]
        blobs = [r[1] for r in rows if len(r[1]) == 4 * ENCODING_LENGTH]
        if len(blobs) != len(rows):
            raise GalleryError("the face gallery holds encodings of the wrong size; "
                               "re-enrol the affected persons")
        matrix = (np.frombuffer(b"".join(blobs), dtype="<f4").reshape(-1, ENCODING_LENGTH)
                  if blobs else np.zeros((0, ENCODING_LENGTH), np.float32))
        return EncodingIndex(ids, matrix)


__all__ = ["ENCODING_LENGTH", "MAX_ENCODINGS_PER_PERSON", "MAX_PERSON_ID", "EncodingError",
           "FaceGallery", "GalleryError", "Match", "check_encoding"]

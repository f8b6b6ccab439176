"""Tables of the enrolled faces and of unknown-face snapshots, as small named migrations.

The names ("gridgate.faces", "0001_face_gallery") are recorded in existing databases: never
rename them; add a migration instead.
"""

from __future__ import annotations

import sqlite3

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from gate.faces.errors import GalleryError

migrations = Migrations("gridgate.faces")


@migrations(name="0001_face_gallery")
def _create_tables(db: Database) -> None:
    db.execute(
        """
        CREATE TABLE face_gallery (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            person_id TEXT NOT NULL,
            encoding BLOB NOT NULL,            -- 128 little-endian float32
            added_at TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX face_gallery_person ON face_gallery (person_id)")
    db.execute("CREATE TABLE face_gallery_version (id INTEGER PRIMARY KEY CHECK (id = 1), "
               "version INTEGER NOT NULL)")
    db.execute("INSERT INTO face_gallery_version (id, version) VALUES (1, 0)")
    db.execute(
        """
        CREATE TABLE face_snapshots (
            ref TEXT PRIMARY KEY,              -- snapshots/<date>/<id>.jpg under the state dir
            taken_at TEXT NOT NULL
        )
        """
    )


def prepare(db: Database) -> None:
    """Create or update the face tables in `db`; GalleryError when SQLite refuses."""
    try:
        migrations.apply(db)
    except sqlite3.Error as exc:
        raise GalleryError(f"cannot prepare the face gallery tables: {exc}") from exc

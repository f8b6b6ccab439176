"""Unknown-face snapshots: JPEGs listed in their own table, forgotten after `keep_days`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from gate.faces.gallery import FaceGallery
from gate.faces.snapshots import UnknownFaceSnapshots
from gate.store import open_database

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
SCENE = np.full((48, 64, 3), 120, np.uint8)


def test_a_fresh_database_gets_the_face_tables_without_a_gallery(tmp_path: Path) -> None:
    snapshots = UnknownFaceSnapshots.open(tmp_path, tmp_path / "gridgate.db", keep_days=7)
    try:
        ref = snapshots.save(SCENE, NOW)
        assert ref is not None and ref.startswith("snapshots/2026-11-22/")
        assert (tmp_path / ref).read_bytes()[:2] == b"\xff\xd8"
        assert snapshots.db.execute("SELECT ref FROM face_snapshots").fetchall() == [(ref,)]
        assert snapshots.prune(NOW + timedelta(days=6), force=True) == 0
        assert snapshots.prune(NOW + timedelta(days=8), force=True) == 1
        assert not (tmp_path / ref).exists()
    finally:
        snapshots.close()


def test_snapshots_off_keep_nothing(tmp_path: Path) -> None:
    snapshots = UnknownFaceSnapshots(tmp_path, open_database(tmp_path / "gridgate.db"),
                                     keep_days=0)
    assert snapshots.save(SCENE, NOW) is None
    assert not (tmp_path / "snapshots").exists()


def test_gallery_and_snapshots_share_one_recorded_migration(tmp_path: Path) -> None:
    # Existing databases recorded these names: renaming them would re-run the migration there.
    db = open_database(tmp_path / "gridgate.db")
    UnknownFaceSnapshots(tmp_path, db, keep_days=7)
    FaceGallery(db).replace_person("p-1", [[0.1] * 128])
    recorded = db.execute("SELECT migration_set, name FROM _sqlite_migrations "
                          "WHERE migration_set = 'gridgate.faces'").fetchall()
    assert recorded == [("gridgate.faces", "0001_face_gallery")]
    assert FaceGallery(db).counts() == {"p-1": 1}

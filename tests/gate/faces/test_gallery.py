"""The face gallery: SQLite storage, validation of platform encodings, exact vectorised search."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gate.faces.errors import EncodingError, GalleryError
from gate.faces.gallery import FaceGallery
from gate.store import open_database

RNG = np.random.default_rng(5)


def unit(n: int = 1) -> np.ndarray:
    v = RNG.normal(size=(n, 128))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture
def gallery(tmp_path: Path) -> FaceGallery:
    return FaceGallery(open_database(tmp_path / "gridgate.db"))


def brute_force(stored: dict[str, np.ndarray], query: np.ndarray) -> list[tuple[str, float]]:
    best = {p: float(np.min(np.linalg.norm(v - query, axis=1))) for p, v in stored.items()}
    return sorted(best.items(), key=lambda kv: kv[1])


def test_search_matches_brute_force_over_persons_with_several_encodings(
        gallery: FaceGallery) -> None:
    stored = {f"p-{i:03d}": unit(int(RNG.integers(1, 4))) for i in range(300)}
    gallery.replace_many({p: v.tolist() for p, v in stored.items()})
    for query in unit(20):
        expected = brute_force(stored, query)[:3]
        got = gallery.search(query, k=3)
        assert [m.person_id for m in got] == [p for p, _ in expected]
        assert [m.distance for m in got] == pytest.approx([d for _, d in expected], abs=1e-4)
    assert gallery.person_count() == 300
    assert gallery.persons()[:2] == ["p-000", "p-001"]


def test_replace_remove_and_counts(gallery: FaceGallery) -> None:
    gallery.replace_person("p-1", unit(2).tolist())
    gallery.replace_person("p-2", unit(1).tolist())
    assert gallery.counts() == {"p-1": 2, "p-2": 1}
    gallery.replace_person("p-1", unit(3).tolist())
    assert gallery.counts()["p-1"] == 3
    assert gallery.remove_person("p-1") is True
    assert gallery.remove_person("p-1") is False
    assert gallery.persons() == ["p-2"]
    gallery.replace_person("p-2", [])  # no encodings left: the person is gone
    assert gallery.persons() == []
    assert gallery.search(unit()[0]) == []


@pytest.mark.parametrize(("encodings", "message"), [
    ([[0.1] * 127], "expected 128 numbers"),
    ([[0.1] * 129], "expected 128 numbers"),
    ([[0.1] * 127 + [float("nan")]], "NaN or infinity"),
    ([[0.1] * 127 + [float("inf")]], "NaN or infinity"),
    ([["a"] * 128], "not a list of numbers"),
    ([[[0.1] * 128]], "expected 128 numbers"),
    ("not a list", "expected a list of encodings"),
    ([[0.1] * 128] * 101, "more than the 100 allowed"),
])
def test_bad_platform_encodings_are_rejected_and_nothing_changes(
        gallery: FaceGallery, encodings: object, message: str) -> None:
    before = unit(2)
    gallery.replace_person("p-1", before.tolist())
    with pytest.raises(EncodingError, match=message) as caught:
        gallery.replace_person("p-1", [unit()[0].tolist(), *encodings]  # type: ignore[list-item]
                               if isinstance(encodings, list) else encodings)  # type: ignore[arg-type]
    assert isinstance(caught.value, ValueError)
    kept = np.array(gallery.encodings("p-1"))
    assert kept == pytest.approx(before, abs=1e-6)


def test_one_bad_person_rejects_a_whole_roster(gallery: FaceGallery) -> None:
    gallery.replace_person("p-1", unit(1).tolist())
    with pytest.raises(EncodingError, match="p-3"):
        gallery.replace_many({"p-2": unit(1).tolist(), "p-3": [[float("nan")] * 128]})
    assert gallery.persons() == ["p-1"]


@pytest.mark.parametrize("person", ["", "   ", "x" * 129, None, 7])
def test_bad_person_ids_are_rejected(gallery: FaceGallery, person: object) -> None:
    with pytest.raises(EncodingError, match="person id"):
        gallery.replace_person(person, unit(1).tolist())  # type: ignore[arg-type]


def test_bad_query_is_rejected(gallery: FaceGallery) -> None:
    gallery.replace_person("p-1", unit(1).tolist())
    with pytest.raises(EncodingError):
        gallery.search([0.0] * 12)
    with pytest.raises(EncodingError):
        gallery.search([float("nan")] * 128)


def test_a_change_through_another_connection_is_seen(tmp_path: Path) -> None:
    # The platform sync writes through its own connection; the readers' gallery must notice.
    readers = FaceGallery(open_database(tmp_path / "gridgate.db"))
    sync = FaceGallery(open_database(tmp_path / "gridgate.db"))
    face = unit(1)
    assert readers.search(face[0]) == []
    sync.replace_person("p-9", face.tolist())
    assert readers.search(face[0])[0].person_id == "p-9"
    sync.remove_person("p-9")
    assert readers.search(face[0]) == []


def test_encodings_survive_a_restart(tmp_path: Path) -> None:
    face = unit(1)
    first = FaceGallery(open_database(tmp_path / "gridgate.db"))
    first.replace_person("p-1", face.tolist())
    first.db.close()
    again = FaceGallery(open_database(tmp_path / "gridgate.db"))
    # float32 storage: a distance of zero comes back as well under 0.001
    assert again.search(face[0])[0].distance == pytest.approx(0.0, abs=1e-3)


def test_a_corrupt_stored_encoding_is_a_clear_error(gallery: FaceGallery) -> None:
    gallery.replace_person("p-1", unit(1).tolist())
    gallery.db.execute("UPDATE face_gallery SET encoding = x'00'")
    gallery.db.execute("UPDATE face_gallery_version SET version = version + 1")
    with pytest.raises(GalleryError, match="re-enrol"):
        gallery.search(unit()[0])

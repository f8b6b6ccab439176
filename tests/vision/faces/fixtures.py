"""Shared fixtures for face tests: the shared face data, the clip, enrolled portraits.

Test modules import the fixtures they use from here; tests needing the data skip with a
message naming the path when it is absent.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge.shared_data import REPO_ROOT, shared_data_dir

CLIP = "short_hamilton_clip.mp4"


@pytest.fixture(scope="session")
def faces_data() -> Path:
    """../shared/data/faces, or a skip naming the path."""
    shared = shared_data_dir()
    if shared is None or not (shared / "faces" / CLIP).is_file():
        pytest.skip(f"shared face data absent: expected {REPO_ROOT.parent / 'shared/data/faces'}")
    return shared / "faces"


@pytest.fixture(scope="session")
def encoder():  # type: ignore[no-untyped-def]
    """face_recognition's models, loaded once per test session."""
    from vision.faces.encode import FaceEncoder

    return FaceEncoder()


@pytest.fixture(scope="session")
def clip(faces_data: Path) -> list[np.ndarray]:
    """Every frame of the Hamilton clip at its native 640x360 (Lin-Manuel Miranda from frame 82,
    another, unenrolled person from frame 217)."""
    from edge.bench.faces import read_clip

    return read_clip(faces_data / CLIP, (640, 360))


@pytest.fixture(scope="session")
def portraits(faces_data: Path, encoder) -> dict[str, np.ndarray]:  # type: ignore[no-untyped-def]
    """Encodings of the clip's people (and two more) from their portraits."""
    from vision.faces.photos import load_photo, single_face

    names = {"p-lin": "lin-manuel-miranda.png", "p-alex": "alex-lacamoire.png",
             "p-obama": "obama.jpg", "p-biden": "biden.jpg"}
    return {person: single_face(load_photo(faces_data / name), encoder, name)[1]
            for person, name in names.items()}

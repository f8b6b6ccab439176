"""Accuracy on the shared photos: known faces right, strangers unknown, no false accept."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.bench.face_accuracy import Face, identification_errors, probe_faces, train_faces
from vision.faces.identify import OpenSetRule

pytest_plugins = ["tests.vision.faces.fixtures"]


@pytest.fixture(scope="module")
def shared_faces(faces_data: Path, encoder) -> tuple[list[Face], list[Face]]:
    return train_faces(faces_data, encoder), probe_faces(faces_data, encoder)


@pytest.mark.slow
@pytest.mark.parametrize("gallery_size", [10, 1000])
def test_knn_examples_and_portraits(tmp_path: Path, shared_faces: tuple[list[Face], list[Face]],
                                    gallery_size: int) -> None:
    train, probes = shared_faces
    assert len(train) == 9 and len(probes) == 19
    # The five persons judged with the distance a gallery of 10 or of 1,000 persons gets.
    rule = OpenSetRule(tolerance=OpenSetRule().tolerance_for(gallery_size), tighten_per_decade=0)
    result = identification_errors(train, probes, rule, tmp_path)
    assert result["errors"] == []
    assert result["known_correct"] == result["known"] == 17
    assert result["unknown_correct"] == result["unknown"] == 2
    assert result["false_accepts"] == 0
    # Each enrolled person removed in turn: their photos must all become unknown.
    assert result["open_set_without_each_person"] == {"probes": 17, "false_accepts": 0}

"""The in-memory encoding index: exact nearest persons, whatever stores the encodings."""

from __future__ import annotations

import numpy as np
import pytest

from vision.faces.index import ENCODING_LENGTH, EncodingIndex, Match

RNG = np.random.default_rng(11)


def test_search_finds_each_persons_closest_encoding_best_first() -> None:
    persons = ["p-2", "p-1", "p-2", "p-3", "p-1"]  # unsorted, several rows per person
    matrix = RNG.normal(size=(len(persons), ENCODING_LENGTH))
    index = EncodingIndex(persons, matrix)
    assert (index.size, index.persons) == (5, ["p-1", "p-2", "p-3"])
    query = matrix[3] + 0.01
    distances = np.linalg.norm(matrix - query, axis=1)
    best = {p: min(d for q, d in zip(persons, distances, strict=True) if q == p)
            for p in set(persons)}
    expected = sorted(best.items(), key=lambda kv: kv[1])
    got = index.search(query, k=3)
    assert [m.person_id for m in got] == [p for p, _ in expected]
    assert [m.distance for m in got] == pytest.approx([d for _, d in expected], abs=1e-4)
    assert isinstance(got[0], Match)


def test_an_empty_index_finds_no_one() -> None:
    index = EncodingIndex([], np.zeros((0, ENCODING_LENGTH), np.float32))
    assert index.size == 0 and index.search(np.zeros(ENCODING_LENGTH)) == []

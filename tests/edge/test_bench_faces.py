"""Pieces of `gridgate bench faces`: the live-camera replay, ground truth, search timing keys."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from edge.bench import faces as bench
from vision.facts import Frame

pytest_plugins = ["tests.vision.faces.fixtures"]


def test_a_busy_reader_gets_only_the_newest_frame() -> None:
    frames = [np.zeros((4, 4, 3), np.uint8) for _ in range(30)]
    seen: list[int] = []

    def slow(index: int, frame: Frame) -> None:
        seen.append(index)
        assert frame.arrived <= time.monotonic() + 1e-3  # never handed a frame from the future
        time.sleep(0.07)  # two frame intervals at 30 fps

    _, busy, _ = bench.play_live(frames, 30.0, slow)
    assert len(busy) == len(seen) <= 16  # about one frame in two
    assert all(b - a >= 2 for a, b in zip(seen, seen[1:], strict=False))


def test_ground_truth_finds_the_clips_two_appearances(clip: list[np.ndarray]) -> None:
    runs = bench.appearances(clip, 60)
    assert [(first, last) for first, last in runs] == [(82, 210), (217, 250)]


def test_search_figures_have_the_bench_keys(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench, "SEARCH_SIZES", (1_000, 10_000))
    result = bench.measure_search(tmp_path, queries=20)
    assert set(result) == {"1000", "10000"}
    assert set(result["10000"]) == {"p50_ms", "p95_ms", "load_ms"}
    assert 0 <= result["10000"]["p50_ms"] <= result["10000"]["p95_ms"]


def test_encoder_figures_compare_the_gate_with_dlib(clip: list[np.ndarray]) -> None:
    result = bench.measure_encoder(clip, repeats=3)
    assert result["engine"] == "numpy"
    assert 0 < result["gate"]["p50_ms"] <= result["gate"]["p95_ms"]
    assert result["ratio"] is not None and result["ratio"] > 1  # the point of the numpy engine

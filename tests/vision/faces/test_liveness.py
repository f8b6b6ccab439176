"""Liveness: the real clip passes; a photo held up, moved, zoomed and tilted by hand does not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.vision.faces.photo_attack import hand_held_photo
from vision.faces.detect import FaceDetector
from vision.faces.liveness import LivenessParams, LivenessWindow, judge
from vision.faces.photos import load_photo

pytest_plugins = ["tests.vision.faces.fixtures"]

FPS = 30.0


def liveness_of(frames: list[np.ndarray], encoder, fps: float = FPS) -> bool | None:
    """Follow the largest face through the frames as the reader does; the window's verdict."""
    detector = FaceDetector()
    window = LivenessWindow(LivenessParams())
    for i, frame in enumerate(frames):
        boxes = detector.detect(frame)
        if boxes:
            box = max(boxes, key=lambda b: b[2] - b[0])
            window.add(i / fps, encoder.landmarks(frame, box), box[2] - box[0])
    return window.live


@pytest.mark.slow
def test_the_real_clip_is_live(clip: list[np.ndarray], encoder) -> None:
    assert liveness_of(clip[82:140], encoder) is True


@pytest.mark.slow
def test_the_real_clip_at_15_fps_is_live(clip: list[np.ndarray], encoder) -> None:
    assert liveness_of(clip[82:160:2], encoder, fps=15.0) is True


@pytest.mark.slow
@pytest.mark.parametrize(("name", "seed", "size"), [
    ("lin-manuel-miranda.png", 0, 0.75),
    ("lin-manuel-miranda.png", 1, 0.5),
    ("alex-lacamoire.png", 2, 0.9),
    ("knn_examples/train/rose_leslie/img2.jpg", 3, 0.75),
    ("knn_examples/train/obama/obama2.jpg", 0, 0.95),
    ("clip frame", 1, 0.75),
])
def test_a_photo_held_up_by_hand_is_not_live(faces_data: Path, clip: list[np.ndarray],
                                             encoder, name: str, seed: int,
                                             size: float) -> None:
    photo = clip[100][0:300, 100:400] if name == "clip frame" else load_photo(faces_data / name)
    frames = hand_held_photo(photo, 60, seed=seed, height_frac=size)
    assert liveness_of(frames, encoder) is not True


@pytest.mark.slow
def test_a_still_photo_is_not_live(faces_data: Path, encoder) -> None:
    frames = hand_held_photo(load_photo(faces_data / "lin-manuel-miranda.png"), 60, moving=False)
    assert liveness_of(frames, encoder) is False


def test_a_blink_is_enough_and_one_eye_is_not() -> None:
    # Synthetic landmarks: a steady face whose eyes close for two samples.
    rng = np.random.default_rng(0)
    base = rng.uniform(0, 100, (68, 2))
    eye = np.array([[0, 0], [3, -3], [7, -3], [10, 0], [7, 3], [3, 3]], float)
    base[36:42] = eye + [30, 40]
    base[42:48] = eye + [60, 40]
    closed = base.copy()
    closed[[37, 38, 43, 44], 1] += 2.5
    closed[[40, 41, 46, 47], 1] -= 2.5
    one_eye = base.copy()
    one_eye[[37, 38], 1] += 2.5
    one_eye[[40, 41], 1] -= 2.5
    params = LivenessParams(min_samples=8)
    blink = judge([base] * 10 + [closed] * 2 + [base] * 10, params)
    assert blink.blink and blink.live
    wink = judge([base] * 10 + [one_eye] * 2 + [base] * 10, params)
    assert not wink.blink and not wink.live


def test_small_faces_are_not_judged() -> None:
    window = LivenessWindow(LivenessParams(min_face_px=80))
    for i in range(60):
        window.add(i / FPS, np.zeros((68, 2)), 60)
    assert window.live is None

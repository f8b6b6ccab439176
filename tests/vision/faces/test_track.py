"""Following faces across frames, and the motion gate that lets detection sleep."""

from __future__ import annotations

import numpy as np

from vision.faces.motion import MotionGate
from vision.faces.track import FaceTracker


def test_boxes_keep_their_track_while_they_move() -> None:
    tracker = FaceTracker(lost_after_s=0.5)
    first = tracker.update([(100, 200, 200, 100)], 0.0, 1)
    moved = tracker.update([(104, 230, 204, 130)], 0.033, 2)  # fast: little overlap left
    assert moved[0].track_id == first[0].track_id and moved[0].hits == 2
    two = tracker.update([(104, 232, 204, 132), (50, 500, 150, 400)], 0.066, 3)
    assert two[0].track_id == first[0].track_id and two[1].track_id != first[0].track_id


def test_a_face_unseen_for_too_long_is_gone() -> None:
    tracker = FaceTracker(lost_after_s=0.5)
    first = tracker.update([(100, 200, 200, 100)], 0.0, 1)
    tracker.update([], 0.3, 2)
    assert first[0].track_id in tracker.tracks
    again = tracker.update([(100, 200, 200, 100)], 1.0, 3)
    assert again[0].track_id != first[0].track_id
    assert list(tracker.tracks) == [again[0].track_id]


def scene(rng: np.random.Generator, person_at: int | None = None) -> np.ndarray:
    image = np.full((360, 640, 3), 110, np.uint8)
    image[200:, :] = 70
    if person_at is not None:
        image[80:300, person_at:person_at + 90] = (40, 60, 160)
    noise = rng.normal(0, 2.0, image.shape)  # sensor noise must not count as motion
    return np.clip(image + noise, 0, 255).astype(np.uint8)


def test_motion_gate_sleeps_on_a_still_noisy_scene_and_wakes_on_a_person() -> None:
    rng = np.random.default_rng(1)
    gate = MotionGate(hold_s=1.0)
    assert gate.update(scene(rng), 0.0)  # a new picture is looked at once
    still = [gate.update(scene(rng), t / 15) for t in range(20, 60)]
    assert not any(still)
    assert gate.update(scene(rng, person_at=200), 4.0)
    assert gate.update(scene(rng, person_at=200), 4.5)  # held after the motion
    for t in range(50):  # the person stands still: learnt into the background
        gate.update(scene(rng, person_at=200), 5.0 + t / 15)
    assert not gate.update(scene(rng, person_at=200), 9.0)

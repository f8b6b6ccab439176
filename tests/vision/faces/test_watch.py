"""The face path per frame on the real clip: identified with two encodings, strangers unknown,
detection asleep in a still scene, encodings in a worker process equal to those computed here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge.bench.faces import still_scene
from gate.store import open_database
from vision.faces.detect import FaceDetector
from vision.faces.encode import encode_chip
from vision.faces.gallery import FaceGallery
from vision.faces.identify import Identifier, OpenSetRule
from vision.faces.motion import MotionGate
from vision.faces.pool import EncoderPool
from vision.faces.track import FaceTracker
from vision.faces.watch import FaceWatch
from vision.facts import Frame

pytest_plugins = ["tests.vision.faces.fixtures"]

FPS = 30.0


def watch_for(gallery: FaceGallery, encoder, **options: object) -> FaceWatch:
    return FaceWatch(detector=FaceDetector(), encoder=encoder,
                     identifier=Identifier(gallery, OpenSetRule()),
                     tracker=FaceTracker(votes_needed=2, unknown_after_s=1.0),
                     motion=MotionGate(), **options)  # type: ignore[arg-type]


@pytest.fixture
def gallery(tmp_path: Path, portraits: dict[str, np.ndarray]) -> FaceGallery:
    gallery = FaceGallery(open_database(tmp_path / "gridgate.db"))
    gallery.replace_many({p: [e.tolist()] for p, e in portraits.items()})
    return gallery


@pytest.mark.slow
def test_the_clip_identifies_lin_then_calls_the_next_face_unknown(
        clip: list[np.ndarray], gallery: FaceGallery, encoder) -> None:
    watch = watch_for(gallery, encoder)
    settled: dict[int, tuple[int, str | None, int]] = {}
    for index in range(70, len(clip)):
        now = index / FPS  # arrival times as a camera would give them
        view = watch.observe(Frame(clip[index], index, now))
        for track in view.faces:
            if track.track_id not in settled and track.settled(now):
                settled[track.track_id] = (index, track.person_id(), track.encodings_started)
    (lin_at, lin, lin_encodings), (other_at, other, _) = list(settled.values())[:2]
    assert lin == "p-lin" and 82 <= lin_at <= 86 and lin_encodings == 2
    assert other is None and other_at >= 217 + FPS * 1.0  # unknown only after the grace
    # Each person is encoded a handful of times, not once per frame.
    assert watch.stats.encodings <= 2 * 6
    # While a face is followed, two frames in three are searched only near it.
    assert watch.stats.full_detections < 0.6 * watch.stats.detections


def test_a_still_scene_lets_detection_sleep(clip: list[np.ndarray], gallery: FaceGallery,
                                            encoder) -> None:
    watch = watch_for(gallery, encoder, idle_check_s=2.0)
    frames = still_scene(clip, 10.0, FPS)
    for index, image in enumerate(frames):
        assert watch.observe(Frame(image, index, index / FPS)).faces == []
        if index == 89:
            settled = watch.stats.detections  # a new picture is looked at for motion_hold_s
    # Then one look every idle_check_s: 7 s of still scene, 210 frames, about 4 detections.
    assert watch.stats.detections - settled <= 5


@pytest.mark.slow
def test_a_worker_process_computes_the_same_encoding(clip: list[np.ndarray],
                                                     encoder) -> None:
    box = FaceDetector().detect(clip[100])[0]
    chip = encoder.chip(clip[100], box)
    with EncoderPool(1) as pool:
        assert pool.wait_ready()
        future = pool.try_submit(chip)
        assert future is not None
        assert pool.try_submit(chip) is None  # one worker, already busy
        assert np.allclose(future.result(timeout=60), encode_chip(chip))

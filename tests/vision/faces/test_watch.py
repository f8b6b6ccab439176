"""The face path per frame on the real clip: identified with two encodings, strangers unknown,
detection asleep in a still scene, encodings in a worker process equal to those computed here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge.bench.faces import still_scene
from gate.faces.gallery import FaceGallery
from gate.store import open_database
from tests.vision.faces.scenes import head, scene
from vision.faces.detect import FaceDetector
from vision.faces.encode import ENGINES_AGREE, encode_chip
from vision.faces.identify import Identifier, OpenSetRule
from vision.faces.motion import MotionGate
from vision.faces.pool import EncoderPool
from vision.faces.track import FaceTracker
from vision.faces.watch import FaceView, FaceWatch
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
        # Equal within what the design promises of two computations of one encoding (the
        # encoder's engine check: ENGINES_AGREE, 1e-4 in distance), not to the last digits:
        # another BLAS thread count in the worker sums in another order, which np.allclose's
        # default (about 1e-6 for numbers near 0.1) refuses on some machines. Two people are
        # about 0.5 apart.
        difference = float(np.linalg.norm(future.result(timeout=60) - encode_chip(chip)))
        assert difference <= ENGINES_AGREE


def play(watch: FaceWatch, frames: list[np.ndarray], start: int) -> list[FaceView]:
    """Frames at 30 fps from frame number `start`; the view of each."""
    return [watch.observe(Frame(image, start + i, (start + i) / FPS))
            for i, image in enumerate(frames)]


@pytest.fixture(scope="module")
def heads(faces_data: Path) -> dict[str, np.ndarray]:
    return {"p-lin": head(faces_data, "lin-manuel-miranda.png"),
            "p-alex": head(faces_data, "alex-lacamoire.png")}


@pytest.mark.slow
def test_someone_stepping_into_a_settled_face_s_place_is_a_new_face(
        gallery: FaceGallery, encoder, heads: dict[str, np.ndarray]) -> None:
    """Alex takes Lin's exact spot with no gap: the periodic re-check finds him, restarts the
    track (new id, no liveness carried over) and identifies him."""
    watch = watch_for(gallery, encoder, recheck_s=0.5)
    lin = play(watch, [scene(heads["p-lin"], jitter=i % 3) for i in range(30)], 0)
    (track,) = lin[-1].faces
    lin_id, lin_liveness = track.track_id, track.liveness
    assert track.person_id() == "p-lin" and track.settled(29 / FPS)
    alex = play(watch, [scene(heads["p-alex"], jitter=i % 3) for i in range(24)], 30)
    (now,) = alex[-1].faces
    assert now.track_id != lin_id and now.person_id() == "p-alex"
    assert now.liveness is not lin_liveness
    # Found by the re-check due 0.5 s after Lin's last encoding, not later.
    changed = next(i for i, view in enumerate(alex) if view.faces[0].track_id != lin_id)
    assert changed <= 0.5 * FPS


@pytest.mark.slow
def test_a_face_that_jumps_is_checked_at_once(gallery: FaceGallery, encoder,
                                              heads: dict[str, np.ndarray]) -> None:
    watch = watch_for(gallery, encoder, recheck_s=5.0)
    lin = play(watch, [scene(heads["p-lin"]) for _ in range(10)], 0)
    lin_id = lin[-1].faces[0].track_id
    # Alex 55 px lower right: still overlapping Lin's box, but no face moves that far in 1/30 s.
    alex = play(watch, [scene(heads["p-alex"], at=(255, 355))], 10)
    assert alex[0].faces[0].track_id != lin_id


@pytest.mark.slow
def test_a_track_does_not_survive_an_empty_scene(gallery: FaceGallery, encoder,
                                                 heads: dict[str, np.ndarray]) -> None:
    watch = watch_for(gallery, encoder, recheck_s=5.0)
    lin = play(watch, [scene(heads["p-lin"], jitter=i % 3) for i in range(30)], 0)
    lin_id = lin[-1].faces[0].track_id
    play(watch, [scene(None) for _ in range(15)], 30)  # nobody for 0.5 s
    alex = play(watch, [scene(heads["p-alex"], jitter=i % 3) for i in range(3)], 45)
    assert [v.faces[0].track_id != lin_id for v in alex] == [True, True, True]
    assert alex[-1].faces[0].person_id() == "p-alex"

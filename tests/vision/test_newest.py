"""A reader that falls behind its camera decides on the newest frame, never a queue of old ones
(vision/newest.py), and every frame says when it was captured (vision/sources.py)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from vision.errors import CameraError
from vision.facts import Frame
from vision.newest import NewestFrame
from vision.sources import FrameSource, device_stamp, open_source


def write_clip(path: Path, frames: int) -> Path:
    """A small MJPEG video of `frames` frames."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (160, 120))
    for i in range(frames):
        writer.write(np.full((120, 160, 3), 10 * (i % 25), np.uint8))
    writer.release()
    return path


def test_a_slow_reader_gets_the_newest_frame_and_the_rest_are_counted(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "clip.avi", frames=30)
    with open_source(str(clip), fps=100, realtime=True) as source, NewestFrame(source) as frames:
        taken: list[Frame] = []
        ages = []
        for frame in frames:
            taken.append(frame)
            ages.append(time.monotonic() - frame.captured_at)
            time.sleep(0.1)  # a reader ten times slower than its camera
    # Queued, the last frame would be taken about 2.7 s after it was captured.
    assert max(ages) < 0.25, ages
    seqs = [f.seq for f in taken]
    assert seqs == sorted(seqs) and seqs[-1] == 30  # the last frame is never lost
    assert len(taken) < 20 and frames.dropped == 30 - len(taken)


def test_every_frame_is_taken_by_a_reader_that_keeps_up(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "clip.avi", frames=8)
    with open_source(str(clip), fps=40, realtime=True) as source, NewestFrame(source) as frames:
        assert [f.seq for f in frames] == list(range(1, 9))
    assert frames.dropped == 0


class _Failing(FrameSource):
    def __init__(self) -> None:
        super().__init__(fps=50, realtime=True, clock=time.monotonic)

    def _grab(self) -> None:
        raise CameraError("camera 'x': unplugged")


def test_a_camera_error_reaches_the_reader() -> None:
    with NewestFrame(_Failing()) as frames, pytest.raises(CameraError, match="unplugged"):
        list(frames)


def test_a_waiting_reader_stops_when_asked(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "clip.avi", frames=200)
    stop = threading.Event()
    with open_source(str(clip), fps=5, loop=True, realtime=True) as source, \
            NewestFrame(source, stop=stop) as frames:
        assert frames.take() is not None
        threading.Timer(0.05, stop.set).start()
        started = time.monotonic()
        while frames.take() is not None:
            pass
        assert time.monotonic() - started < 1.0


def test_a_file_played_in_real_time_is_captured_on_its_schedule(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "clip.avi", frames=6)
    with open_source(str(clip), fps=20, realtime=True) as source:
        frames = list(source)
    captured = [f.captured_at for f in frames]
    gaps = [b - a for a, b in zip(captured, captured[1:], strict=False)]
    assert all(abs(g - 0.05) < 1e-9 for g in gaps), gaps  # the schedule, not when decoded
    assert all(f.captured is not None and f.arrived >= f.captured for f in frames)


def test_a_device_faster_than_the_reader_is_thinned_not_slept_on(tmp_path: Path) -> None:
    # A stream that delivers as fast as it is read stands in for a camera faster than the fps.
    clip = write_clip(tmp_path / "clip.avi", frames=40)
    url = str(clip)
    with open_source(url, fps=50, loop=True, realtime=True) as source:
        source.paced_by_device = True
        frames = [source.read() for _ in range(4)]
    captured = [f.captured_at for f in frames if f is not None]
    assert [f.seq for f in frames if f is not None] == [1, 2, 3, 4]
    gaps = [b - a for a, b in zip(captured, captured[1:], strict=False)]
    assert all(g >= 0.75 / 50 for g in gaps), gaps


def test_a_device_stamp_is_believed_only_when_plausible() -> None:
    assert device_stamp(99_990.0, now=100.0) == pytest.approx(99.99)
    assert device_stamp(0.0, now=100.0) == 100.0  # no stamp
    assert device_stamp(1.7e12, now=100.0) == 100.0  # another clock (wall time)
    assert device_stamp(101_000.0, now=100.0) == 100.0  # in the future

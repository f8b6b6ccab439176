"""Camera sources behind one interface: a device, a video file, a stream URL, a folder of images.

Live sources (devices, streams) reconnect with jittered exponential backoff when they fail:
an unplugged USB camera or a dropped RTSP stream comes back by itself. Files end, or loop.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import cv2
import numpy as np

from vision.errors import CameraError, ImageError
from vision.facts import Frame
from vision.images import load_image, to_bgr8

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
MonotonicClock = Callable[[], float]


@dataclass(frozen=True)
class Backoff:
    """Waits between reconnection attempts: first, doubling up to most, with +-jitter."""

    first_s: float = 0.5
    most_s: float = 30.0
    jitter: float = 0.2
    max_attempts: int | None = None  # None: keep trying (a gate must recover unattended)

    def delay(self, attempt: int) -> float:
        base = min(self.most_s, self.first_s * 2.0 ** attempt)
        return base * random.uniform(1 - self.jitter, 1 + self.jitter)


class FrameSource:
    """Iterable of frames; a context manager that releases the camera on exit.

    Every frame is stamped with when it was captured, before any pacing or decoding, so the
    time a resident waits is measured from the picture and not from when code first saw it.
    A file played in real time is captured when its frame is due; a live device paces itself,
    and frames that come sooner than the reader's fps are skipped rather than slept on.
    """

    paced_by_device = False  # a live camera delivers at its own rate

    def __init__(self, *, fps: float, realtime: bool, clock: MonotonicClock) -> None:
        self.fps = fps
        self.realtime = realtime
        self.clock = clock
        self._seq = 0
        self._next_due: float | None = None

    def read(self) -> Frame | None:
        """The next frame, stamped with its capture time, or None when the source has ended."""
        while True:
            due = self._wait_turn() if self.realtime and not self.paced_by_device else None
            image = self._grab()
            if image is None:
                return None
            captured = due if due is not None else self._capture_time()
            if self.realtime and self.paced_by_device and not self._take(captured):
                continue
            self._seq += 1
            return Frame(image=image, seq=self._seq, arrived=self.clock(), captured=captured)

    def _wait_turn(self) -> float:
        """Sleep until the next frame is due; when it is due (its capture time)."""
        interval = 1.0 / self.fps
        now = self.clock()
        due = self._next_due
        if due is None or due < now - interval:  # more than a frame behind: start again now
            due = now
        if due > now:
            time.sleep(due - now)
        self._next_due = due + interval
        return due

    def _take(self, captured: float) -> bool:
        """Whether a device's frame is kept: frames sooner than the reader's fps are skipped
        (a quarter interval of slack, so a device at exactly the fps loses none to jitter)."""
        interval = 1.0 / self.fps
        if self._next_due is not None and captured < self._next_due - interval / 4:
            return False
        self._next_due = captured + interval
        return True

    def _capture_time(self) -> float:
        """When the frame just grabbed was captured; sources that know better say so."""
        return self.clock()

    def _grab(self) -> np.ndarray | None:
        raise NotImplementedError

    def __iter__(self) -> Iterator[Frame]:
        while (frame := self.read()) is not None:
            yield frame

    def close(self) -> None:
        """Release the device or file."""

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()


class CaptureSource(FrameSource):
    """OpenCV VideoCapture: a device index, a video file, or an rtsp:// / http:// URL."""

    def __init__(self, spec: str, *, width: int, height: int, fps: float, loop: bool,
                 realtime: bool, clock: MonotonicClock, backoff: Backoff) -> None:
        super().__init__(fps=fps, realtime=realtime, clock=clock)
        self.spec = spec
        self.live = spec.isdigit() or "://" in spec
        self.paced_by_device = self.live
        self.width, self.height = width, height
        self.loop = loop and not self.live
        self.backoff = backoff
        if not self.live and not Path(spec).is_file():
            raise CameraError(f"camera source {spec!r}: no such video file")
        self._capture: cv2.VideoCapture | None = None
        self._connect(first=True)

    def _open(self) -> cv2.VideoCapture | None:
        target: int | str = int(self.spec) if self.spec.isdigit() else self.spec
        capture = cv2.VideoCapture(target)
        if not capture.isOpened():
            capture.release()
            return None
        if self.live:
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
            capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # decide on the newest frame, not a stale one
            capture.set(cv2.CAP_PROP_FPS, self.fps)
        return capture

    def _connect(self, first: bool = False) -> None:
        attempt = 0
        while True:
            self._capture = self._open()
            if self._capture is not None:
                if not first:
                    log.warning("camera %s: reconnected after %d attempts", self.spec, attempt)
                return
            if not self.live:
                raise CameraError(f"camera source {self.spec!r}: cannot open the video file "
                                  "(corrupt or an unsupported codec)")
            attempt += 1
            if self.backoff.max_attempts is not None and attempt >= self.backoff.max_attempts:
                raise CameraError(f"camera {self.spec!r}: cannot open after {attempt} attempts; "
                                  "check the cable, the device index and the 'video' group")
            delay = self.backoff.delay(attempt - 1)
            log.warning("camera %s: not available (attempt %d); retrying in %.1f s",
                        self.spec, attempt, delay)
            time.sleep(delay)

    def _grab(self) -> np.ndarray | None:
        while True:
            ok, image = self._capture.read() if self._capture is not None else (False, None)
            if ok and image is not None and image.size:
                return to_bgr8(image)
            if self.live:
                log.warning("camera %s: stopped delivering frames; reconnecting", self.spec)
                self.close()
                self._connect()
                continue
            if not self.loop:
                return None
            if not Path(self.spec).is_file():
                raise CameraError(f"camera source {self.spec!r}: the video file disappeared")
            self.close()
            self._connect()

    def _capture_time(self) -> float:
        now = self.clock()
        if not self.spec.isdigit() or self._capture is None or self.clock is not time.monotonic:
            return now
        # V4L2 stamps each buffer on the monotonic clock when the driver filled it: nearer the
        # exposure than our own clock after the read, by the USB readout and any queueing.
        return device_stamp(self._capture.get(cv2.CAP_PROP_POS_MSEC), now)

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None


def device_stamp(position_ms: float, now: float) -> float:
    """The device's buffer time when it is a plausible monotonic capture time (within the last
    second), else `now`: drivers that stamp on another clock, or not at all, are not believed."""
    stamp = position_ms / 1000.0
    return stamp if now - 1.0 <= stamp <= now else now


class FolderSource(FrameSource):
    """A folder of still images, in name order; unreadable files are skipped with a log line."""

    def __init__(self, folder: Path, *, fps: float, loop: bool, realtime: bool,
                 clock: MonotonicClock) -> None:
        super().__init__(fps=fps, realtime=realtime, clock=clock)
        self.folder = folder
        self.loop = loop
        self.files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.files:
            raise CameraError(f"camera source {str(folder)!r}: the folder has no images")
        self._index = 0

    def _grab(self) -> np.ndarray | None:
        failures = 0
        while failures < len(self.files):
            if self._index >= len(self.files):
                if not self.loop:
                    return None
                self._index = 0
            path = self.files[self._index]
            self._index += 1
            try:
                return load_image(path)
            except ImageError as exc:
                failures += 1
                log.warning("skipping %s", exc)
        raise CameraError(f"camera source {str(self.folder)!r}: no readable image in the folder")


def open_source(spec: str, *, width: int = 640, height: int = 480, fps: float = 15.0,
                loop: bool = False, realtime: bool = True,
                clock: MonotonicClock = time.monotonic,
                backoff: Backoff | None = None) -> FrameSource:
    """Open a camera source by its spec: a device index, a video file, a URL, or a folder."""
    backoff = backoff or Backoff()
    if not spec.isdigit() and "://" not in spec and Path(spec).is_dir():
        return FolderSource(Path(spec), fps=fps, loop=loop, realtime=realtime, clock=clock)
    return CaptureSource(spec, width=width, height=height, fps=fps, loop=loop,
                         realtime=realtime, clock=clock, backoff=backoff)

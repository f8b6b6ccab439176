"""Camera family: each reader's camera opens and delivers frames at the configured size and rate."""

from __future__ import annotations

import glob
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from edge.doctor.context import DoctorContext
from edge.doctor.findings import Finding, fail, ok, warn
from edge.errors import EXPECTED_ERRORS
from edge.settings.core import ReaderSettings
from vision.sources import Backoff, open_source

SLOW_RATE = 0.8  # a live camera below this share of the configured fps gets a warning


@dataclass
class Sampling:
    """What reading a camera for a while gave."""

    frames: int = 0
    size: tuple[int, int] | None = None  # width, height of the first frame
    first_frame_s: float | None = None
    fps: float | None = None
    error: Exception | None = None
    finished: bool = False


def is_live(camera: str) -> bool:
    """Devices and streams are live; files and folders are not."""
    return camera.isdigit() or "://" in camera or camera.startswith("/dev/")


def sample_camera(reader: ReaderSettings, seconds: float) -> Sampling:
    """Read frames for `seconds` in a thread: a hung driver must not hang the doctor."""
    sampling = Sampling()

    def read() -> None:
        started = time.monotonic()
        stamps: list[float] = []
        try:
            with open_source(reader.camera, width=reader.width, height=reader.height,
                             fps=reader.fps, loop=False, realtime=True,
                             backoff=Backoff(max_attempts=1)) as source:
                for frame in source:
                    stamps.append(frame.arrived)
                    if sampling.size is None:
                        sampling.size = (frame.image.shape[1], frame.image.shape[0])
                        sampling.first_frame_s = frame.arrived - started
                    sampling.frames += 1
                    if frame.arrived - started >= seconds:
                        break
        except Exception as exc:  # cv2 and file errors of every kind end up here
            sampling.error = exc
        if len(stamps) > 2 and stamps[-1] > stamps[0]:
            sampling.fps = (len(stamps) - 1) / (stamps[-1] - stamps[0])
        sampling.finished = True

    thread = threading.Thread(target=read, name=f"doctor-camera-{reader.reader_id}", daemon=True)
    thread.start()
    thread.join(seconds + 10.0)
    return sampling


def _open_fix(reader: ReaderSettings, key: str) -> str:
    camera = reader.camera
    if "://" in camera:
        return (f"check the address, user and password in {key} and that the camera answers "
                "on the network (try the URL in VLC)")
    if camera.isdigit() or camera.startswith("/dev/"):
        devices = ", ".join(sorted(glob.glob("/dev/video*"))) or "none"
        return (f"check the camera's cable; this machine has video devices: {devices}; {key} "
                "is the N of /dev/videoN; the service user must be in group video "
                "(install.sh adds gridgate)")
    return f"correct {key}: a video file, a folder of images, a device index or a URL"


def check_reader(index: int, reader: ReaderSettings, seconds: float) -> Iterator[Finding]:
    """One reader's camera."""
    name, key = f"camera.{reader.reader_id}", f"readers[{index}].camera"
    sampling = sample_camera(reader, seconds)
    if sampling.error is not None and sampling.frames == 0:
        reason = str(sampling.error) if isinstance(sampling.error, EXPECTED_ERRORS) else \
            f"{type(sampling.error).__name__}: {sampling.error}"
        yield fail(name, f"reader {reader.reader_id}: camera {reader.camera!r} cannot be "
                   f"opened: {reason}", _open_fix(reader, key))
        return
    if sampling.frames == 0:
        stuck = "" if sampling.finished else " (the driver is stuck)"
        yield fail(name, f"reader {reader.reader_id}: camera {reader.camera!r} opened but "
                   f"delivered no frame in {seconds:g} s{stuck}",
                   "unplug and replug the camera; if another program uses it (the gate "
                   "service?), stop it: sudo systemctl stop gridgate")
        return
    width, height = sampling.size or (0, 0)
    rate = f"{sampling.fps:.1f} fps" if sampling.fps else f"{sampling.frames} frame(s)"
    if (width, height) != (reader.width, reader.height):
        yield warn(name, f"reader {reader.reader_id}: camera delivers {width}x{height}, the "
                   f"config asks {reader.width}x{reader.height}",
                   f"set readers[{index}].width = {width} and height = {height}, or a mode the "
                   "camera supports (v4l2-ctl --list-formats-ext)")
    elif (is_live(reader.camera) and sampling.fps is not None
          and sampling.fps < SLOW_RATE * reader.fps):
        yield warn(name, f"reader {reader.reader_id}: camera delivers {rate}, the config asks "
                   f"{reader.fps:g}",
                   f"lower readers[{index}].fps, add light (cameras slow down in the dark) or "
                   "lower the resolution")
    else:
        yield ok(name, f"reader {reader.reader_id}: camera {reader.camera!r} delivers "
                 f"{width}x{height} at {rate}, first frame after "
                 f"{(sampling.first_frame_s or 0):.2f} s")


def check(context: DoctorContext) -> Iterator[Finding]:
    """Every reader's camera."""
    if context.settings is None:
        return
    for index, reader in enumerate(context.settings.readers):
        context.say(f"reading camera {reader.camera} of reader {reader.reader_id} for "
                    f"{context.camera_seconds:g} s")
        yield from check_reader(index, reader, context.camera_seconds)



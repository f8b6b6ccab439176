"""Camera sources: video files, folders, network cameras that drop and come back."""

from __future__ import annotations

import functools
import http.server
import socketserver
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from vision.errors import CameraError
from vision.sources import Backoff, FolderSource, open_source

FAST = Backoff(first_s=0.02, most_s=0.1, jitter=0.0)


def write_clip(path: Path, frames: int = 6, size: tuple[int, int] = (160, 120)) -> Path:
    """A small MJPEG video whose frame i is uniformly 20*i bright."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, size)
    for i in range(frames):
        writer.write(np.full((size[1], size[0], 3), 20 * i, np.uint8))
    writer.release()
    return path


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


class CameraServer:
    """Serves a folder over HTTP on a fixed port, as an IP camera would; can go away and return."""

    def __init__(self, folder: Path) -> None:
        self.handler = functools.partial(_Quiet, directory=str(folder))
        with socketserver.TCPServer(("127.0.0.1", 0), self.handler) as probe:
            self.port = probe.server_address[1]
        self.server: socketserver.ThreadingTCPServer | None = None

    def up(self) -> None:
        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", self.port), self.handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def down(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


@pytest.fixture
def camera_server(tmp_path: Path) -> Iterator[CameraServer]:
    write_clip(tmp_path / "live.avi")
    server = CameraServer(tmp_path)
    yield server
    server.down()


def brightness(frame: object) -> int:
    return int(round(float(frame.image.mean()) / 20))  # type: ignore[attr-defined]


def test_video_file_plays_once_or_loops(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "clip.avi")
    with open_source(str(clip), realtime=False) as source:
        frames = list(source)
    assert [brightness(f) for f in frames] == [0, 1, 2, 3, 4, 5]
    assert [f.seq for f in frames] == [1, 2, 3, 4, 5, 6]
    assert all(f.image.shape == (120, 160, 3) and f.image.dtype == np.uint8 for f in frames)
    with open_source(str(clip), loop=True, realtime=False) as source:
        looped = [brightness(source.read()) for _ in range(14)]  # type: ignore[arg-type]
    assert looped == [0, 1, 2, 3, 4, 5] * 2 + [0, 1]


def test_realtime_source_is_paced_to_its_fps(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "clip.avi")
    with open_source(str(clip), fps=20, realtime=True) as source:
        arrivals = [f.arrived for f in source]
    # Six frames at 20 fps span five intervals of 50 ms.
    assert arrivals[-1] - arrivals[0] >= 0.24


def test_missing_and_corrupt_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(CameraError, match="no such video file"):
        open_source(str(tmp_path / "absent.mp4"))
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64)
    with pytest.raises(CameraError, match="cannot open"):
        open_source(str(broken))


def test_folder_source_skips_unreadable_images(tmp_path: Path) -> None:
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.full((40, 50, 3), 20 * i, np.uint8))
    (tmp_path / "1b.jpg").write_bytes(b"not a jpeg")
    (tmp_path / "notes.txt").write_text("ignored")
    source = open_source(str(tmp_path), realtime=False)
    assert isinstance(source, FolderSource)
    assert [brightness(f) for f in source] == [0, 1, 2]
    with open_source(str(tmp_path), loop=True, realtime=False) as looping:
        assert [brightness(looping.read()) for _ in range(5)] == [0, 1, 2, 0, 1]  # type: ignore


def test_empty_or_all_broken_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(CameraError, match="no images"):
        open_source(str(tmp_path))
    (tmp_path / "a.png").write_bytes(b"junk")
    with pytest.raises(CameraError, match="no readable image"):
        open_source(str(tmp_path), realtime=False).read()


def test_unplugged_network_camera_gives_up_with_a_fix(camera_server: CameraServer) -> None:
    url = f"http://127.0.0.1:{camera_server.port}/live.avi"
    backoff = Backoff(first_s=0.01, most_s=0.02, jitter=0.0, max_attempts=3)
    with pytest.raises(CameraError, match="after 3 attempts; check the cable"):
        open_source(url, backoff=backoff)


def test_network_camera_is_awaited_then_reconnected(camera_server: CameraServer) -> None:
    url = f"http://127.0.0.1:{camera_server.port}/live.avi"
    threading.Timer(0.3, camera_server.up).start()
    started = time.monotonic()
    source = open_source(url, realtime=False, backoff=FAST)
    assert time.monotonic() - started >= 0.25  # it waited for the camera instead of failing
    with source:
        # The stream ends after six frames, as a dropped camera would: the source reconnects
        # and keeps delivering, it never ends by itself.
        seen = [brightness(source.read()) for _ in range(15)]  # type: ignore[arg-type]
    assert seen[:6] == [0, 1, 2, 3, 4, 5] and seen[6:12] == [0, 1, 2, 3, 4, 5]


def test_network_camera_outage_mid_stream(camera_server: CameraServer) -> None:
    url = f"http://127.0.0.1:{camera_server.port}/live.avi"
    camera_server.up()
    with open_source(url, realtime=False, backoff=FAST) as source:
        assert [brightness(source.read()) for _ in range(6)] == [0, 1, 2, 3, 4, 5]  # type: ignore
        camera_server.down()
        threading.Timer(0.3, camera_server.up).start()
        frame = source.read()  # blocks through the outage, then resumes
    assert frame is not None and brightness(frame) == 0

"""sd_notify against a socket the test listens on: ready on frames, pings only while they flow."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from edge.app import GateApp
from edge.notify import FrameWatchdog, Notifier
from edge.settings import load_settings
from tests.edge.installer.notify_listener import NotifyListener
from tests.edge.installer.support import (
    gate_config,
    short_socket_dir,
    write_config,
    write_images,
)
from vision.sources import open_source


@pytest.fixture
def listener() -> Iterator[NotifyListener]:
    with short_socket_dir() as directory:
        lst = NotifyListener(directory / "notify.sock")
        try:
            yield lst
        finally:
            lst.close()


def test_messages_follow_the_protocol(listener: NotifyListener) -> None:
    notifier = Notifier.from_env({"NOTIFY_SOCKET": str(listener.path), "WATCHDOG_USEC": "2000000",
                                  "WATCHDOG_PID": str(os.getpid())})
    assert notifier.watchdog_seconds == 2.0
    assert notifier.ready("up") and notifier.watchdog() and notifier.stopping()
    listener.wait_for("STOPPING")
    assert [fields for _, fields in listener.messages] == [
        {"READY": "1", "STATUS": "up"}, {"WATCHDOG": "1"}, {"STOPPING": "1"}]


def test_watchdog_of_another_process_and_no_socket_are_ignored() -> None:
    other = Notifier.from_env({"NOTIFY_SOCKET": "/nonexistent", "WATCHDOG_USEC": "1000",
                               "WATCHDOG_PID": "1"})
    assert other.watchdog_seconds is None
    assert not Notifier.from_env({}).ready()
    # A socket nobody listens on is logged, never raised: supervision must not stop the gate.
    assert not Notifier("/nonexistent/sock").watchdog()


def test_abstract_socket_names_work() -> None:
    import socket

    name = f"gridgate-test-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(b"\0" + name.encode())
    sock.settimeout(2)
    try:
        assert Notifier(f"@{name}").ready()
        assert sock.recv(100) == b"READY=1"
    finally:
        sock.close()


class StallingCamera:
    """Real frames from a folder for a while, then a read that never returns (a hung camera)."""

    def __init__(self, folder: Path, flowing_seconds: float) -> None:
        self.folder = folder
        self.flowing_seconds = flowing_seconds
        self.unblock = threading.Event()

    def __iter__(self) -> Iterator:
        started = time.monotonic()
        with open_source(str(self.folder), fps=20, loop=True, realtime=True) as source:
            for frame in source:
                if time.monotonic() - started > self.flowing_seconds:
                    self.unblock.wait()
                    return
                yield frame


def test_watchdog_pings_stop_when_frames_stop(tmp_path: Path, listener: NotifyListener,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", str(listener.path))
    monkeypatch.setenv("WATCHDOG_USEC", "400000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    settings = load_settings(write_config(tmp_path, gate_config(tmp_path)))
    camera = StallingCamera(write_images(tmp_path / "frames"), flowing_seconds=1.0)
    factory = MockFactory()
    with GateApp(settings, pin_factory=factory) as app:
        pipeline = app.pipelines["in-cam"]
        watchdog = FrameWatchdog(Notifier.from_env(), app.pipelines, stall_seconds=0.3).start()
        assert watchdog.tick_seconds == pytest.approx(0.1)
        stop = threading.Event()
        reader = threading.Thread(target=pipeline.run, args=(camera, stop), daemon=True)
        started = time.monotonic()
        reader.start()
        try:
            ready = listener.wait_for("READY", timeout=5)
            time.sleep(2.0)
            pings = listener.times_of("WATCHDOG")
            last_frame = pipeline.stats.last_frame_at
        finally:
            watchdog.stop()
            stop.set()
            camera.unblock.set()
            reader.join(5)
        factory.reset()
    assert ready - started < 1.0, "READY=1 comes with the first frames"
    assert last_frame is not None and last_frame - started == pytest.approx(1.0, abs=0.2)
    while_flowing = [t for t in pings if t <= last_frame]
    assert len(while_flowing) >= 6, "pings every tick (0.1 s) while frames flow"
    after = [t for t in pings if t > last_frame + 0.3 + 0.15]
    assert after == [], "no WATCHDOG=1 once the frames have stopped for the stall limit"
    assert any("stalled" in s for s in listener.statuses())


def test_gridgate_run_notifies_ready_pings_and_stops_pinging_when_the_camera_hangs(
        tmp_path: Path, listener: NotifyListener) -> None:
    frames = write_images(tmp_path / "frames", count=20)
    # The last "image" is a FIFO: reading it blocks forever, like a camera driver that hangs.
    os.mkfifo(frames / "frame-999.jpg")
    config = gate_config(tmp_path, camera=str(frames))
    config["readers"][0]["fps"] = 20.0
    path = write_config(tmp_path, config)
    env = {**os.environ, "NOTIFY_SOCKET": str(listener.path), "WATCHDOG_USEC": "1000000"}
    env.pop("WATCHDOG_PID", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "edge.cli.main", "run", "--mock-gpio", "--config", str(path),
         "--stall-seconds", "0.5"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        ready = listener.wait_for("READY", timeout=20)
        # 20 frames at 20 fps flow for about a second, then the reader hangs on the FIFO.
        time.sleep(3.0)
        pings = listener.times_of("WATCHDOG")
        assert len([t for t in pings if t >= ready]) >= 2
        assert pings[-1] - ready < 2.0, f"pings went on after the camera hung: {pings}"
        assert any("stalled" in s for s in listener.statuses())
        assert process.poll() is None, "the process lives on; systemd's watchdog ends it"
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) == 0, process.stderr.read().decode() if process.stderr else ""
        listener.wait_for("STOPPING", timeout=2)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)

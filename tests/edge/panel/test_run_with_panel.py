"""`gridgate run` serves the panel from the same process when panel.enabled is set."""

from __future__ import annotations

import os
import queue
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

import cv2
import httpx
import numpy as np
import pytest
import tomli_w

from tests.edge.panel.conftest import ADMIN_PASSWORD, CSRF_META, gate_config
from tests.fixtures.broker import free_port

ROOT = Path(__file__).resolve().parents[3]


def camera_folder(root: Path) -> Path:
    """A few plain camera images, replayed in a loop."""
    folder = root / "camera"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"{i:03d}.png"), np.full((240, 320, 3), 40 * (i + 1), np.uint8))
    return folder


class Stderr:
    """A child's standard error, read line by line on a thread: a wait keeps its deadline even
    when the child goes quiet, and the pipe never fills up and stalls the child."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        assert process.stderr is not None
        self.process = process
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self.thread = threading.Thread(target=self._read, args=(process.stderr,), daemon=True)
        self.thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.put(line)
        self.lines.put(None)  # the child closed it (usually: it exited)

    def wait_for(self, text: str, timeout: float = 20) -> str:
        """The first line containing `text`; AssertionError after `timeout` s or at its end."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                self.lines.put(None)  # later waits see the end too
                break
            self.seen.append(line)
            if text in line:
                return line
        raise AssertionError(f"the process never said {text!r} within {timeout} s "
                             f"(exit {self.process.poll()}); last lines: {self.seen[-5:]}")


def test_a_wait_for_a_line_keeps_its_deadline_when_the_child_is_silent() -> None:
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(8)"],
                               stderr=subprocess.PIPE, text=True)
    try:
        started = time.monotonic()
        with pytest.raises(AssertionError, match="never said 'hello' within 0.5 s"):
            Stderr(process).wait_for("hello", timeout=0.5)
        assert time.monotonic() - started < 2.0
    finally:
        process.kill()
        process.wait()


def test_run_serves_the_panel_and_prints_a_setup_token(tmp_path: Path) -> None:
    config = gate_config(tmp_path)
    port = free_port()
    folder = camera_folder(tmp_path)
    for reader in config["readers"]:
        reader.update(camera=str(folder), loop=True, fps=10)
    config["panel"] = {"enabled": True, "port": port}
    path = tmp_path / "gridgate.toml"
    path.write_text(tomli_w.dumps(config))
    process = subprocess.Popen(
        [sys.executable, "-m", "edge.cli.main", "run", "--mock-gpio", "-c", str(path)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        line = Stderr(process).wait_for("setup token")
        assert f"http://127.0.0.1:{port}/setup" in line
        token_file = tmp_path / "state" / "panel" / "setup-token"
        assert str(token_file) in line and stat.S_IMODE(token_file.stat().st_mode) == 0o600
        token = token_file.read_text().strip()
        assert token not in line  # the journal never holds the token
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            assert client.get("/login").headers["location"] == "/setup"
            csrf = CSRF_META.search(client.get("/setup").text).group(1)  # type: ignore[union-attr]
            created = client.post("/setup", data={"token": token, "name": "root",
                                                  "password": ADMIN_PASSWORD,
                                                  "password2": ADMIN_PASSWORD,
                                                  "csrf_token": csrf})
            assert created.status_code == 303
            assert not token_file.exists()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                readers = client.get("/api/health").json()["readers"]
                if all(r["camera_ok"] and r["frames"] > 3 for r in readers):
                    break
                time.sleep(0.1)
            assert all(r["camera_ok"] and r["fps"] > 2 for r in readers), readers
            assert client.get("/api/readers/in-cam/frame.jpg").headers[
                "content-type"] == "image/jpeg"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        with httpx.Client() as client:  # the panel went with the gate
            try:
                client.get(f"http://127.0.0.1:{port}/login", timeout=1)
                still_serving = True
            except httpx.TransportError:
                still_serving = False
        assert not still_serving
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_the_gate_runs_on_when_the_panel_cannot_listen(tmp_path: Path) -> None:
    config = gate_config(tmp_path)
    folder = camera_folder(tmp_path)
    for reader in config["readers"]:
        reader.update(camera=str(folder), loop=True, fps=10)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        config["panel"] = {"enabled": True, "port": busy.getsockname()[1]}
        path = tmp_path / "gridgate.toml"
        path.write_text(tomli_w.dumps(config))
        process = subprocess.Popen(
            [sys.executable, "-m", "edge.cli.main", "run", "--mock-gpio", "--json", "-c",
             str(path)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            line = Stderr(process).wait_for("panel is not served")
            assert "cannot listen" in line and "panel.port" in line
            time.sleep(1.0)
            assert process.poll() is None, "the gate keeps running without its panel"
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=10) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()

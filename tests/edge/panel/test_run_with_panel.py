"""`gridgate run` serves the panel from the same process when panel.enabled is set."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import cv2
import httpx
import numpy as np
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


def wait_for_line(process: subprocess.Popen[str], text: str, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    assert process.stderr is not None
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if text in line:
            return line
        if not line and process.poll() is not None:
            break
    raise AssertionError(f"gridgate run never said {text!r} (exit {process.poll()})")


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
        line = wait_for_line(process, "setup token")
        assert f"http://127.0.0.1:{port}/setup" in line
        token = line.split("setup token ")[1].split()[0]
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            assert client.get("/login").headers["location"] == "/setup"
            csrf = CSRF_META.search(client.get("/setup").text).group(1)  # type: ignore[union-attr]
            created = client.post("/setup", data={"token": token, "name": "root",
                                                  "password": ADMIN_PASSWORD,
                                                  "password2": ADMIN_PASSWORD,
                                                  "csrf_token": csrf})
            assert created.status_code == 303
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
            line = wait_for_line(process, "panel is not served")
            assert "cannot listen" in line and "panel.port" in line
            time.sleep(1.0)
            assert process.poll() is None, "the gate keeps running without its panel"
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=10) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()

"""A small real gate setup for installer tests: keys, a trust list, a video camera, a config."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import tomli_w

from gate.passes import write_key_pair

WIDTH, HEIGHT, FPS = 320, 240, 15.0


def write_video(path: Path, frames: int = 30, width: int = WIDTH, height: int = HEIGHT,
                fps: float = FPS) -> Path:
    """A short mp4 of moving noise, a stand-in camera that OpenCV really decodes."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    rng = np.random.default_rng(7)
    for i in range(frames):
        image = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
        cv2.putText(image, str(i), (20, 60), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (0, 0, 0), 3)
        writer.write(image)
    writer.release()
    return path


def write_images(folder: Path, count: int = 5, width: int = WIDTH, height: int = HEIGHT) -> Path:
    """A folder of JPEG frames (a camera made of still images)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    for i in range(count):
        image = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
        cv2.imwrite(str(folder / f"frame-{i:03d}.jpg"), image)
    return folder


def gate_config(root: Path, *, camera: str | None = None, **sections: dict[str, Any]) -> dict:
    """A valid configuration dictionary for a one-reader gate under `root`."""
    keys = root / "keys"
    if not (keys / "signing.pub").exists():
        write_key_pair(keys)
    if camera is None:
        video = root / "camera.mp4"
        if not video.exists():
            write_video(video)
        camera = str(video)
    config: dict[str, Any] = {
        "gate": {"gate_id": "gate-east", "compound_id": "wenjiang-01"},
        "readers": [{"reader_id": "in-cam", "direction": "in", "camera": camera, "loop": True,
                     "width": WIDTH, "height": HEIGHT, "fps": FPS, "relay_pin": 17}],
        "door": {"open_seconds": 0.2},
        "storage": {"state_dir": str(root / "state")},
        "passes": {"trust_list": str(keys / "signing.pub")},
    }
    for name, values in sections.items():
        config[name] = {**config.get(name, {}), **values}
    return config


def write_config(root: Path, config: dict, name: str = "gridgate.toml") -> Path:
    """Write a configuration dictionary as TOML."""
    path = root / name
    path.write_text(tomli_w.dumps(config))
    return path


@contextmanager
def short_socket_dir() -> Iterator[Path]:
    """A directory with a short path: unix socket paths are limited to 107 bytes."""
    directory = Path(tempfile.mkdtemp(prefix="gg-", dir="/tmp"))
    try:
        yield directory
    finally:
        for child in directory.iterdir():
            child.unlink()
        os.rmdir(directory)

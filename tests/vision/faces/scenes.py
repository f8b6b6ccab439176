"""Synthetic gate scenes from the shared portraits: one head at a fixed spot of a grey frame,
optionally with a pass card held up beside it (someone stepping into another's place)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from vision.faces.detect import FaceDetector, to_gray
from vision.faces.photos import load_photo

HEAD_PX = 300


def head(faces_data: Path, name: str, size: int = HEAD_PX) -> np.ndarray:
    """The portrait's face and some margin, scaled to `size` pixels square."""
    image = load_photo(faces_data / name)
    top, right, bottom, left = FaceDetector(detect_width=image.shape[1]).detect(
        to_gray(image))[0]
    cy, cx, m = (top + bottom) // 2, (left + right) // 2, int((bottom - top) * 0.9)
    crop = image[max(0, cy - m):cy + m, max(0, cx - m):cx + m]
    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)


def scene(face: np.ndarray | None, *, at: tuple[int, int] = (200, 300), jitter: int = 0,
          card: np.ndarray | None = None) -> np.ndarray:
    """A 1280x720 grey frame with `face` at `at` (y, x), moved by `jitter` pixels."""
    from edge.demo.cards import place_card

    frame = np.full((720, 1280, 3), 120, np.uint8)
    if face is not None:
        y, x = at[0] + jitter, at[1] + jitter
        frame[y:y + face.shape[0], x:x + face.shape[1]] = face
    if card is not None:
        frame = place_card(frame, card, centre=(1000, 420), width=330, tilt=6, yaw=8, roll=3)
    return frame

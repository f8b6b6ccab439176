"""A printed photo held up to the camera: one still picture moved, scaled and tilted by a hand.

Each frame shows the photo under a perspective mapping that drifts smoothly (slow arm motion:
shift, zoom, in-plane turn, tilt about both axes) with a fast small tremor, over a still
background, with fresh sensor noise per frame. Deterministic for a given seed.
"""

from __future__ import annotations

import math

import cv2
import numpy as np


def _rotation(rx: float, ry: float, rz: float) -> np.ndarray:
    cx, sx, cy, sy, cz, sz = (math.cos(rx), math.sin(rx), math.cos(ry), math.sin(ry),
                              math.cos(rz), math.sin(rz))
    x = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    y = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    z = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return z @ y @ x


def _plane_homography(photo_size: tuple[int, int], canvas: tuple[int, int], height_frac: float,
                      shift: tuple[float, float], zoom: float, rx: float, ry: float,
                      rz: float) -> np.ndarray:
    """Where a flat photo lands in the image when held at a pose (pinhole camera)."""
    pw, ph = photo_size
    cw, ch = canvas
    focal = float(cw)
    # Photo coordinates -> a plane centred on the optical axis, at a distance giving the size.
    size = ch * height_frac * zoom
    k = size / ph
    distance = focal  # the photo is `size` pixels tall in the image when it faces the camera
    corners = np.array([[0, 0], [pw, 0], [pw, ph], [0, ph]], float)
    plane = np.c_[(corners[:, 0] - pw / 2) * k, (corners[:, 1] - ph / 2) * k, np.zeros(4)]
    world = plane @ _rotation(rx, ry, rz).T + np.array([0.0, 0.0, distance])
    image = np.c_[focal * world[:, 0] / world[:, 2] + cw / 2 + shift[0],
                  focal * world[:, 1] / world[:, 2] + ch / 2 + shift[1]]
    return cv2.getPerspectiveTransform(corners.astype(np.float32), image.astype(np.float32))


def hand_held_photo(photo: np.ndarray, frames: int, *, fps: float = 30.0,
                    canvas: tuple[int, int] = (640, 360), height_frac: float = 0.75,
                    moving: bool = True, seed: int = 0,
                    background: np.ndarray | None = None) -> list[np.ndarray]:
    """Frames (BGR) of `photo` held up to a camera; `moving=False` gives a photo on a stand."""
    rng = np.random.default_rng(seed)
    cw, ch = canvas
    if background is None:
        background = np.full((ch, cw, 3), 90, np.uint8)
        cv2.rectangle(background, (0, ch * 2 // 3), (cw, ch), (60, 70, 80), -1)
    phases = rng.uniform(0, 2 * math.pi, 12)
    slow = rng.uniform(0.3, 1.2, 12)  # Hz, the arm
    tremor = rng.uniform(7.0, 11.0, 2)  # Hz, the hand
    out = []
    for i in range(frames):
        t = i / fps

        def wave(j: int, amplitude: float, t: float = t) -> float:
            return amplitude * math.sin(2 * math.pi * slow[j] * t + phases[j]) if moving else 0.0

        shift = (wave(0, 0.06 * cw) + (1.2 * math.sin(2 * math.pi * tremor[0] * t) if moving
                                       else 0.0),
                 wave(1, 0.05 * ch) + (1.2 * math.sin(2 * math.pi * tremor[1] * t) if moving
                                       else 0.0))
        zoom = 1.0 + wave(2, 0.12)
        rx, ry = math.radians(wave(3, 20.0)), math.radians(wave(4, 20.0))
        rz = math.radians(wave(5, 10.0))
        homography = _plane_homography((photo.shape[1], photo.shape[0]), canvas, height_frac,
                                       shift, zoom, rx, ry, rz)
        frame = background.copy()
        cv2.warpPerspective(photo, homography, canvas, dst=frame, flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_TRANSPARENT)
        noise = rng.normal(0.0, 2.0, frame.shape)
        out.append(np.clip(frame + noise, 0, 255).astype(np.uint8))
    return out

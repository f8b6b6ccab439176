"""A code on a phone's screen as a camera sees it: an emissive RGB-stripe pixel grid (which
beats with the sensor's into moire), a dark bezel, an overexposed glow and reflections."""

from __future__ import annotations

import cv2
import numpy as np

from edge.bench.optics import glare, map_points
from gate.model import Colour
from gate.passes.qr import ERROR_LEVEL, qr_matrix

SCREEN_W, SCREEN_H = 360, 780  # logical screen pixels, each drawn as 3x3 sub-pixels
SUB = 3
BEZEL_X, BEZEL_Y = 40, 130  # sub-pixels of dark glass and frame around the lit screen
QR_WIDTH = 330  # logical pixels the holder page gives the code, quiet zone included
CODE_TOP = 120
_BAND = {Colour.GREEN: (60, 170, 40), Colour.YELLOW: (0, 200, 240),
         Colour.RED: (40, 40, 210), Colour.WHITE: (235, 235, 235)}
# Each sub-pixel column lights one primary (R, G, B from left, BGR channel order here) and
# the third sub-row of each pixel is the dark matrix between rows.
_COLUMNS = np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0]], np.float32)
_ROWS = np.array([1.0, 1.0, 0.45], np.float32)
_FILL = float(_ROWS.mean()) / SUB  # a white screen's mean light per channel


def _screen(colour: Colour) -> np.ndarray:
    """The holder page's picture around the code: colour band and a running clock."""
    screen = np.full((SCREEN_H, SCREEN_W, 3), 255, np.uint8)
    cv2.rectangle(screen, (0, 0), (SCREEN_W, 90), _BAND[colour], -1)
    cv2.putText(screen, f"GRIDGATE {colour.value.upper()}", (20, 60), cv2.FONT_HERSHEY_SIMPLEX,
                1.0, (20, 20, 20), 2, cv2.LINE_AA)
    cv2.putText(screen, "08:41:27", (95, CODE_TOP + QR_WIDTH + 70), cv2.FONT_HERSHEY_SIMPLEX,
                1.4, (30, 30, 30), 3, cv2.LINE_AA)
    return screen


def phone_layer(text: str, colour: Colour, rng: np.random.Generator,
                error: str = ERROR_LEVEL) -> tuple[np.ndarray, np.ndarray, int]:
    """The phone as light (float32 BGR), the code's box on it (4x2, quiet zone included) and
    the code's width, both in the layer's sub-pixels. The code is drawn at whole device
    pixels per module, as a page drawing it on a canvas at the device's resolution does."""
    lit = np.repeat(np.repeat(_screen(colour).astype(np.float32), SUB, axis=0), SUB, axis=1)
    modules = qr_matrix(text, error)
    size = QR_WIDTH * SUB // modules.shape[0] * modules.shape[0]
    code = cv2.resize(np.where(modules, 0, 255).astype(np.float32), (size, size),
                      interpolation=cv2.INTER_NEAREST)
    left, top = (SCREEN_W * SUB - size) // 2, CODE_TOP * SUB
    lit[top:top + size, left:left + size] = code[:, :, None]
    grid = (_COLUMNS[np.arange(SCREEN_W * SUB) % SUB][None, :, :]
            * _ROWS[np.arange(SCREEN_H * SUB) % SUB][:, None, None])
    brightness = rng.uniform(1.0, 1.5)  # the screen outshines the scene the exposure is set for
    lit *= grid * (brightness / _FILL)
    body = np.full((SCREEN_H * SUB + 2 * BEZEL_Y, SCREEN_W * SUB + 2 * BEZEL_X, 3),
                   rng.uniform(12, 35), np.float32)
    body[BEZEL_Y:BEZEL_Y + SCREEN_H * SUB, BEZEL_X:BEZEL_X + SCREEN_W * SUB] = lit
    x0, y0 = BEZEL_X + left, BEZEL_Y + top
    box = np.array([[x0, y0], [x0 + size, y0], [x0 + size, y0 + size], [x0, y0 + size]],
                   np.float64)
    return body, box, size


def screen_light(light: np.ndarray, mask: np.ndarray, matrix: np.ndarray,
                 layer_wh: tuple[int, int], rng: np.random.Generator,
                 scale: float) -> np.ndarray:
    """Add what the glass reflects (a band of window light and a veil) and the glow of
    overexposed pixels bleeding into their dark neighbours."""
    h, w = light.shape[:2]
    corners = map_points(matrix, np.array([[0, 0], [layer_wh[0], 0]], np.float64))
    width = float(np.linalg.norm(corners[1] - corners[0]))
    at = map_points(matrix, np.array([[rng.uniform(0, layer_wh[0]),
                                       rng.uniform(0, layer_wh[1])]], np.float64))[0]
    band = glare((h, w), (float(at[0]), float(at[1])),
                 (3 * width, width * rng.uniform(0.1, 0.35)), rng.uniform(0, np.pi),
                 rng.uniform(20, 90))
    light = light + ((band + rng.uniform(5, 25)) * mask)[:, :, None]
    excess = np.maximum(light - 255, 0)
    glow = cv2.GaussianBlur(excess, (0, 0), 1.5 * scale)
    out: np.ndarray = light + 0.6 * glow
    return out

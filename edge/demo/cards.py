"""Printed pass cards and how a camera sees them: perspective, blur, noise, uneven light."""

from __future__ import annotations

import math

import cv2
import numpy as np

from gate.model import Colour
from gate.passes.qr import qr_matrix

CARD_W, CARD_H = 360, 460
# Where the QR code (quiet zone included) sits on the card: a square QR_SIZE wide.
QR_LEFT, QR_SIZE = 20, CARD_W - 40
QR_TOP = 70 + (CARD_H - 70 - 50 - QR_SIZE) // 2 + 5
_BAND = {  # BGR
    Colour.GREEN: (60, 170, 40),
    Colour.YELLOW: (0, 200, 240),
    Colour.RED: (40, 40, 210),
    Colour.WHITE: (235, 235, 235),
}


def render_card(text: str, colour: Colour, label: str) -> np.ndarray:
    """A pass card as printed: colour band, label, QR code on white (BGR)."""
    card = np.full((CARD_H, CARD_W, 3), 250, np.uint8)
    cv2.rectangle(card, (0, 0), (CARD_W - 1, 70), _BAND[colour], thickness=-1)
    cv2.putText(card, f"GRIDGATE {colour.value.upper()}", (16, 48), cv2.FONT_HERSHEY_SIMPLEX,
                1.0, (20, 20, 20) if colour in (Colour.YELLOW, Colour.WHITE) else (250, 250, 250),
                2, cv2.LINE_AA)
    cv2.putText(card, label[:24], (16, CARD_H - 22), cv2.FONT_HERSHEY_SIMPLEX, 0.7,
                (30, 30, 30), 2, cv2.LINE_AA)
    modules = qr_matrix(text)
    qr = cv2.resize(np.where(modules, 0, 255).astype(np.uint8), (QR_SIZE, QR_SIZE),
                    interpolation=cv2.INTER_NEAREST)
    card[QR_TOP:QR_TOP + QR_SIZE, QR_LEFT:QR_LEFT + QR_SIZE] = qr[:, :, None]
    cv2.rectangle(card, (0, 0), (CARD_W - 1, CARD_H - 1), (120, 120, 120), 2)
    return card


def place_card(background: np.ndarray, card: np.ndarray, *, centre: tuple[float, float],
               width: float, tilt: float, yaw: float, roll: float) -> np.ndarray:
    """Paste the card into the scene under a perspective view (angles in degrees)."""
    h, w = card.shape[:2]
    height = width * h / w
    cx, cy = centre
    # Corners of a card held up: foreshortened by yaw (left-right) and tilt (up-down).
    dx = width / 2 * np.cos(np.radians(yaw))
    dy = height / 2 * np.cos(np.radians(tilt))
    skew_x = width * 0.15 * np.sin(np.radians(tilt))
    skew_y = height * 0.15 * np.sin(np.radians(yaw))
    corners = np.array([[-dx + skew_x, -dy - skew_y], [dx - skew_x, -dy + skew_y],
                        [dx + skew_x, dy - skew_y], [-dx - skew_x, dy + skew_y]])
    rot = np.radians(roll)
    rotation = np.array([[np.cos(rot), -np.sin(rot)], [np.sin(rot), np.cos(rot)]])
    corners = corners @ rotation.T + [cx, cy]
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    matrix = cv2.getPerspectiveTransform(src, corners.astype(np.float32))
    size = (background.shape[1], background.shape[0])
    warped = cv2.warpPerspective(card, matrix, size, flags=cv2.INTER_LINEAR)
    mask = cv2.warpPerspective(np.full((h, w), 255, np.uint8), matrix, size)
    out = background.copy()
    out[mask > 0] = warped[mask > 0]
    return out


def camera_effects(image: np.ndarray, rng: np.random.Generator, *, blur: float,
                   noise: float, light_gradient: float) -> np.ndarray:
    """Uneven light, defocus or motion blur, and sensor noise."""
    h, w = image.shape[:2]
    angle = rng.uniform(0, 2 * np.pi)
    xs = (np.linspace(-1, 1, w)[None, :] * math.cos(angle)
          + np.linspace(-1, 1, h)[:, None] * math.sin(angle))
    light = 1.0 + light_gradient * xs
    out: np.ndarray = image.astype(np.float32) * light[:, :, None]
    if blur > 0:
        k = int(blur * 2) * 2 + 1
        if rng.random() < 0.5:
            out = cv2.GaussianBlur(out, (k, k), blur)
        else:  # motion blur along a random direction: a hand is never quite still
            line = np.zeros((k, k), np.float32)
            line[k // 2, :] = 1.0 / k
            rotation = cv2.getRotationMatrix2D((k / 2 - 0.5, k / 2 - 0.5), rng.uniform(0, 180), 1)
            kernel = cv2.warpAffine(line, rotation, (k, k))
            out = cv2.filter2D(out, -1, kernel / max(kernel.sum(), 1e-6))
    out += rng.normal(0, noise, out.shape).astype(np.float32)
    return out.clip(0, 255).astype(np.uint8)

"""Fixtures for vision tests: real QR photos from ../shared/data, and codes drawn with segno."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import segno

from edge.shared_data import REPO_ROOT, shared_data_dir


@pytest.fixture
def qr_photos() -> Path:
    """../shared/data/qr, or a skip naming the path."""
    shared = shared_data_dir()
    if shared is None or not (shared / "qr").is_dir():
        pytest.skip(f"shared QR photos absent: expected {REPO_ROOT.parent / 'shared/data/qr'}")
    return shared / "qr"


def qr_image(text: str, *, scale: int = 6, border: int = 4) -> np.ndarray:
    """A clean BGR image of `text` as a QR code, as segno draws it."""
    code = segno.make_qr(text, error="m")
    rows = np.array([[0 if dark else 255 for dark in row] for row in code.matrix], np.uint8)
    rows = np.pad(rows, border, constant_values=255)
    big = cv2.resize(rows, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    return cv2.cvtColor(big, cv2.COLOR_GRAY2BGR)

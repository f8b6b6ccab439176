"""Rendering a pass as a QR code (segno): the module matrix, a PNG, and its version."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import segno

# ECC level M (15 %) as the minimum: printed cards get scuffed and phone screens reflect; segno
# raises it further whenever that fits in the same version for free.
ERROR_LEVEL = "m"
QUIET_ZONE = 4


def _qr(text: str) -> segno.QRCode:
    return segno.make_qr(text, error=ERROR_LEVEL, boost_error=True)


def qr_matrix(text: str) -> np.ndarray:
    """Dark modules as True, with the standard 4-module quiet zone."""
    return np.array([[bool(v) for v in row] for row in _qr(text).matrix_iter(border=QUIET_ZONE)])


def write_qr_png(text: str, path: Path | str, scale: int = 8) -> None:
    """Write the QR code as a PNG."""
    _qr(text).save(str(path), kind="png", scale=scale, border=QUIET_ZONE)


def qr_version(text: str) -> tuple[int, str]:
    """The QR version (size) and error correction level the pass text needs."""
    qr = _qr(text)
    return int(qr.version), str(qr.error)

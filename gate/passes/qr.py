"""Rendering a pass as a QR code (segno): the module matrix, a PNG, and its version."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import segno

# ECC level L, raised by segno whenever a higher level fits in the same version. Measured
# (docs/passes.md, `gridgate bench qr --scenes`): a gate camera sees a pass at 2-4 px per
# module, where reading fails on finding and sampling the module grid, not on codeword
# errors; L's smaller version (8 against M's 9) reads more frames than M's extra recovery
# saves, on clean cards, held by a thumb and scuffed, with glare, and on phone screens.
ERROR_LEVEL = "l"
# The standard 4 modules: a 2-module zone would give a card's code 7 % larger modules, but a
# thumb on the card's edge then reaches the code itself and the measured rate falls.
QUIET_ZONE = 4


def _qr(text: str, error: str = ERROR_LEVEL) -> segno.QRCode:
    return segno.make_qr(text, error=error, boost_error=True)


def qr_matrix(text: str, error: str = ERROR_LEVEL) -> np.ndarray:
    """Dark modules as True, with the standard 4-module quiet zone; `error` is for measuring
    other levels (gridgate bench qr --scenes --ecc)."""
    return np.array([[bool(v) for v in row]
                     for row in _qr(text, error).matrix_iter(border=QUIET_ZONE)])


def write_qr_png(text: str, path: Path | str, scale: int = 8) -> None:
    """Write the QR code as a PNG."""
    _qr(text).save(str(path), kind="png", scale=scale, border=QUIET_ZONE)


def qr_version(text: str, error: str = ERROR_LEVEL) -> tuple[int, str]:
    """The QR version (size) and error correction level the pass text needs."""
    qr = _qr(text, error)
    return int(qr.version), str(qr.error)

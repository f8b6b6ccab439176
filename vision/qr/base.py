"""The QR decoder interface and the factory that picks an implementation by name."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from vision.errors import ImageError
from vision.facts import QrSeen

MAX_SIDE = 8192


class QrDecoder(Protocol):
    """Finds QR codes in a BGR or grayscale image."""

    name: str

    def decode(self, image: np.ndarray) -> list[QrSeen]:
        """Every QR code found; an empty list when there is none."""
        ...


def check_image(image: object) -> np.ndarray:
    """Refuse what no decoder should be handed (not an array, empty, absurdly large)."""
    if not isinstance(image, np.ndarray) or image.ndim not in (2, 3) or image.size == 0:
        raise ImageError("not an image: expected a non-empty HxW or HxWxC array")
    if max(image.shape[:2]) > MAX_SIDE:
        raise ImageError(f"image of {image.shape[1]}x{image.shape[0]} is too large to decode")
    if image.dtype != np.uint8:
        raise ImageError(f"expected 8-bit pixels, got {image.dtype}")
    return np.ascontiguousarray(image)


def make_decoder(name: str) -> QrDecoder:
    """'zxing' (zxing-cpp) or 'pyzbar' (ZBar)."""
    if name == "zxing":
        from vision.qr.zxing import ZxingDecoder

        return ZxingDecoder()
    if name == "pyzbar":
        from vision.qr.pyzbar import PyzbarDecoder

        return PyzbarDecoder()
    raise ValueError(f"unknown QR decoder {name!r}; use 'zxing' or 'pyzbar'")

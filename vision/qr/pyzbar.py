"""QR decoding with ZBar through pyzbar."""

from __future__ import annotations

import cv2
import numpy as np
from pyzbar import pyzbar

from vision.facts import QrSeen
from vision.qr.base import check_image


class PyzbarDecoder:
    """ZBar restricted to QR codes, on a grayscale copy of the frame."""

    name = "pyzbar"

    def decode(self, image: np.ndarray) -> list[QrSeen]:
        image = check_image(image)
        if image.ndim == 3:
            image = cv2.cvtColor(image[:, :, :3], cv2.COLOR_BGR2GRAY)
        seen = []
        for symbol in pyzbar.decode(image, symbols=[pyzbar.ZBarSymbol.QRCODE]):
            # Passes are ASCII; anything that is not UTF-8 is kept visible, never a crash.
            text = symbol.data.decode("utf-8", errors="replace")
            corners = tuple((int(p.x), int(p.y)) for p in symbol.polygon)
            seen.append(QrSeen(text=text, corners=corners))
        return seen

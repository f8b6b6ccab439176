"""QR decoding with zxing-cpp."""

from __future__ import annotations

import numpy as np
import zxingcpp

from vision.facts import QrSeen
from vision.qr.base import check_image


class ZxingDecoder:
    """zxing-cpp restricted to QR codes."""

    name = "zxing"

    def __init__(self, *, try_rotate: bool = True, try_downscale: bool = True) -> None:
        self.try_rotate = try_rotate
        self.try_downscale = try_downscale

    def decode(self, image: np.ndarray) -> list[QrSeen]:
        image = check_image(image)
        if image.ndim == 3 and image.shape[2] not in (1, 3):
            image = np.ascontiguousarray(image[:, :, :3])
        results = zxingcpp.read_barcodes(
            image, formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode),
            try_rotate=self.try_rotate,
            try_downscale=self.try_downscale, try_invert=False,
        )
        seen = []
        for result in results:
            if not result.valid:
                continue
            p = result.position
            corners = tuple((int(q.x), int(q.y)) for q in
                            (p.top_left, p.top_right, p.bottom_right, p.bottom_left))
            seen.append(QrSeen(text=result.text, corners=corners))
        return seen

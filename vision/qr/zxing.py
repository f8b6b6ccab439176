"""QR decoding with zxing-cpp: one cheap look at every frame, more only where a code was seen.

The first look reads the frame in grey with zxing-cpp's defaults (light-on-dark codes too).
zxing-cpp also reports the symbols it found but could not decode, with their position: only
then, around each of them, the region is enlarged, sharpened and read again. An empty frame
costs one look; the figures are in docs/passes.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import zxingcpp

from vision.facts import QrSeen
from vision.qr.base import check_image
from vision.qr.regions import Region, enlarge, overlaps, region_around, sharpen

QR_FAMILY = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)  # QR, Micro QR, rMQR
FULL_QR = (zxingcpp.BarcodeFormat.QRCode, zxingcpp.BarcodeFormat.QRCodeModel1,
           zxingcpp.BarcodeFormat.QRCodeModel2)
SMALL_QR = (zxingcpp.BarcodeFormat.MicroQRCode, zxingcpp.BarcodeFormat.RMQRCode)
# amount, sigma (px) of the optional sharpened first look (a measured lever, off by default:
# beside the second looks it reads 0.3 % more frames for twice the time of every empty frame).
FIRST_SHARPEN = (1.0, 1.0)
MAX_CANDIDATES = 2  # candidates given second looks per frame
MAX_SECOND_READS = 3  # reads of enlarged regions per frame: bounds the worst frame's time
# Second looks, in order, until one reads: (enlargement, sharpening sigma, amount).
SECOND_LOOKS = ((2.0, 1.0, 1.0), (3.0, 1.0, 1.0))


def to_grey(image: np.ndarray) -> np.ndarray:
    """One 8-bit channel: zxing-cpp would convert colour itself, at more cost."""
    if image.ndim == 2:
        return image
    channels = image.shape[2]
    if channels == 1:
        return np.ascontiguousarray(image[:, :, 0])
    if channels >= 3:
        grey: np.ndarray = cv2.cvtColor(np.ascontiguousarray(image[:, :, :3]),
                                        cv2.COLOR_BGR2GRAY)
        return grey
    return np.ascontiguousarray(image[:, :, 0])  # grey + alpha


def _corners(result: zxingcpp.Barcode) -> list[tuple[float, float]]:
    p = result.position
    return [(float(q.x), float(q.y))
            for q in (p.top_left, p.top_right, p.bottom_right, p.bottom_left)]


@dataclass(frozen=True)
class _Candidate:
    """A place where a symbol was seen but not read, in frame coordinates."""

    quad: np.ndarray
    full_symbol: bool  # a whole QR code's outline, not just a finder pattern


class ZxingDecoder:
    """zxing-cpp restricted to QR codes; the options exist to measure each lever."""

    name = "zxing"

    def __init__(self, *, try_rotate: bool = True, try_downscale: bool = True,
                 try_invert: bool = True, grey: bool = True, sharpen_first: bool = False,
                 second_looks: bool = True, micro_codes: bool = False,
                 search_width: int | None = None) -> None:
        self.try_rotate = try_rotate
        self.try_downscale = try_downscale
        self.try_invert = try_invert
        self.grey = grey
        self.sharpen_first = sharpen_first
        self.second_looks = second_looks
        self.accepted = FULL_QR + SMALL_QR if micro_codes else FULL_QR
        self.search_width = search_width

    def _read(self, image: np.ndarray, *, errors: bool) -> list[zxingcpp.Barcode]:
        results: list[zxingcpp.Barcode] = zxingcpp.read_barcodes(
            image, formats=QR_FAMILY, try_rotate=self.try_rotate,
            try_downscale=self.try_downscale, try_invert=self.try_invert,
            return_errors=errors)
        return results

    def _first_look(self, frame: np.ndarray) -> tuple[np.ndarray, float]:
        """What the first look reads, and how much smaller than the frame it is."""
        factor = 1.0
        if self.search_width is not None and frame.shape[1] > self.search_width:
            factor = frame.shape[1] / self.search_width
            frame = cv2.resize(frame, (self.search_width, round(frame.shape[0] / factor)),
                               interpolation=cv2.INTER_AREA)
        return (sharpen(frame, *FIRST_SHARPEN) if self.sharpen_first else frame), factor

    def decode(self, image: np.ndarray) -> list[QrSeen]:
        image = check_image(image)
        if self.grey:
            frame = to_grey(image)
        elif image.ndim == 3 and image.shape[2] not in (1, 3):
            frame = np.ascontiguousarray(image[:, :, :3])
        else:
            frame = image
        look, factor = self._first_look(frame)
        seen: dict[str, QrSeen] = {}
        found: list[np.ndarray] = []
        candidates = []
        for result in self._read(look, errors=self.second_looks):
            quad = np.array(_corners(result)) * factor
            # A pass is a full QR code; a Micro QR or rMQR "read" is a finder pattern or a
            # texture mistaken for one: never a text, at most a place worth a second look.
            if result.valid and result.format in self.accepted:
                seen.setdefault(result.text, QrSeen(
                    text=result.text, corners=tuple((round(x), round(y)) for x, y in quad)))
                found.append(quad)
            else:
                candidates.append(_Candidate(quad, result.format in FULL_QR))
        if not self.second_looks:
            return list(seen.values())
        # Not a ghost inside a code already read; whole-code outlines before finder patterns.
        candidates = sorted((c for c in candidates if not overlaps(c.quad, found)),
                            key=lambda c: not c.full_symbol)
        reads_left = MAX_SECOND_READS
        for candidate in candidates[:MAX_CANDIDATES]:
            codes, reads = self._second_look(to_grey(frame), candidate, factor, reads_left)
            reads_left -= reads
            for code in codes:
                if code.text not in seen:
                    seen[code.text] = code
                    found.append(np.array(code.corners, np.float64))
        return list(seen.values())

    def _second_look(self, grey: np.ndarray, candidate: _Candidate, factor: float,
                     reads_left: int) -> tuple[list[QrSeen], int]:
        """The codes read in the candidate's region, enlarged and sharpened, and how many
        reads that took (at most `reads_left`)."""
        box = region_around(grey, candidate.quad, full_symbol=candidate.full_symbol,
                            scale=factor)
        reads = 0
        for enlargement, sigma, amount in SECOND_LOOKS[:max(reads_left, 0)]:
            reads += 1
            region: Region = enlarge(grey, box, max(1.0, enlargement / factor), sigma, amount)
            codes = [QrSeen(text=r.text, corners=region.to_frame(_corners(r)))
                     for r in self._read(region.image, errors=False)
                     if r.valid and r.format in self.accepted]
            if codes:
                return codes, reads
        return [], reads

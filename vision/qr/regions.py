"""Second looks at the place a code was seen but not read: the region around a candidate,
enlarged and sharpened, with the corners of what it yields mapped back to the frame."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# A candidate that is only a finder pattern (zxing took it for a Micro QR or rMQR symbol)
# may sit at any corner of the real code, which is up to ~8 finder widths across.
FINDER_REACH = 8.0
CODE_MARGIN = 0.3  # around a full-size candidate: its quiet zone and corner error
MAX_REGION = 560  # px per side: no region costs more than a bounded decode
MAX_ENLARGED = 960  # px per side after enlarging: a read no dearer than a 1280x720 frame's


def sharpen(grey: np.ndarray, amount: float, sigma: float) -> np.ndarray:
    """Unsharp mask: restores the edges a little motion blur and a soft lens smear."""
    blurred = cv2.GaussianBlur(grey, (0, 0), sigma)
    out: np.ndarray = cv2.addWeighted(grey, 1 + amount, blurred, -amount, 0)
    return out


@dataclass(frozen=True)
class Region:
    """A crop of the frame, enlarged by `scale`, and where it came from."""

    image: np.ndarray
    left: int
    top: int
    scale: float

    def to_frame(self, points: list[tuple[float, float]]) -> tuple[tuple[int, int], ...]:
        """Points of the enlarged crop in frame coordinates."""
        return tuple((round(x / self.scale + self.left), round(y / self.scale + self.top))
                     for x, y in points)


def region_around(grey: np.ndarray, quad: np.ndarray, *, full_symbol: bool,
                  scale: float = 1.0) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the part of the frame worth a second look; `scale` is
    how much larger the frame is than the one the candidate's size limits are set for."""
    centre = quad.mean(axis=0)
    side = float((quad.max(axis=0) - quad.min(axis=0)).max())
    half = side / 2 * (1 + 2 * CODE_MARGIN) if full_symbol else side * FINDER_REACH / 2
    half = min(max(half, 24.0 * scale), MAX_REGION * scale / 2)
    h, w = grey.shape[:2]
    left, top = max(0, int(centre[0] - half)), max(0, int(centre[1] - half))
    right, bottom = min(w, int(centre[0] + half) + 1), min(h, int(centre[1] + half) + 1)
    return left, top, right, bottom


def enlarge(grey: np.ndarray, box: tuple[int, int, int, int], scale: float, sigma: float,
            amount: float) -> Region:
    """The crop enlarged (bicubic) and sharpened at the new scale; `scale` is lowered so the
    result stays within MAX_ENLARGED."""
    left, top, right, bottom = box
    crop = grey[top:bottom, left:right]
    scale = min(scale, MAX_ENLARGED / max(crop.shape[:2]))
    big = crop if scale == 1 else cv2.resize(crop, None, fx=scale, fy=scale,
                                             interpolation=cv2.INTER_CUBIC)
    if amount > 0:
        big = sharpen(big, amount, sigma * scale)
    return Region(np.ascontiguousarray(big), left, top, scale)


def overlaps(quad: np.ndarray, found: list[np.ndarray]) -> bool:
    """Whether a candidate's centre lies inside the box of a code already read."""
    cx, cy = quad.mean(axis=0)
    for other in found:
        (x0, y0), (x1, y1) = other.min(axis=0), other.max(axis=0)
        if x0 <= cx <= x1 and y0 <= cy <= y1:
            return True
    return False

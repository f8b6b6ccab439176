"""Finding faces with dlib's HOG detector at a reduced scale (faces at a gate are large)."""

from __future__ import annotations

import cv2
import numpy as np

from vision.faces.boxes import Box, iou, scale_box
from vision.faces.models import api


def to_gray(image: np.ndarray) -> np.ndarray:
    """A grayscale view of a BGR/RGB image (HOG looks at gradients only, and gray is faster)."""
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


class FaceDetector:
    """Face boxes in full-resolution coordinates, found on a copy at most `detect_width` wide."""

    def __init__(self, *, detect_width: int = 640, upsample: int = 0) -> None:
        if detect_width < 80:
            raise ValueError("detect_width must be at least 80 pixels (the detector's window)")
        self.detect_width = detect_width
        self.upsample = upsample
        self._detector = api().face_detector

    def _reduced(self, gray: np.ndarray) -> tuple[np.ndarray, float]:
        height, width = gray.shape[:2]
        if width <= self.detect_width:
            return gray, 1.0
        factor = width / self.detect_width
        small = cv2.resize(gray, (self.detect_width, max(1, round(height / factor))),
                           interpolation=cv2.INTER_AREA)
        return small, factor

    def detect(self, gray: np.ndarray) -> list[Box]:
        """Boxes of the faces in a grayscale (or colour) frame."""
        gray = to_gray(gray)
        small, factor = self._reduced(gray)
        return self._found(small, factor, gray.shape, 0, 0)

    def detect_near(self, gray: np.ndarray, boxes: list[Box], reach: float = 0.6) -> list[Box]:
        """Faces searched for only around `boxes` (faces followed from the last frame).

        A face moves little between frames, so a search in each box grown by `reach` of its
        size on every side finds it again for a few per cent of a full-frame search.
        """
        gray = to_gray(gray)
        small, factor = self._reduced(gray)
        found: list[Box] = []
        height, width = small.shape[:2]
        for top, right, bottom, left in boxes:
            grow = reach * max(bottom - top, right - left)
            y0 = max(0, int((top - grow) / factor))
            y1 = min(height, int((bottom + grow) / factor) + 1)
            x0 = max(0, int((left - grow) / factor))
            x1 = min(width, int((right + grow) / factor) + 1)
            if y1 - y0 < 40 or x1 - x0 < 40:
                continue
            crop = np.ascontiguousarray(small[y0:y1, x0:x1])
            for box in self._found(crop, factor, gray.shape, x0, y0):
                if all(iou(box, other) < 0.5 for other in found):
                    found.append(box)
        return found

    def _found(self, image: np.ndarray, factor: float, shape: tuple[int, ...], x0: int,
               y0: int) -> list[Box]:
        rects = self._detector(image, self.upsample)
        boxes = [scale_box((r.top() + y0, r.right() + x0, r.bottom() + y0, r.left() + x0),
                           factor, shape) for r in rects]
        return [b for b in boxes if b[2] > b[0] and b[1] > b[3]]


def find_faces_in_photo(image: np.ndarray, *, max_side: int = 1024, upsample: int = 1) -> list[Box]:
    """Faces in a still photo (enrolment, comparison): slower and more thorough than a frame."""
    gray = to_gray(image)
    height, width = gray.shape[:2]
    factor = max(1.0, max(height, width) / max_side)
    small = gray
    if factor > 1.0:
        small = cv2.resize(gray, (max(1, round(width / factor)), max(1, round(height / factor))),
                           interpolation=cv2.INTER_AREA)
    rects = api().face_detector(small, upsample)
    boxes = [scale_box((r.top(), r.right(), r.bottom(), r.left()), factor, gray.shape)
             for r in rects]
    return sorted((b for b in boxes if b[2] > b[0] and b[1] > b[3]), key=lambda b: (b[3], b[0]))

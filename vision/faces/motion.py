"""Is anything moving in front of the camera? A cheap test that lets face detection sleep."""

from __future__ import annotations

import cv2
import numpy as np


class MotionGate:
    """Compares a small blurred grayscale copy of each frame with a slowly learnt background.

    Sensor noise averages away in the 160-pixel copy; a person walking in changes far more than
    `min_fraction` of it. After motion the gate stays open for `hold_s`, so a person who stops
    in front of the camera is still looked at.
    """

    def __init__(self, *, width: int = 160, pixel_delta: int = 12, min_fraction: float = 0.003,
                 hold_s: float = 2.0, learn_rate: float = 0.05) -> None:
        self.width = width
        self.pixel_delta = pixel_delta
        self.min_fraction = min_fraction
        self.hold_s = hold_s
        self.learn_rate = learn_rate
        self._background: np.ndarray | None = None
        self._last_motion: float | None = None
        self.changed_fraction = 0.0

    def _small_gray(self, image: np.ndarray) -> np.ndarray:
        height, width = image.shape[:2]
        size = (self.width, max(1, round(height * self.width / width)))
        small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        if small.ndim == 3:
            small = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        return cv2.GaussianBlur(small, (5, 5), 0).astype(np.float32)

    def update(self, image: np.ndarray, now: float) -> bool:
        """Feed one frame seen at monotonic time `now`; True while the scene moves (or just did)."""
        small = self._small_gray(image)
        if self._background is None or self._background.shape != small.shape:
            self._background = small
            self._last_motion = now  # a new camera picture: look once
            return True
        diff = cv2.absdiff(small, self._background)
        self.changed_fraction = float(np.count_nonzero(diff > self.pixel_delta)) / diff.size
        cv2.accumulateWeighted(small, self._background, self.learn_rate)
        if self.changed_fraction >= self.min_fraction:
            self._last_motion = now
        return self._last_motion is not None and now - self._last_motion <= self.hold_s

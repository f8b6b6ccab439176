"""Liveness from landmarks over a short window: is this a living face or a photo held up?

A photo, however it is moved, turned or tilted, changes its landmarks by one plane-to-plane
mapping, its eyes never close and its mouth never moves. A living face blinks, or talks and turns
in three dimensions. After fitting the head pose on the rigid points (nose, eye corners), a
window is live when both eyes closed at least once (a blink), or when the mouth opening changed
and the face moved in a way no flat picture can. Thresholds come from the shared clip and
synthetic hand-held photos (docs/faces.md); faces smaller than `min_face_px` are not judged,
because the landmark noise of a small face looks like motion.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vision.faces.landmarks import (
    NON_JAW,
    eye_ratios,
    interocular,
    mouth_aspect_ratio,
    pose_normalised,
)


@dataclass(frozen=True)
class LivenessParams:
    """Thresholds of the liveness check."""

    window_s: float = 1.5
    min_samples: int = 8
    min_face_px: int = 80
    blink_ratio: float = 0.6
    mouth_motion: float = 0.14
    nonplanar: float = 0.08


@dataclass(frozen=True)
class LivenessVerdict:
    """The judgement of one window, with the measured cues."""

    live: bool
    blink: bool
    mouth_motion: float
    nonplanar: float
    samples: int


def judge(samples: Sequence[np.ndarray], params: LivenessParams) -> LivenessVerdict:
    """Judge one window of 68-point landmark sets of the same face."""
    if len(samples) < params.min_samples:
        return LivenessVerdict(False, False, 0.0, 0.0, len(samples))
    reference = samples[len(samples) // 2]
    unit = interocular(reference)
    normalised = [p for p in (pose_normalised(s, reference) for s in samples) if p is not None]
    if unit <= 0 or len(normalised) < params.min_samples:
        return LivenessVerdict(False, False, 0.0, 0.0, len(samples))
    eyes = np.array([eye_ratios(p) for p in normalised])
    open_eyes = np.median(eyes, axis=0)
    if np.all(open_eyes > 0):
        # Both eyes closing together; one eye's landmark noise is not a blink.
        closed = np.max(eyes / open_eyes, axis=1)
        blink = bool(np.min(closed) < params.blink_ratio)
    else:
        blink = False
    mouths = np.array([mouth_aspect_ratio(p) for p in normalised])
    mouth = float(np.percentile(mouths, 90) - np.percentile(mouths, 10))
    residuals = [float(np.sqrt(np.mean(np.sum((p[NON_JAW] - reference[NON_JAW]) ** 2, axis=1))))
                 / unit for p in normalised]
    nonplanar = float(np.percentile(residuals, 90))
    live = blink or (mouth >= params.mouth_motion and nonplanar >= params.nonplanar)
    return LivenessVerdict(live, blink, round(mouth, 4), round(nonplanar, 4), len(normalised))


class LivenessWindow:
    """Landmarks of one tracked face over time; live once any full window was judged live."""

    def __init__(self, params: LivenessParams) -> None:
        self.params = params
        self._samples: deque[tuple[float, np.ndarray]] = deque()
        self._since_judged = 0
        self.verdict: LivenessVerdict | None = None

    def add(self, now: float, points: np.ndarray, face_px: int) -> None:
        """Add the landmarks seen at monotonic time `now` for a face `face_px` tall."""
        if self.verdict is not None and self.verdict.live:
            return  # a face found live stays live for the life of its track
        if face_px < self.params.min_face_px:
            return
        self._samples.append((now, points))
        while self._samples and now - self._samples[0][0] > self.params.window_s:
            self._samples.popleft()
        self._since_judged += 1
        span = now - self._samples[0][0]
        # Judging costs ~1 ms; once per few new samples is enough for a verdict within a frame
        # or two of the window filling.
        if span >= 0.9 * self.params.window_s and (self.verdict is None
                                                     or self._since_judged >= 3):
            self._since_judged = 0
            self.verdict = judge([p for _, p in self._samples], self.params)

    @property
    def live(self) -> bool | None:
        """True: live; False: a full window was judged and was not live; None: not judged yet."""
        return None if self.verdict is None else self.verdict.live

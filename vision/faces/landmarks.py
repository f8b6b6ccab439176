"""Geometry of the 68 iBUG face landmarks: eye openness, eye distance, non-planar motion."""

from __future__ import annotations

import cv2
import numpy as np

LEFT_EYE = slice(36, 42)
RIGHT_EYE = slice(42, 48)
LANDMARKS = 68


def _eye_ratio(eye: np.ndarray) -> float:
    # Soukupova & Cech (2016): vertical openings over the horizontal width of the eye.
    vertical = np.linalg.norm(eye[1] - eye[5]) + np.linalg.norm(eye[2] - eye[4])
    horizontal = 2.0 * np.linalg.norm(eye[0] - eye[3])
    return float(vertical / horizontal) if horizontal > 0 else 0.0


def eye_aspect_ratio(points: np.ndarray) -> float:
    """Mean eye aspect ratio of both eyes: about 0.3 open, below 0.2 closed."""
    return (_eye_ratio(points[LEFT_EYE]) + _eye_ratio(points[RIGHT_EYE])) / 2.0


def interocular(points: np.ndarray) -> float:
    """Distance between the eye centres, the face's natural unit of length."""
    return float(np.linalg.norm(points[LEFT_EYE].mean(axis=0) - points[RIGHT_EYE].mean(axis=0)))


def planar_fit(points: np.ndarray, reference: np.ndarray) -> np.ndarray | None:
    """`points` carried onto `reference` by the best homography (least squares), or None.

    A photo moved, turned or tilted in front of the camera changes its landmarks by exactly such
    a plane-to-plane mapping; what the mapping cannot explain is motion of a solid, living face.
    """
    homography, _ = cv2.findHomography(points.astype(np.float32), reference.astype(np.float32), 0)
    if homography is None or not np.all(np.isfinite(homography)):
        return None
    mapped = cv2.perspectiveTransform(points.reshape(-1, 1, 2).astype(np.float64), homography)
    return mapped.reshape(-1, 2)


def planar_residual(points: np.ndarray, reference: np.ndarray) -> float:
    """RMS landmark distance left after the best planar mapping, in interocular units."""
    mapped = planar_fit(points, reference)
    unit = interocular(reference)
    if mapped is None or unit <= 0:
        return float("inf")
    return float(np.sqrt(np.mean(np.sum((mapped - reference) ** 2, axis=1))) / unit)


# Points that move together on a living face too (nose, eye corners): the pose is fitted on
# these, so what is left on the other points is expression and 3D shape, not head pose.
RIGID = [27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 39, 42, 45]
NON_JAW = slice(17, 68)  # the jaw outline follows the background edges on a photo; left out


def pose_normalised(points: np.ndarray, reference: np.ndarray) -> np.ndarray | None:
    """All 68 points carried onto `reference` by the homography fitted on the rigid points."""
    homography, _ = cv2.findHomography(points[RIGID].astype(np.float32),
                                       reference[RIGID].astype(np.float32), 0)
    if homography is None or not np.all(np.isfinite(homography)):
        return None
    return cv2.perspectiveTransform(points.reshape(-1, 1, 2).astype(np.float64),
                                    homography).reshape(-1, 2)


def mouth_aspect_ratio(points: np.ndarray) -> float:
    """Inner-lip opening over mouth width: near 0 closed, 0.3 and more when talking."""
    vertical = (np.linalg.norm(points[61] - points[67]) + np.linalg.norm(points[62] - points[66])
                + np.linalg.norm(points[63] - points[65]))
    width = np.linalg.norm(points[60] - points[64])
    return float(vertical / (3.0 * width)) if width > 0 else 0.0


def eye_ratios(points: np.ndarray) -> tuple[float, float]:
    """Eye aspect ratios of the left and the right eye."""
    return _eye_ratio(points[LEFT_EYE]), _eye_ratio(points[RIGHT_EYE])

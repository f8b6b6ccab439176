"""Face boxes in (top, right, bottom, left) pixel order, as face_recognition uses them."""

from __future__ import annotations

Box = tuple[int, int, int, int]  # top, right, bottom, left


def box_area(box: Box) -> int:
    """Pixels inside the box (0 for a degenerate one)."""
    top, right, bottom, left = box
    return max(0, bottom - top) * max(0, right - left)


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes, 0..1."""
    top, right = max(a[0], b[0]), min(a[1], b[1])
    bottom, left = min(a[2], b[2]), max(a[3], b[3])
    inter = box_area((top, right, bottom, left))
    union = box_area(a) + box_area(b) - inter
    return inter / union if union > 0 else 0.0


def scale_box(box: Box, factor: float, shape: tuple[int, ...]) -> Box:
    """The box multiplied by `factor`, clipped to an image of `shape` (height, width, ...)."""
    height, width = shape[0], shape[1]
    top, right, bottom, left = (round(v * factor) for v in box)
    return max(0, top), min(width, right), min(height, bottom), max(0, left)


def centre(box: Box) -> tuple[float, float]:
    """The box centre as (x, y)."""
    top, right, bottom, left = box
    return (left + right) / 2.0, (top + bottom) / 2.0

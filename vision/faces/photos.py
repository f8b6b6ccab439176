"""Faces in still photos (enrolment, comparison): load safely, upright, exactly one face."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from vision.faces.boxes import Box
from vision.faces.detect import find_faces_in_photo
from vision.faces.encode import FaceEncoder
from vision.faces.errors import NoFaceError, SeveralFacesError
from vision.images import load_image

_ORIENTATION = 0x0112  # EXIF tag: how a phone held the camera


def _upright(image: np.ndarray, orientation: int) -> np.ndarray:
    if orientation in (2, 4, 5, 7):
        image = cv2.flip(image, 1)
        orientation = {2: 1, 4: 3, 5: 8, 7: 6}[orientation]
    turns = {3: cv2.ROTATE_180, 6: cv2.ROTATE_90_CLOCKWISE, 8: cv2.ROTATE_90_COUNTERCLOCKWISE}
    return cv2.rotate(image, turns[orientation]) if orientation in turns else image


def load_photo(path: Path | str) -> np.ndarray:
    """A photo as BGR uint8, turned upright by its EXIF orientation (phone pictures)."""
    image = load_image(path)
    try:
        with Image.open(path) as header:  # reads the header only, never the pixels
            orientation = int(header.getexif().get(_ORIENTATION, 1))
    except (OSError, UnidentifiedImageError, ValueError, TypeError):
        orientation = 1
    return _upright(image, orientation)


def faces_in_photo(image: np.ndarray, encoder: FaceEncoder) -> list[tuple[Box, np.ndarray]]:
    """Every face of a photo with its encoding, left to right."""
    return [(box, encoder.encode(image, box)) for box in find_faces_in_photo(image)]


def single_face(image: np.ndarray, encoder: FaceEncoder, name: str) -> tuple[Box, np.ndarray]:
    """The one face of a photo; NoFaceError or SeveralFacesError (naming the file) otherwise."""
    boxes = find_faces_in_photo(image)
    if not boxes:
        raise NoFaceError(f"{name}: no face found; use a well-lit, upright photo in which the "
                          "face is at least 80 pixels tall")
    if len(boxes) > 1:
        raise SeveralFacesError(f"{name}: {len(boxes)} faces found; use a photo of this person "
                                "alone, so it is clear whose face it is")
    return boxes[0], encoder.encode(image, boxes[0])

"""Face encodings (128 numbers from face_recognition's dlib ResNet) and 68-point landmarks.

An encoding is computed from a 150x150 "chip" cut out along five landmarks; cutting the chip is
cheap and happens in the reader thread, the network (~80 ms on one x86 core) may run elsewhere
(see `vision.faces.pool`). Frames are BGR: the landmark models average the channels, so only the
chip is turned to RGB, the order the network was trained on.
"""

from __future__ import annotations

import dlib
import numpy as np

from vision.faces.boxes import Box
from vision.faces.models import api

CHIP_SIZE = 150
CHIP_PADDING = 0.25  # what face_recognition's compute_face_descriptor(image, shape) uses


def _rect(box: Box) -> dlib.rectangle:
    top, right, bottom, left = box
    return dlib.rectangle(int(left), int(top), int(right), int(bottom))


def encode_chip(chip: np.ndarray) -> np.ndarray:
    """The encoding of one RGB face chip (150x150x3 uint8)."""
    return np.asarray(api().face_encoder.compute_face_descriptor(chip), dtype=np.float64)


class FaceEncoder:
    """Cuts face chips and landmarks out of BGR frames and encodes chips."""

    def __init__(self) -> None:
        face_api = api()
        self._pose5 = face_api.pose_predictor_5_point
        self._pose68 = face_api.pose_predictor_68_point

    def chip(self, image: np.ndarray, box: Box) -> np.ndarray:
        """The aligned 150x150 RGB chip of the face in `box` of a BGR image."""
        shape = self._pose5(image, _rect(box))
        chip = dlib.get_face_chip(image, shape, CHIP_SIZE, CHIP_PADDING)
        return np.ascontiguousarray(chip[..., ::-1])

    def encode(self, image: np.ndarray, box: Box) -> np.ndarray:
        """The encoding of the face in `box` of a BGR image, computed here."""
        return encode_chip(self.chip(image, box))

    def landmarks(self, image: np.ndarray, box: Box) -> np.ndarray:
        """The 68 iBUG landmarks of the face in `box` as a (68, 2) float array of (x, y)."""
        shape = self._pose68(image, _rect(box))
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)

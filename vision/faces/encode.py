"""Face encodings (128 numbers from face_recognition's dlib ResNet) and 68-point landmarks.

An encoding is computed from a 150x150 "chip" cut out along five landmarks. The network runs on
numpy's BLAS (`vision.faces.resnet`, ~8 ms) when its weights load and it agrees with dlib's own
code on a test chip, else in dlib (~75 ms on one x86 core without BLAS). Frames are BGR: the
landmark models average the channels, so only the chip is turned to RGB, the order the network
was trained on.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

import dlib
import numpy as np

from vision.faces.boxes import Box
from vision.faces.models import api
from vision.faces.resnet import FaceNetwork

log = logging.getLogger(__name__)

CHIP_SIZE = 150
CHIP_PADDING = 0.25  # what face_recognition's compute_face_descriptor(image, shape) uses


def _rect(box: Box) -> dlib.rectangle:
    top, right, bottom, left = box
    return dlib.rectangle(int(left), int(top), int(right), int(bottom))


# Largest distance between the two engines' encodings of the test chip that still counts as the
# same network: measured differences are about 1e-6, against 0.5 between two people.
ENGINES_AGREE = 1e-4


def dlib_encode_chip(chip: np.ndarray) -> np.ndarray:
    """The encoding of one RGB chip computed by dlib's own code."""
    return np.asarray(api().face_encoder.compute_face_descriptor(chip), dtype=np.float64)


@functools.cache
def _engine() -> tuple[str, Callable[[np.ndarray], np.ndarray]]:
    import face_recognition_models

    path = face_recognition_models.face_recognition_model_location()
    probe = np.random.default_rng(150).integers(0, 256, (CHIP_SIZE, CHIP_SIZE, 3), np.uint8)
    try:
        network = FaceNetwork.load(path)
        ours = network.encode(probe)
    except Exception as exc:  # unreadable weights, or weights that cannot run: dlib's code can
        reason = str(exc)
    else:
        difference = float(np.linalg.norm(ours - dlib_encode_chip(probe)))
        # Written so that NaN (a damaged weight times the zero padding dlib skips) disagrees.
        if np.isfinite(ours).all() and difference <= ENGINES_AGREE:
            return "numpy", network.encode
        reason = f"the numpy network differs from dlib's by {difference:.3g} on a test chip"
    log.warning("face encodings computed by dlib (slower): %s", reason)
    return "dlib", dlib_encode_chip


def encoder_engine() -> str:
    """Which code computes encodings: "numpy" (dlib's network on BLAS) or "dlib"."""
    return _engine()[0]


def encode_chip(chip: np.ndarray) -> np.ndarray:
    """The encoding of one RGB face chip (150x150x3 uint8)."""
    return _engine()[1](chip)


class FaceEncoder:
    """Cuts face chips and landmarks out of BGR frames and encodes chips."""

    def __init__(self) -> None:
        face_api = api()
        _engine()  # load and check the network now, not when the first face arrives
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

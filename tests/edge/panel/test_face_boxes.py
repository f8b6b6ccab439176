"""With faces enabled, the live image shows a box around each face the reader's face path
follows (real dlib detection on a real photograph)."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from gpiozero.pins.mock import MockFactory

from edge.app import GateApp
from edge.panel.app import create_app
from edge.settings import parse_settings
from edge.settings.panel import PanelSettings
from edge.shared_data import shared_data_dir
from tests.edge.panel.conftest import fast_hasher, gate_config
from vision.facts import Frame

DATA = shared_data_dir()
PHOTO = DATA / "faces" / "two_people.jpg" if DATA else None

pytestmark = pytest.mark.skipif(
    PHOTO is None or not PHOTO.is_file(),
    reason="needs the shared test data ../shared/data/faces/two_people.jpg "
    "(or $GRIDGATE_SHARED_DATA)")


def scene() -> np.ndarray:
    """The photograph on a 640x480 camera image."""
    photo = cv2.imread(str(PHOTO))
    assert photo is not None
    scale = min(640 / photo.shape[1], 480 / photo.shape[0])
    photo = cv2.resize(photo, (int(photo.shape[1] * scale), int(photo.shape[0] * scale)))
    image = np.full((480, 640, 3), 30, np.uint8)
    image[:photo.shape[0], :photo.shape[1]] = photo
    return image


def test_live_image_has_a_box_per_followed_face(tmp_path: Path) -> None:
    config = gate_config(tmp_path)
    config["faces"] = {"enabled": True, "encode_workers": 0}
    with GateApp(parse_settings(config), pin_factory=MockFactory()) as gate:
        app = create_app(gate, PanelSettings(), hasher=fast_hasher())
        svc = app.state.panel
        pipeline = gate.pipelines["in-cam"]
        dark, faces = np.full((480, 640, 3), 30, np.uint8), scene()
        for seq, image in enumerate([dark, faces, faces, faces], start=1):
            pipeline.process(Frame(image, seq=seq, arrived=time.monotonic()))
        followed = list(pipeline.binding.faces_in(Frame(faces, seq=4, arrived=0.0)))
        assert len(followed) == 2, followed  # Biden and Obama
        shown = cv2.imdecode(np.frombuffer(svc.frames.jpeg("in-cam"), np.uint8),
                             cv2.IMREAD_COLOR)
        for face in followed:
            top, right, bottom, left = face.box
            edge = shown[top + 2:bottom - 2, max(0, left - 1):left + 2].reshape(-1, 3)
            blue = [(int(b) > 180 and int(r) < 90) for b, _, r in edge]
            assert sum(blue) > 0.8 * len(blue), "a face box is drawn along the face's left side"
        # The photo itself has no such blue there: the box is drawn, not found.
        raw = (faces[:, :, 0].astype(int) > 180) & (faces[:, :, 2].astype(int) < 90)
        top, right, bottom, left = followed[0].box
        assert raw[top + 2:bottom - 2, max(0, left - 1):left + 2].mean() < 0.2
        svc.close()

"""A gate with gate displays: real config, GateApp on gpiozero's MockFactory, real uvicorn,
and camera frames that show a real signed pass."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from gate.model import Colour
from gate.passes import PassClaims, encode_pass, qr_matrix
from gate.passes.keys import load_signing_key
from tests.edge.panel.conftest import gate_config
from vision.facts import Frame

COMPOUND = "wenjiang-01"


def display_config(root: Path, **display: Any) -> dict[str, Any]:
    """The panel tests' two-reader gate, with a screen (free port) for each reader."""
    config = gate_config(root)
    config["display"] = {"screens": [{"reader_id": "in-cam", "port": 0},
                                     {"reader_id": "out-cam", "port": 0}], **display}
    return config


def pass_text(root: Path, person: str = "p-101", colour: Colour = Colour.GREEN,
              pass_id: str = "pass-001", household: str = "h-1") -> str:
    """A pass signed by the gate's trusted platform key."""
    key = load_signing_key(root / "keys" / "signing.key")
    now = datetime.now(UTC)
    claims = PassClaims(pass_id=pass_id, person_id=person, household_id=household,
                        compound_id=COMPOUND, colour=colour, issued_at=now - timedelta(hours=1),
                        not_before=now - timedelta(hours=1), expires_at=now + timedelta(days=1),
                        grid_id="grid-7")
    return encode_pass(claims, key)


def frame_with(text: str | None, seq: int = 1) -> Frame:
    """A camera frame showing the QR code of `text` (or nothing)."""
    image = np.full((480, 640, 3), 190, np.uint8)
    if text is not None:
        modules = np.pad(qr_matrix(text), 4, constant_values=False)
        code = np.where(modules, 0, 255).astype(np.uint8)
        code = cv2.resize(code, None, fx=5, fy=5, interpolation=cv2.INTER_NEAREST)
        h, w = code.shape
        image[40:40 + h, 120:120 + w] = cv2.cvtColor(code, cv2.COLOR_GRAY2BGR)
    return Frame(image, seq, time.monotonic())

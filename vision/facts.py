"""Facts the vision layer reports about a frame; the only vision types the gate imports."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Frame:
    """One camera image (BGR, uint8, HxWx3) with when it was captured and when it arrived."""

    image: np.ndarray = field(repr=False)
    seq: int
    arrived: float  # monotonic seconds when the frame reached us
    # Monotonic seconds when the camera captured it (a file played in real time: when it was
    # due); None when the source cannot tell, and then taken as `arrived`.
    captured: float | None = None

    @property
    def captured_at(self) -> float:
        """When the picture was taken, as well as the source knows (monotonic seconds)."""
        return self.arrived if self.captured is None else self.captured


@dataclass(frozen=True)
class QrSeen:
    """A QR code decoded from a frame: its text and corner points in pixel coordinates."""

    text: str
    corners: tuple[tuple[int, int], ...] = ()
    frame_seq: int = 0


@dataclass(frozen=True)
class FaceSeen:
    """A face found in a frame: box (top, right, bottom, left) and, once encoded, its encoding."""

    box: tuple[int, int, int, int]
    track_id: int = 0
    encoding: np.ndarray | None = field(default=None, repr=False, compare=False)
    frame_seq: int = 0

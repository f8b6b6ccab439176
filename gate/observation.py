"""An observation: what a reader saw of one person, ready for the decision."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gate.model import Method, Reader
from gate.passes.claims import PassCheck


@dataclass(frozen=True)
class Observation:
    """One person at one reader: the pass they showed and/or the face that was matched."""

    reader: Reader
    method: Method
    seen_at: datetime
    pass_check: PassCheck | None = None
    face_checked: bool = False  # the reader ran face identification for this observation
    face_person_id: str | None = None  # who the face was identified as; None = no face or unknown
    face_unknown: bool = False  # a face was seen and settled as nobody enrolled (a stranger)
    face_distance: float | None = None
    faces_in_view: int = 0  # how many faces the reader saw at once (companions, tailgating)
    live: bool | None = None  # liveness verdict; None = not checked
    snapshot: str | None = None  # reference to a stored snapshot image
    # Monotonic seconds when the camera captured the frame it was decided on (None: not from a
    # camera); the decision does not read it, the gate's latency figures start from it.
    captured: float | None = None

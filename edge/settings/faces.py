"""Settings of face recognition: thresholds, voting, detection scale, liveness, snapshots."""

from __future__ import annotations

from pydantic import Field, model_validator

from edge.settings.core import Section


class LivenessSettings(Section):
    """How a living face is told from a photo held up to the camera (docs/faces.md)."""

    window_s: float = Field(
        1.5, ge=0.5, le=10, description="Seconds of landmarks judged together."
    )
    wait_s: float = Field(
        4.0, ge=0.5, le=30,
        description="How long a decision that needs liveness waits for a live window before "
        "denying with 'liveness check failed'.",
    )
    min_face_px: int = Field(
        80, ge=40, le=1000,
        description="Faces shorter than this (pixels) are not judged: their landmark noise "
        "looks like motion. The person is asked to come closer by the wait running out.",
    )
    blink_ratio: float = Field(
        0.6, gt=0, lt=1,
        description="Both eyes closing below this fraction of their open size is a blink.",
    )
    mouth_motion: float = Field(
        0.14, ge=0, le=1,
        description="Change of the mouth opening (inner lips over width, 10th to 90th "
        "percentile) that counts as a moving mouth.",
    )
    nonplanar: float = Field(
        0.08, ge=0, le=1,
        description="Landmark motion no flat picture can make (after fitting the head pose), "
        "in eye-distance units, that counts as a solid face moving.",
    )


class FacesSettings(Section):
    """Face identification at the readers."""

    enabled: bool = Field(False, description="Identify faces at the readers.")
    tolerance: float = Field(
        0.6, gt=0.2, le=1.0,
        description="Largest face distance accepted as a match in a gallery of up to 10 "
        "persons; also the one-to-one tolerance of `gridgate faces compare`.",
    )
    tighten_per_decade: float = Field(
        0.04, ge=0, le=0.2,
        description="How much the accepted distance shrinks each time the number of enrolled "
        "persons grows tenfold beyond 10 (a stranger has N chances to look like someone).",
    )
    min_tolerance: float = Field(
        0.45, gt=0.2, le=1.0, description="The accepted distance never shrinks below this."
    )
    margin: float = Field(
        0.05, ge=0, le=0.5,
        description="The closest person must be at least this much closer than the second "
        "closest, or the face is unknown (look-alikes, relatives).",
    )
    votes: int = Field(
        2, ge=1, le=10,
        description="Identifications from different frames that must agree (with none for "
        "anyone else) before a face is taken as a person.",
    )
    max_encodings: int = Field(
        6, ge=1, le=20,
        description="Encodings computed at most per followed face (each costs about 8 ms, "
        "75 ms where dlib's own code computes them); "
        "the first `votes` on consecutive frames, later ones only when those disagree.",
    )
    reencode_s: float = Field(
        0.2, ge=0, le=5,
        description="Seconds between further encodings of a face whose first votes did not "
        "agree (a turned head, a poor first view).",
    )
    unknown_after_s: float = Field(
        1.0, ge=0, le=30,
        description="A face not identified after this many seconds (and `votes` encodings) is "
        "unknown and denied; the wait lets a visitor show a pass first.",
    )
    detect_width: int = Field(
        640, ge=160, le=3840,
        description="Frames wider than this are scaled down to this width for face detection "
        "(dlib's detector finds faces from 80 pixels in the scaled frame).",
    )
    min_face_px: int = Field(
        60, ge=20, le=2000,
        description="Faces shorter than this (full-frame pixels) are passers-by far away: not "
        "identified and not counted as companions.",
    )
    full_detect_every: int = Field(
        3, ge=1, le=30,
        description="While faces are followed, the whole frame is searched for new faces only "
        "every this many frames; in between only around the followed faces.",
    )
    lost_after_s: float = Field(
        1.0, gt=0, le=30, description="A followed face not seen for this long is gone."
    )
    motion_fraction: float = Field(
        0.003, ge=0, le=1,
        description="Fraction of a small grey copy of the frame that must change for the scene "
        "to count as moving; while nothing moves and no face is followed, detection sleeps.",
    )
    motion_hold_s: float = Field(
        2.0, ge=0, le=60, description="Detection keeps running this long after the last motion."
    )
    idle_check_s: float = Field(
        2.0, gt=0, le=60,
        description="Even in a still scene, look for faces this often (a person standing very "
        "still).",
    )
    encode_workers: int = Field(
        0, ge=0, le=8,
        description="Worker processes that compute face encodings beside the reader threads. "
        "0 (encode in the reader thread) is fastest with the numpy encoder; 1 helps only where "
        "encodings fall back to dlib's slower code (see `gridgate doctor`).",
    )
    pass_wait_s: float = Field(
        2.0, ge=0, le=30,
        description="How long a pass whose colour requires the holder's face waits for the "
        "face to be identified before 'face the camera' is the answer.",
    )
    repeat_seconds: float = Field(
        5.0, ge=0, le=600,
        description="The same person identified again (or an unknown face again) at a reader "
        "within this many seconds is the same passage, not a new one.",
    )
    unknown_snapshot_days: int = Field(
        7, ge=0, le=365,
        description="Days to keep the snapshot of an unknown face; 0 keeps none.",
    )
    liveness: LivenessSettings = Field(default_factory=LivenessSettings)

    @model_validator(mode="after")
    def _check_tolerances(self) -> FacesSettings:
        if self.min_tolerance > self.tolerance:
            raise ValueError(f"faces.min_tolerance ({self.min_tolerance}) is above "
                             f"faces.tolerance ({self.tolerance}); lower it")
        if self.max_encodings < self.votes:
            raise ValueError(f"faces.max_encodings ({self.max_encodings}) must be at least "
                             f"faces.votes ({self.votes})")
        return self

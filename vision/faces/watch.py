"""A reader's face path per frame: motion gate -> detect -> track -> encode a few -> vote.

Detection is skipped while nothing moves and no face is being followed (with a look every
`idle_check_s` anyway). A face is encoded only until its votes settle (usually twice), at most
`max_encodings` times; the first encoding of a new face goes to a worker process when one is
free, so the second vote, computed here on the next frame, finishes at about the same time.
"""

from __future__ import annotations

import logging
from concurrent.futures import wait
from dataclasses import dataclass, field

from vision.faces.detect import FaceDetector, to_gray
from vision.faces.encode import FaceEncoder, encode_chip
from vision.faces.identify import Identifier
from vision.faces.motion import MotionGate
from vision.faces.pool import EncoderPool
from vision.faces.track import FaceTracker, Track
from vision.facts import FaceSeen, Frame

log = logging.getLogger(__name__)


@dataclass
class FaceView:
    """What the face path saw in one frame."""

    faces: list[Track] = field(default_factory=list)  # visible in this frame, largest first
    detected: bool = False  # detection ran on this frame
    moving: bool = False

    def facts(self, seq: int) -> list[FaceSeen]:
        """The faces as vision facts (for the panel's overlay)."""
        return [FaceSeen(box=t.box, track_id=t.track_id, frame_seq=seq) for t in self.faces]


@dataclass
class FaceWatchStats:
    """Counters for benchmarks and the panel."""

    frames: int = 0
    detections: int = 0
    full_detections: int = 0  # whole-frame searches (the others look only near known faces)
    encodings: int = 0
    encodings_in_worker: int = 0


class FaceWatch:
    """Per-frame face work for one reader."""

    def __init__(self, *, detector: FaceDetector, encoder: FaceEncoder, identifier: Identifier,
                 tracker: FaceTracker, motion: MotionGate | None = None,
                 pool: EncoderPool | None = None, max_encodings: int = 6,
                 min_face_px: int = 60, idle_check_s: float = 2.0,
                 full_detect_every: int = 3, reencode_s: float = 0.2,
                 vote_wait_s: float = 0.05, liveness: bool = True) -> None:
        self.detector = detector
        self.encoder = encoder
        self.identifier = identifier
        self.tracker = tracker
        self.motion = motion
        self.pool = pool
        self.max_encodings = max_encodings
        self.min_face_px = min_face_px
        self.idle_check_s = idle_check_s
        self.full_detect_every = full_detect_every
        self.reencode_s = reencode_s
        self.vote_wait_s = vote_wait_s
        self.liveness = liveness
        self.stats = FaceWatchStats()
        self._last_detection: float | None = None
        self._since_full = 0

    def observe(self, frame: Frame) -> FaceView:
        """Look at one frame; returns the faces visible in it with their votes so far."""
        now = frame.arrived
        self.stats.frames += 1
        moving = self.motion.update(frame.image, now) if self.motion is not None else True
        self._collect()
        idle = (not moving and not self.tracker.tracks and self._last_detection is not None
                and now - self._last_detection < self.idle_check_s)
        if idle:
            return FaceView(moving=False)
        self._last_detection = now
        self.stats.detections += 1
        gray = to_gray(frame.image)
        followed = [t.box for t in self.tracker.tracks.values()]
        self._since_full += 1
        if followed and self._since_full < self.full_detect_every:
            # Between full searches only the faces already followed are looked for; a new
            # face is found by the next full search, at most `full_detect_every` frames later.
            found = self.detector.detect_near(gray, followed)
        else:
            self._since_full = 0
            self.stats.full_detections += 1
            found = self.detector.detect(gray)
        boxes = [b for b in found if b[2] - b[0] >= self.min_face_px]
        faces = sorted(self.tracker.update(boxes, now, frame.seq), key=lambda t: -t.height)
        # Order matters for latency: hand chips to a free worker first, then the encodings
        # that must be computed here, then the liveness landmarks.
        chips = [(t, self.encoder.chip(frame.image, t.box)) for t in faces
                 if self._wants_encoding(t, now)]
        inline = []
        for track, chip in chips:
            track.encodings_started += 1
            track.last_encoded = now
            self.stats.encodings += 1
            future = self.pool.try_submit(chip) if self.pool is not None else None
            if future is None:
                inline.append((track, chip))
            else:
                self.stats.encodings_in_worker += 1
                track.pending.append(future)
        for track, chip in inline:
            track.votes.add(self.identifier.identify(encode_chip(chip)))
        if inline:
            self._await_last_votes(now)
        if self.liveness:
            for track in faces:
                track.liveness.add(now, self.encoder.landmarks(frame.image, track.box),
                                   track.height)
        self._collect()
        return FaceView(faces, True, moving)

    def _await_last_votes(self, now: float) -> None:
        """Wait briefly for worker votes that complete a face: the worker started before the
        encoding just done here, so its result is due, and the next frame would come later."""
        for track in self.tracker.tracks.values():
            if (track.pending and not track.settled(now)
                    and len(track.votes.votes) + len(track.pending) >= track.votes.needed):
                wait(track.pending, timeout=self.vote_wait_s)

    def _wants_encoding(self, track: Track, now: float) -> bool:
        if track.settled(now) or track.encodings_started >= self.max_encodings:
            return False
        # The first `needed` votes come from consecutive frames (speed); more, only when those
        # did not agree, are spaced out so they see the face from other angles.
        return (track.encodings_started < track.votes.needed
                or now - track.last_encoded >= self.reencode_s)

    def _collect(self) -> None:
        for track in self.tracker.tracks.values():
            for future in [f for f in track.pending if f.done()]:
                track.pending.remove(future)
                try:
                    encoding = future.result()
                except Exception as exc:  # a crashed worker loses one vote, not the reader
                    log.error("face encoding in a worker failed: %s", exc)
                    continue
                track.votes.add(self.identifier.identify(encoding))

    def close(self) -> None:
        """Forget the faces being followed."""
        self.tracker.clear()

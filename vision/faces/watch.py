"""A reader's face path per frame: motion gate -> detect -> track -> encode a few -> vote.

Detection is skipped while nothing moves and no face is being followed (with a look every
`idle_check_s` anyway). A face is encoded only until its votes settle (usually twice: this frame
and the next), at most `max_encodings` times; with an encoder pool (`faces.encode_workers`) the
first encoding goes to a worker process, so that a slow encoder's two votes overlap.

Once settled, a face is checked again every `recheck_s` and whenever its box jumps: a pass must
not work in someone else's hand because they stepped into the spot its holder stood in. An
encoding naming someone else (or `votes` in a row not naming the person) restarts the track as
a new face, with no identity and no liveness.
"""

from __future__ import annotations

import logging
from concurrent.futures import wait
from dataclasses import dataclass, field

from vision.faces.detect import FaceDetector, to_gray
from vision.faces.encode import FaceEncoder, encode_chip
from vision.faces.identify import Identification, Identifier
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
                 recheck_s: float = 1.0, vote_wait_s: float = 0.05,
                 liveness: bool = True) -> None:
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
        # Each check of a settled face costs one encoding (~8 ms, ~75 ms on dlib's own code);
        # once a second keeps a person standing at the reader near 1 % of a core. Decisions on
        # a pass that needs the face do not rely on it: they encode the deciding frame (verify).
        self.recheck_s = recheck_s
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
        self._collect(frame.seq)
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
            track.jumped = False
            self.stats.encodings += 1
            future = self.pool.try_submit(chip) if self.pool is not None else None
            if future is None:
                inline.append((track, chip))
            else:
                self.stats.encodings_in_worker += 1
                track.pending[future] = now
        for track, chip in inline:
            self._vote(track, self.identifier.identify(encode_chip(chip)), now, frame.seq)
        if inline:
            self._await_last_votes(now)
        if self.liveness:
            for track in faces:
                track.liveness.add(now, self.encoder.landmarks(frame.image, track.box),
                                   track.height)
        self._collect(frame.seq)
        return FaceView(faces, True, moving)

    def followed(self) -> list[Track]:
        """Every face followed now (seen within the tracker's memory, so one missed detection
        does not hide it), largest first."""
        return sorted(self.tracker.tracks.values(), key=lambda t: -t.height)

    def verify(self, track: Track, frame: Frame) -> str | None:
        """Who the face of `track` is in this very frame, by a fresh encoding counted as a vote
        (one naming someone else restarts the track); None if not in this frame or not sure."""
        now = frame.arrived
        if track.last_seen != now:
            return None  # not found in this frame: nothing to look at
        if track.confirmed_at != now:
            track.encodings_started += 1
            track.last_encoded = now
            self.stats.encodings += 1
            encoding = encode_chip(self.encoder.chip(frame.image, track.box))
            self._vote(track, self.identifier.identify(encoding), now, frame.seq)
        return track.person_id() if track.confirmed_at == now else None

    def _vote(self, track: Track, identification: Identification, at: float, seq: int) -> None:
        """Count one identification of `track` from the frame that arrived at `at`."""
        winner = track.person_id()
        named = identification.person_id
        if winner is not None and named != winner:
            track.doubts += 1
            if named is None and track.doubts < track.votes.needed:
                return  # one poor view (a turned head) is not yet someone else
            # Someone else now stands where the person stood: a new face, decided afresh.
            log.info("face track %d (%s) now looks like %s: restarted", track.track_id,
                     winner, named or "someone unknown")
            self.tracker.restart(track, at, seq)
            track.encodings_started = 1  # this encoding
        elif winner is None and named is not None and track.settled(at):
            # Known to be unknown, and now someone enrolled: not the same face either.
            self.tracker.restart(track, at, seq)
            track.encodings_started = 1
        track.votes.add(identification)
        if named is not None:
            track.named_at[named] = max(track.named_at.get(named, at), at)
            if named == track.person_id():
                track.doubts = 0

    def _await_last_votes(self, now: float) -> None:
        """Wait briefly for worker votes that complete a face: the worker started before the
        encoding just done here, so its result is due, and the next frame would come later."""
        for track in self.tracker.tracks.values():
            if (track.pending and not track.settled(now)
                    and len(track.votes.votes) + len(track.pending) >= track.votes.needed):
                wait(track.pending, timeout=self.vote_wait_s)

    def _wants_encoding(self, track: Track, now: float) -> bool:
        if track.settled(now):
            return not track.pending and (track.jumped
                                          or now - track.last_encoded >= self.recheck_s)
        if track.encodings_started >= self.max_encodings:
            return False
        # The first `needed` votes come from consecutive frames (speed); more, only when those
        # did not agree, are spaced out so they see the face from other angles.
        return (track.encodings_started < track.votes.needed
                or now - track.last_encoded >= self.reencode_s)

    def _collect(self, seq: int) -> None:
        for track in list(self.tracker.tracks.values()):  # a vote may restart (renumber) it
            for future in [f for f in track.pending if f.done()]:
                at = track.pending.pop(future, None)
                if at is None:
                    continue  # dropped by a restart of the track
                try:
                    encoding = future.result()
                except Exception as exc:  # a crashed worker loses one vote, not the reader
                    log.error("face encoding in a worker failed: %s", exc)
                    continue
                self._vote(track, self.identifier.identify(encoding), at, seq)

    def close(self) -> None:
        """Forget the faces being followed."""
        self.tracker.clear()

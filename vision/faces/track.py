"""Following faces from frame to frame, so each person is encoded once or twice, not every frame."""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

from vision.faces.boxes import Box, centre, iou
from vision.faces.liveness import LivenessParams, LivenessWindow
from vision.faces.votes import VoteBox


@dataclass
class Track:
    """One face followed across frames, with its votes and its liveness window."""

    track_id: int
    box: Box
    first_seen: float  # monotonic arrival of the first frame it was seen in
    first_seq: int
    last_seen: float
    votes: VoteBox
    liveness: LivenessWindow
    encodings_started: int = 0
    last_encoded: float = float("-inf")
    # Encodings computing in a worker, with the arrival of the frame each was cut from.
    pending: dict[Future[np.ndarray], float] = field(default_factory=dict, repr=False)
    hits: int = 1
    doubts: int = 0  # re-checks in a row that did not name the identified person
    # Arrival of the newest frame whose encoding named each person.
    named_at: dict[str, float] = field(default_factory=dict, repr=False)
    jumped: bool = False  # the box moved further than a face moves between frames

    @property
    def height(self) -> int:
        """Box height in pixels."""
        return self.box[2] - self.box[0]

    def age(self, now: float) -> float:
        """Seconds since the face appeared."""
        return now - self.first_seen

    def person_id(self) -> str | None:
        """Who the votes agree the face is, if they do."""
        return self.votes.winner()

    @property
    def confirmed_at(self) -> float:
        """Arrival of the newest frame whose encoding named the identified person."""
        person = self.person_id()
        return self.named_at.get(person, float("-inf")) if person is not None else float("-inf")

    def settled(self, now: float) -> bool:
        """Identified, or known to be unknown."""
        return self.votes.settled(self.age(now))


class FaceTracker:
    """Matches each frame's boxes to the faces of previous frames (overlap, then nearness)."""

    def __init__(self, *, votes_needed: int = 2, unknown_after_s: float = 1.0,
                 lost_after_s: float = 1.0, min_iou: float = 0.2, gap_s: float = 0.3,
                 jump_iou: float = 0.3, liveness: LivenessParams | None = None) -> None:
        self.votes_needed = votes_needed
        self.unknown_after_s = unknown_after_s
        self.lost_after_s = lost_after_s
        self.min_iou = min_iou
        # A face missed for longer than gap_s is not taken up again: whoever appears there next
        # is a new face (the detector misses the same face for up to ~0.15 s on the clip).
        self.gap_s = gap_s
        self.jump_iou = jump_iou
        self.liveness = liveness or LivenessParams()
        self.tracks: dict[int, Track] = {}
        self._next_id = 1
        self._empty_since: float | None = None

    def update(self, boxes: list[Box], now: float, seq: int) -> list[Track]:
        """Assign this frame's boxes to tracks (new ones for new faces); returns them in order."""
        if boxes:
            self._empty_since = None
        elif self._empty_since is None:
            self._empty_since = now
        if self._empty_since is not None and now - self._empty_since >= self.gap_s:
            self.tracks.clear()  # nobody in view for a while: the next face is someone new
        for track_id in [t.track_id for t in self.tracks.values()
                         if now - t.last_seen > self.lost_after_s]:
            del self.tracks[track_id]
        live = [t for t in self.tracks.values() if now - t.last_seen <= self.gap_s]
        pairs = sorted(((self._affinity(t.box, b), t.track_id, i)
                        for t in live for i, b in enumerate(boxes)), reverse=True)
        assigned: dict[int, Track] = {}
        taken: set[int] = set()
        for score, track_id, i in pairs:
            if score <= 0 or track_id in taken or i in assigned:
                continue
            track = self.tracks[track_id]
            if iou(track.box, boxes[i]) < self.jump_iou:
                track.jumped = True  # maybe someone else: the watch checks the face again
            track.box, track.last_seen = boxes[i], now
            track.hits += 1
            assigned[i] = track
            taken.add(track_id)
        for i, box in enumerate(boxes):
            if i not in assigned:
                assigned[i] = self._start(box, now, seq)
        return [assigned[i] for i in range(len(boxes))]

    def _affinity(self, old: Box, new: Box) -> float:
        overlap = iou(old, new)
        if overlap >= self.min_iou:
            return 1.0 + overlap
        # A fast-moving face may not overlap its last box: accept a centre within half a face.
        (ox, oy), (nx, ny) = centre(old), centre(new)
        size = max(old[2] - old[0], new[2] - new[0], 1)
        distance = float(np.hypot(nx - ox, ny - oy)) / size
        return 0.5 - distance if distance < 0.5 else 0.0

    def _start(self, box: Box, now: float, seq: int) -> Track:
        for stale in [t for t in self.tracks.values()
                      if now - t.last_seen > self.gap_s and self._affinity(t.box, box) > 0]:
            del self.tracks[stale.track_id]  # the new face stands where a lost one stood
        track = Track(self._next_id, box, now, seq, now,
                      VoteBox(self.votes_needed, self.unknown_after_s),
                      LivenessWindow(self.liveness))
        self.tracks[track.track_id] = track
        self._next_id += 1
        return track

    def restart(self, track: Track, now: float, seq: int) -> None:
        """Make `track` a new face where it stands (a new encoding says it is someone else):
        new id (so whoever decided on the old id decides again), no votes, a fresh liveness
        window."""
        self.tracks.pop(track.track_id, None)
        track.track_id = self._next_id
        self._next_id += 1
        track.first_seen, track.first_seq = now, seq
        track.votes = VoteBox(self.votes_needed, self.unknown_after_s)
        track.liveness = LivenessWindow(self.liveness)
        track.encodings_started = 0
        track.pending.clear()  # encodings of the earlier face
        track.hits = 1
        track.doubts = 0
        track.named_at = {}
        track.jumped = False
        self.tracks[track.track_id] = track

    def clear(self) -> None:
        """Forget every face (the camera picture changed)."""
        self.tracks.clear()

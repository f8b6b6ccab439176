"""A reader with faces: followed faces and scanned passes become observations.

- A face alone: once its votes settle, the person (or "unknown") is decided on, once per face
  and once per `repeat_s` per person; an unknown face's snapshot is kept for a few days.
- A pass whose colour requires the holder's face (policy.face_match_required) or a live face
  (policy.liveness_required) waits up to `pass_wait_s` for the faces in view: the holder's face,
  confirmed by an encoding of the deciding frame, settles the binding; otherwise another
  enrolled face or a settled stranger's face is a mismatch, no face a 'face missing'.
- Faces in view while a pass is decided belong to that passage and are not decided again: the
  binding keeps the ids of the faces it has decided on (a face the tracker restarts as someone
  else gets a new id, and is decided on again).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import numpy as np

from edge.reader.binding import Decide
from edge.settings.faces import FacesSettings
from gate.checkpoint import Outcome
from gate.clock import Clock
from gate.model import Method, Permit, Person, Reader
from gate.observation import Observation
from gate.passes.claims import PassCheck
from gate.rulebook import Rulebook
from vision.faces.detect import FaceDetector
from vision.faces.encode import FaceEncoder
from vision.faces.identify import Identifier, OpenSetRule, Searchable
from vision.faces.liveness import LivenessParams
from vision.faces.motion import MotionGate
from vision.faces.pool import EncoderPool
from vision.faces.track import FaceTracker, Track
from vision.faces.watch import FaceView, FaceWatch
from vision.facts import FaceSeen, Frame

log = logging.getLogger(__name__)
# Key of unknown faces in the repeat memory; never a person id.
UNKNOWN = "\0unknown"


class PersonLookup(Protocol):
    """Who an observation is about (gate.checkpoint.Checkpoint provides it)."""

    def resolve(self, observation: Observation) -> tuple[Person | None, Permit | None]:
        """The person and the permit that applies to them."""
        ...


class Snapshots(Protocol):
    """Where a picture of the scene is kept as evidence (the unknown-face snapshots)."""

    def save(self, image: np.ndarray, when: datetime) -> str | None:
        """Store the image; its reference, or None when not kept."""
        ...


def open_set_rule(faces: FacesSettings) -> OpenSetRule:
    """The identification rule the settings describe."""
    return OpenSetRule(tolerance=faces.tolerance, tighten_per_decade=faces.tighten_per_decade,
                       min_tolerance=faces.min_tolerance, margin=faces.margin)


def liveness_params(faces: FacesSettings) -> LivenessParams:
    """The liveness thresholds the settings describe."""
    live = faces.liveness
    return LivenessParams(window_s=live.window_s, min_face_px=live.min_face_px,
                          blink_ratio=live.blink_ratio, mouth_motion=live.mouth_motion,
                          nonplanar=live.nonplanar)


def build_face_watch(faces: FacesSettings, gallery: Searchable,
                     pool: EncoderPool | None) -> FaceWatch:
    """One reader's face path, from the settings."""
    tracker = FaceTracker(votes_needed=faces.votes, unknown_after_s=faces.unknown_after_s,
                          lost_after_s=faces.lost_after_s, liveness=liveness_params(faces))
    motion = MotionGate(min_fraction=faces.motion_fraction, hold_s=faces.motion_hold_s)
    return FaceWatch(detector=FaceDetector(detect_width=faces.detect_width),
                     encoder=FaceEncoder(), identifier=Identifier(gallery, open_set_rule(faces)),
                     tracker=tracker, motion=motion, pool=pool,
                     max_encodings=faces.max_encodings, min_face_px=faces.min_face_px,
                     idle_check_s=faces.idle_check_s, full_detect_every=faces.full_detect_every,
                     reencode_s=faces.reencode_s)


@dataclass
class _PendingPass:
    check: PassCheck
    holder: str | None
    needs_face: bool
    needs_live: bool
    since: float  # monotonic


class FaceBinding:
    """The binding of a reader with faces: passes meet their holders' faces here."""

    def __init__(self, reader: Reader, *, watch: FaceWatch, lookup: PersonLookup,
                 rules: Rulebook, clock: Clock, snapshots: Snapshots | None = None,
                 pass_wait_s: float = 2.0, liveness_wait_s: float = 4.0,
                 repeat_s: float = 5.0) -> None:
        self.reader = reader
        self.watch = watch
        self.lookup = lookup
        self.rules = rules
        self.clock = clock
        self.snapshots = snapshots
        self.pass_wait_s = pass_wait_s
        self.liveness_wait_s = liveness_wait_s
        self.repeat_s = repeat_s
        self.view = FaceView()
        self._frame: Frame | None = None
        self._pending: list[_PendingPass] = []
        self._recent: dict[str, tuple[float, bool]] = {}  # key -> (monotonic, granted)
        self._decided: set[int] = set()  # ids of the faces a passage was decided with

    def observe(self, frame: Frame) -> None:
        """Run the face path on a frame; called first for every frame."""
        self._frame = frame
        self.view = self.watch.observe(frame)
        # Faces no longer followed cannot come back under the same id.
        self._decided &= {t.track_id for t in self.watch.followed()}
        if self._pending:
            self._mark(self.view.faces)  # a face in view while a pass waits is that passage's

    def faces_in(self, frame: Frame) -> list[FaceSeen]:
        """The faces of the current frame, as vision facts."""
        return self.view.facts(frame.seq)

    @property
    def waiting(self) -> bool:
        """True while a scanned pass waits for its holder's face."""
        return bool(self._pending)

    def scanned(self, check: PassCheck, seen_at: datetime, decide: Decide) -> Outcome | None:
        """A new pass scan; its outcome now, or None when it waits for a face (or repeats)."""
        mono = self.clock.monotonic()
        holder = check.claims.person_id if check.claims else None
        if holder is not None and self._repeats(holder, mono, granted_only=True):
            log.debug("reader %s: pass of %s right after their face passage; same passage",
                      self.reader.reader_id, holder)
            return None
        probe = Observation(self.reader, Method.PASS, seen_at, pass_check=check)
        person, permit = self.lookup.resolve(probe)
        policy = self.rules.policy
        colour = permit.colour if permit is not None and person is not None else None
        pending = _PendingPass(check, holder, colour in policy.face_match_required,
                               colour in policy.liveness_required, mono)
        self._mark(self.view.faces)
        outcome = self._try_pass(pending, mono, decide)
        if outcome is None:
            self._pending.append(pending)
        return outcome

    def settle(self, decide: Decide) -> list[Outcome]:
        """Decide what is ready after this frame: waiting passes, then faces alone."""
        mono = self.clock.monotonic()
        outcomes = []
        for pending in list(self._pending):
            outcome = self._try_pass(pending, mono, decide)
            if outcome is not None:
                self._pending.remove(pending)
                outcomes.append(outcome)
        if not self._pending:
            outcomes += self._faces_alone(mono, decide)
        return outcomes

    # -- passes -------------------------------------------------------------------------

    def _try_pass(self, pending: _PendingPass, mono: float, decide: Decide) -> Outcome | None:
        faces = self.watch.followed()
        named = [t for t in faces if pending.holder is not None
                 and t.person_id() == pending.holder]
        # The face bound to the pass is the one seen now: a track named after the holder
        # earlier may since have been taken over by someone stepping into the same spot.
        holder = next((t for t in named
                       if not pending.needs_face or self._verified(t, pending.holder)), None)
        waited = mono - pending.since
        limit = max(self.pass_wait_s, self.liveness_wait_s if pending.needs_live else 0.0)
        final = waited >= limit
        if pending.needs_face and holder is None and not final:
            return None
        # Faces named after the holder but not confirmed now prove nothing either way.
        others = [t for t in faces if t not in named]
        candidate = holder or next((t for t in others if t.person_id() is not None), None)
        if candidate is None and others:
            candidate = others[0]
        if pending.needs_live and not final and (candidate is None
                                                 or candidate.liveness.live is not True):
            return None
        person_id = candidate.person_id() if candidate is not None else None
        # A stranger's face presents the pass: not its holder's.
        stranger = (person_id is None and pending.needs_face and candidate is not None
                    and candidate.settled(mono))
        snapshot = None
        if pending.needs_face and person_id != pending.holder and self._frame is not None:
            snapshot = self._snapshot()  # evidence of a pass in someone else's hand
        observation = Observation(
            self.reader, Method.PASS_FACE if person_id is not None or stranger else Method.PASS,
            self.clock.now(), pass_check=pending.check, face_checked=True,
            face_person_id=person_id, face_unknown=stranger,
            face_distance=candidate.votes.distance() if candidate is not None else None,
            faces_in_view=len(faces),
            live=candidate.liveness.live if candidate is not None else None, snapshot=snapshot)
        self._mark(faces)
        outcome = decide(observation)
        if pending.holder is not None:
            self._recent[pending.holder] = (mono, outcome.decision.granted)
        return outcome

    def _verified(self, track: Track, holder: str | None) -> bool:
        """True when the face of `track` in the current frame is the pass holder's."""
        return self._frame is not None and self.watch.verify(track, self._frame) == holder

    # -- faces alone --------------------------------------------------------------------

    def _faces_alone(self, mono: float, decide: Decide) -> list[Outcome]:
        outcomes = []
        for track in self.view.faces:
            if track.track_id in self._decided or not track.settled(mono):
                continue
            person_id = track.person_id()
            key = person_id or UNKNOWN
            if self._repeats(key, mono):
                self._mark([track])
                continue
            if person_id is not None and not self._liveness_ready(track, person_id, mono):
                continue
            snapshot = self._snapshot() if person_id is None else None
            observation = Observation(
                self.reader, Method.FACE, self.clock.now(), face_checked=True,
                face_person_id=person_id, face_distance=track.votes.distance(),
                faces_in_view=len(self.watch.followed()), live=track.liveness.live,
                snapshot=snapshot)
            self._mark([track])
            outcome = decide(observation)
            self._recent[key] = (mono, outcome.decision.granted)
            outcomes.append(outcome)
        return outcomes

    def _liveness_ready(self, track: Track, person_id: str, mono: float) -> bool:
        """False while the person's colour needs a live face that has not shown yet."""
        probe = Observation(self.reader, Method.FACE, self.clock.now(), face_checked=True,
                            face_person_id=person_id)
        _, permit = self.lookup.resolve(probe)
        if permit is None or permit.colour not in self.rules.policy.liveness_required:
            return True
        return track.liveness.live is True or track.age(mono) >= self.liveness_wait_s

    # -- helpers ------------------------------------------------------------------------

    def _mark(self, tracks: list[Track]) -> None:
        """These faces took part in a passage: not decided on alone."""
        self._decided.update(t.track_id for t in tracks)

    def _repeats(self, key: str, mono: float, *, granted_only: bool = False) -> bool:
        """True when `key` was decided on within `repeat_s` (and granted, if asked)."""
        for old in [k for k, (t, _) in self._recent.items() if mono - t > self.repeat_s]:
            del self._recent[old]
        last = self._recent.get(key)
        return last is not None and (last[1] or not granted_only)

    def _snapshot(self) -> str | None:
        if self.snapshots is None or self._frame is None:
            return None
        return self.snapshots.save(self._frame.image, self.clock.now())

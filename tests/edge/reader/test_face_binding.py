"""The face binding's own record of decided faces, on vision's real tracker and tracks with a
scripted watch in place of dlib: a face is decided on once, a face the tracker restarts as
someone else (a new id) is decided on again, and faces of a passage are not decided alone."""

from __future__ import annotations

import numpy as np

from edge.reader.faces import FaceBinding
from gate.checkpoint import Outcome
from gate.clock import ManualClock
from gate.model import Colour, Decision, Direction, Permit, Person, Reader
from gate.observation import Observation
from gate.passes import TrustList
from gate.passes.claims import PassCheck, PassReason
from gate.policy import Policy
from gate.rulebook import Rulebook
from tests.gate.passes_support import NOW, claims
from vision.faces.identify import Identification
from vision.faces.liveness import LivenessParams
from vision.faces.track import FaceTracker, Track
from vision.faces.watch import FaceView
from vision.facts import Frame

READER = Reader("in-cam", "gate-east", Direction.IN)
BOX = (100, 300, 300, 100)


def named(person: str | None) -> Identification:
    return Identification(person, 0.3 if person else 0.8, person, None, 0.6,
                          "match" if person else "too_far")


class ScriptedWatch:
    """FaceWatch's surface over a real FaceTracker; each frame's identification is scripted."""

    def __init__(self) -> None:
        self.tracker = FaceTracker(votes_needed=2, unknown_after_s=1.0, lost_after_s=2.0,
                                   liveness=LivenessParams())
        self.says: str | None = None

    def observe(self, frame: Frame) -> FaceView:
        faces = self.tracker.update([BOX], frame.arrived, frame.seq)
        for track in faces:
            if track.person_id() not in (None, self.says):
                self.tracker.restart(track, frame.arrived, frame.seq)  # someone else now
            track.votes.add(named(self.says))
        return FaceView(faces, True, True)

    def followed(self) -> list[Track]:
        return list(self.tracker.tracks.values())

    def verify(self, track: Track, frame: Frame) -> str | None:
        return self.says


class Everyone:
    """Everyone enrolled is a green resident."""

    def resolve(self, observation: Observation) -> tuple[Person | None, Permit | None]:
        who = observation.face_person_id
        return (Person(who, f"h-{who}"), Permit(who, Colour.GREEN)) if who else (None, None)


def decided(observation: Observation, log: list[Observation]) -> Outcome:
    log.append(observation)
    return Outcome(observation, Decision(True, "green.in", "", ""), None, True, 0.0)


def play(binding: FaceBinding, watch: ScriptedWatch, clock: ManualClock, says: str | None,
         frames: int, log: list[Observation], start: int) -> None:
    watch.says = says
    for seq in range(start, start + frames):
        binding.observe(Frame(np.zeros((8, 8, 3), np.uint8), seq, clock.monotonic()))
        binding.settle(lambda o: decided(o, log))
        clock.advance(0.1)


def test_a_face_is_decided_once_and_again_when_it_becomes_someone_else() -> None:
    clock = ManualClock(NOW)
    watch = ScriptedWatch()
    binding = FaceBinding(READER, watch=watch, lookup=Everyone(),  # type: ignore[arg-type]
                          rules=Rulebook(trust=TrustList(), policy=Policy()), clock=clock,
                          repeat_s=0.5)
    log: list[Observation] = []
    play(binding, watch, clock, "p-lin", 20, log, start=1)
    assert [o.face_person_id for o in log] == ["p-lin"]  # 20 frames of one face: one passage
    first_id = watch.followed()[0].track_id
    # Someone steps into the same spot: the tracker restarts the track under a new id.
    play(binding, watch, clock, "p-alex", 20, log, start=21)
    assert watch.followed()[0].track_id != first_id
    assert [o.face_person_id for o in log] == ["p-lin", "p-alex"]
    # Lin comes back after the repeat window: the restarted track is a third face.
    play(binding, watch, clock, "p-lin", 20, log, start=41)
    assert [o.face_person_id for o in log] == ["p-lin", "p-alex", "p-lin"]


def test_faces_in_view_while_a_pass_waits_are_that_passages_and_not_decided_alone() -> None:
    clock = ManualClock(NOW)
    watch = ScriptedWatch()
    policy = Policy.model_validate({"face_match_required": ["green"]})
    binding = FaceBinding(READER, watch=watch, lookup=Everyone(),  # type: ignore[arg-type]
                          rules=Rulebook(trust=TrustList(), policy=policy), clock=clock,
                          pass_wait_s=0.3)
    log: list[Observation] = []
    frame = Frame(np.zeros((8, 8, 3), np.uint8), 1, clock.monotonic())
    watch.says = None  # the face is not known yet when the pass is shown
    binding.observe(frame)
    check = PassCheck(True, PassReason.OK, "valid", claims(person_id="p-lin"), "k")

    class Holder:
        def resolve(self, observation: Observation) -> tuple[Person | None, Permit | None]:
            return Person("p-lin", "h-1"), Permit("p-lin", Colour.GREEN)

    binding.lookup = Holder()  # type: ignore[assignment]
    assert binding.scanned(check, NOW, lambda o: decided(o, log)) is None  # waits
    play(binding, watch, clock, "p-lin", 15, log, start=2)
    assert len(log) == 1 and log[0].pass_check is check  # one passage: the pass with its face
    assert log[0].face_person_id == "p-lin"

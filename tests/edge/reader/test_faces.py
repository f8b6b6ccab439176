"""Faces in the gate: the real clip through GateApp's reader pipeline (mock relay, SQLite journal).

A face alone opens for a green resident; a stranger is denied and photographed; a pass in someone
else's hand is denied and alerted; a second face makes a yellow exit a companion exit; a photo
held up fails where liveness is required.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from gpiozero.pins.mock import MockFactory
from pydantic import ValidationError

from edge.app import GateApp
from edge.bench.faces import face_gate_settings
from edge.demo.cards import place_card, render_card
from edge.reader.faces import FaceBinding
from edge.settings.faces import FacesSettings
from gate.checkpoint import Outcome
from gate.clock import ManualClock
from gate.faces.snapshots import UnknownFaceSnapshots
from gate.model import Colour, Method, Permit, Person
from gate.passes import encode_pass
from tests.gate.passes_support import COMPOUND, NOW, PLATFORM, claims
from tests.vision.faces.photo_attack import hand_held_photo
from tests.vision.faces.scenes import head, scene
from vision.faces.photos import load_photo
from vision.facts import Frame

pytest_plugins = ["tests.vision.faces.fixtures"]

FPS = 30.0
pytestmark = pytest.mark.slow


class Gate:
    """A face-enabled gate fed frame by frame at 30 fps of manual time."""

    def __init__(self, root: Path, portraits: dict[str, np.ndarray], *,
                 colours: dict[str, Colour], direction: str = "in",
                 policy: dict[str, Any] | None = None) -> None:
        self.clock = ManualClock(NOW)
        self.factory = MockFactory()
        settings = face_gate_settings(root, faces={"encode_workers": 0}, policy=policy,
                                      direction=direction, compound_id=COMPOUND, key=PLATFORM)
        self.app = GateApp(settings, clock=self.clock, pin_factory=self.factory)
        self.app.registry.put_persons(Person(p, household_id=f"h-{p}") for p in portraits)
        self.app.registry.put_permits(Permit(p, c) for p, c in colours.items())
        assert self.app.face_gallery is not None
        self.app.face_gallery.replace_many({p: [e.tolist()] for p, e in portraits.items()})
        self.outcomes: list[Outcome] = []
        self.app.add_outcome_listener(self.outcomes.append)
        self.seq = 0

    def play(self, frames: list[np.ndarray]) -> list[Outcome]:
        pipeline = self.app.pipelines["cam"]
        for image in frames:
            self.seq += 1
            pipeline.process(Frame(image, self.seq, self.clock.monotonic()))
            self.clock.advance(1 / FPS)
        return self.outcomes

    def rows(self, table: str) -> list[dict[str, Any]]:
        return list(self.app.db[table].rows)


@pytest.fixture
def gates(tmp_path: Path, portraits: dict[str, np.ndarray]) -> Iterator[Any]:
    made: list[Gate] = []

    def make(enrolled: dict[str, np.ndarray] | None = None, **options: Any) -> Gate:
        gate = Gate(tmp_path / f"gate-{len(made)}",
                    portraits if enrolled is None else enrolled, **options)
        made.append(gate)
        return gate

    yield make
    for gate in made:
        gate.app.close()
        gate.factory.reset()


def pass_text(person: str, colour: Colour) -> str:
    return encode_pass(claims(person_id=person, pass_id=f"pass-{person}", colour=colour,
                              household_id=f"h-{person}"), PLATFORM)


def with_card(frames: list[np.ndarray], text: str, colour: Colour) -> list[np.ndarray]:
    """The clip at 1280x720 with a pass card held up beside the face."""
    card = render_card(text, colour, "pass")
    out = []
    for i, frame in enumerate(frames):
        big = cv2.resize(frame, (1280, 720), interpolation=cv2.INTER_CUBIC)
        out.append(place_card(big, card, centre=(1060 + (i % 5), 470), width=330, tilt=6,
                              yaw=8, roll=3))
    return out


def with_second_face(frames: list[np.ndarray], faces_data: Path) -> list[np.ndarray]:
    """The clip with Alex Lacamoire's face beside Lin's (two people at the reader)."""
    alex = load_photo(faces_data / "alex-lacamoire.png")[110:345, 150:375]
    alex = cv2.resize(alex, None, fx=0.65, fy=0.65, interpolation=cv2.INTER_AREA)
    out = []
    for frame in frames:
        frame = frame.copy()
        frame[90:90 + alex.shape[0], 470:470 + alex.shape[1]] = alex
        out.append(frame)
    return out


def test_a_resident_is_let_in_by_face_and_a_stranger_is_turned_away(
        gates: Any, clip: list[np.ndarray]) -> None:
    gate = gates(colours={"p-lin": Colour.GREEN})
    outcomes = gate.play(clip[70:])
    assert [(o.decision.rule, o.observation.method) for o in outcomes] == [
        ("green.in", Method.FACE), ("face.unknown", Method.FACE)]
    lin, stranger = outcomes
    assert lin.decision.granted and lin.released and lin.decision.person_id == "p-lin"
    assert lin.observation.face_distance is not None and lin.observation.face_distance < 0.6
    assert not stranger.decision.granted and not stranger.released
    passages = gate.rows("passages")
    assert [p["method"] for p in passages] == ["face", "face"]
    assert passages[0]["snapshot"] is None
    snapshot = passages[1]["snapshot"]
    assert snapshot and (gate.app.settings.storage.state_dir / snapshot).is_file()
    # Kept only for faces.unknown_snapshot_days (7): pruned after that.
    snapshots = UnknownFaceSnapshots(gate.app.settings.storage.state_dir, gate.app.db,
                                     keep_days=7)
    assert snapshots.prune(NOW + timedelta(days=6), force=True) == 0
    assert snapshots.prune(NOW + timedelta(days=8), force=True) == 1
    assert not (gate.app.settings.storage.state_dir / snapshot).exists()


def test_a_pass_in_someone_elses_hand_is_denied_and_alerted(
        gates: Any, clip: list[np.ndarray]) -> None:
    gate = gates(colours={"p-lin": Colour.GREEN, "p-alex": Colour.YELLOW})
    outcomes = gate.play(with_card(clip[78:150], pass_text("p-alex", Colour.YELLOW),
                                   Colour.YELLOW))
    assert len(outcomes) == 1, [o.decision.rule for o in outcomes]
    shared = outcomes[0]
    assert shared.decision.rule == "face.mismatch" and not shared.released
    assert shared.observation.face_person_id == "p-lin"
    assert [a.kind for a in shared.decision.alerts] == ["pass_shared"]
    assert shared.observation.snapshot is not None
    assert [a["kind"] for a in gate.rows("alerts")] == ["pass_shared"]


def test_the_holder_with_their_own_pass_passes_once(gates: Any, clip: list[np.ndarray]) -> None:
    gate = gates(colours={"p-lin": Colour.YELLOW})
    outcomes = gate.play(with_card(clip[78:150], pass_text("p-lin", Colour.YELLOW),
                                   Colour.YELLOW))
    assert [(o.decision.rule, o.observation.method) for o in outcomes] == [
        ("yellow.in", Method.PASS_FACE)]
    assert outcomes[0].observation.face_person_id == "p-lin" and outcomes[0].released


def test_two_faces_at_a_yellow_exit_are_companions(gates: Any, clip: list[np.ndarray],
                                                   faces_data: Path) -> None:
    gate = gates(colours={"p-lin": Colour.YELLOW, "p-alex": Colour.GREEN}, direction="out")
    outcomes = gate.play(with_second_face(clip[82:130], faces_data))  # both from the start
    lin = next(o for o in outcomes if o.decision.person_id == "p-lin")
    assert lin.decision.rule == "yellow.companions" and lin.observation.faces_in_view == 2
    alex = next(o for o in outcomes if o.decision.person_id == "p-alex")
    assert alex.decision.rule == "green.out"
    assert "tailgating" in [a.kind for a in alex.decision.alerts]


def test_where_liveness_is_required_a_held_up_photo_fails_and_the_real_face_passes(
        gates: Any, clip: list[np.ndarray], faces_data: Path) -> None:
    policy = {"liveness_required": ["green"]}
    photo_gate = gates(colours={"p-lin": Colour.GREEN}, policy=policy)
    photo = load_photo(faces_data / "lin-manuel-miranda.png")
    outcomes = photo_gate.play(hand_held_photo(photo, 150, seed=4))
    assert [o.decision.rule for o in outcomes] == ["face.not_live"]
    assert outcomes[0].observation.face_person_id == "p-lin"
    real_gate = gates(colours={"p-lin": Colour.GREEN}, policy=policy)
    outcomes = real_gate.play(clip[78:200])
    assert [o.decision.rule for o in outcomes] == ["green.in"]
    assert outcomes[0].observation.live is True


def test_face_settings_name_the_key_and_the_fix() -> None:
    with pytest.raises(ValidationError, match="faces.min_tolerance"):
        FacesSettings(tolerance=0.5, min_tolerance=0.55)
    with pytest.raises(ValidationError, match="faces.max_encodings"):
        FacesSettings(votes=4, max_encodings=3)
    with pytest.raises(ValidationError, match="extra"):
        FacesSettings(tolerence=0.5)  # type: ignore[call-arg]


@pytest.fixture(scope="module")
def heads(faces_data: Path) -> dict[str, np.ndarray]:
    return {"p-lin": head(faces_data, "lin-manuel-miranda.png"),
            "p-alex": head(faces_data, "alex-lacamoire.png")}


@pytest.mark.parametrize("gap_frames", [0, 15], ids=["same-spot", "after-0.5s-gap"])
def test_a_pass_does_not_work_for_whoever_steps_into_its_holder_s_place(
        gates: Any, heads: dict[str, np.ndarray], gap_frames: int) -> None:
    """Lin (yellow: face match required) stands at the reader and is let in by face; then Alex
    steps into the same spot holding Lin's pass: denied as a pass in someone else's hand."""
    gate = gates(colours={"p-lin": Colour.YELLOW, "p-alex": Colour.GREEN})
    card = render_card(pass_text("p-lin", Colour.YELLOW), Colour.YELLOW, "pass")
    # 6.7 s: longer than faces.repeat_seconds, so Lin's pass is not taken as Lin's passage.
    lin = gate.play([scene(heads["p-lin"], jitter=i % 3) for i in range(200)])
    assert [(o.decision.rule, o.observation.face_person_id) for o in lin] == [
        ("yellow.in", "p-lin")]
    gate.play([scene(None) for _ in range(gap_frames)])
    outcomes = gate.play([scene(heads["p-alex"], jitter=i % 3, card=card)
                          for i in range(90)])[1:]
    assert [(o.decision.rule, o.observation.method) for o in outcomes] == [
        ("face.mismatch", Method.PASS_FACE)]
    shared = outcomes[0]
    assert not shared.released and shared.observation.face_person_id == "p-alex"
    assert [a.kind for a in shared.decision.alerts] == ["pass_shared"]
    assert [a["kind"] for a in gate.rows("alerts")] == ["pass_shared"]


def test_a_stranger_showing_a_resident_s_pass_is_denied_and_alerted(
        gates: Any, portraits: dict[str, np.ndarray], heads: dict[str, np.ndarray]) -> None:
    gate = gates(enrolled={"p-lin": portraits["p-lin"]}, colours={"p-lin": Colour.YELLOW})
    card = render_card(pass_text("p-lin", Colour.YELLOW), Colour.YELLOW, "pass")
    outcomes = gate.play([scene(heads["p-alex"], jitter=i % 3, card=card) for i in range(90)])
    assert [(o.decision.rule, o.released) for o in outcomes] == [("face.mismatch", False)]
    assert [a.kind for a in outcomes[0].decision.alerts] == ["pass_shared"]
    snapshot = outcomes[0].observation.snapshot
    assert snapshot and (gate.app.settings.storage.state_dir / snapshot).is_file()
    assert [a["kind"] for a in gate.rows("alerts")] == ["pass_shared"]


def test_a_pass_needing_a_face_with_no_face_in_view_asks_for_the_face(gates: Any) -> None:
    gate = gates(colours={"p-lin": Colour.YELLOW})
    card = render_card(pass_text("p-lin", Colour.YELLOW), Colour.YELLOW, "pass")
    outcomes = gate.play([scene(None, card=card) for _ in range(75)])
    assert [(o.decision.rule, o.observation.method) for o in outcomes] == [
        ("face.missing", Method.PASS)]
    assert outcomes[0].decision.alerts == () and gate.rows("alerts") == []


def test_unknown_face_snapshots_and_the_journal_write_from_two_threads(gates: Any) -> None:
    """A reader thread keeps snapshots while another records door events: neither loses a row
    (on one shared sqlite connection their transactions interleaved and failed)."""
    gate = gates(colours={"p-lin": Colour.GREEN})
    binding = gate.app.pipelines["cam"].binding
    assert isinstance(binding, FaceBinding)
    snapshots = binding.snapshots
    assert isinstance(snapshots, UnknownFaceSnapshots)
    image = np.zeros((8, 8, 3), np.uint8)
    errors: list[str] = []
    refused = 0
    done = threading.Event()

    def journal() -> None:
        try:
            for i in range(1500):
                try:
                    gate.app.journal.record_door_event("relay17", "released", f"n{i}")
                except Exception as exc:  # counted: the assertion below names them
                    errors.append(str(exc))
        finally:
            done.set()

    def snap() -> None:
        nonlocal refused
        while not done.is_set():
            refused += snapshots.save(image, NOW) is None

    threads = [threading.Thread(target=journal), threading.Thread(target=snap)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == [] and refused == 0
    assert gate.app.db.execute("SELECT count(*) FROM door_events").fetchone()[0] == 1500
    kept = gate.app.db.execute("SELECT count(*) FROM face_snapshots").fetchone()[0]
    files = list((gate.app.settings.storage.state_dir / "snapshots").rglob("*.jpg"))
    assert kept == len(files) > 0

"""A reader without faces, end to end on real parts: a rendered pass card in a camera frame,
zxing-cpp, the checkpoint with a SQLite journal, the relay on gpiozero's MockFactory."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from gpiozero.pins.mock import MockFactory

from edge.demo.cards import place_card, render_card
from edge.reader.binding import PassOnly
from edge.reader.pipeline import ReaderPipeline
from gate.checkpoint import Checkpoint
from gate.clock import ManualClock
from gate.door import Door
from gate.journal import Journal
from gate.model import Colour, Direction, Method, Reader
from gate.passes import encode_pass
from gate.policy import Policy
from gate.registry import Registry
from gate.rulebook import Rulebook
from gate.store import open_database
from gate.vocabulary import Rule
from tests.gate.passes_support import COMPOUND, NOW, PLATFORM, claims, trusting
from vision.facts import FaceSeen, Frame, QrSeen
from vision.qr import make_decoder
from vision.repeat import RepeatFilter

RELAY = 17


@dataclass
class Lane:
    pipeline: ReaderPipeline
    factory: MockFactory
    journal: Journal
    clock: ManualClock


@pytest.fixture
def lane(tmp_path: Path) -> Iterator[Lane]:
    factory = MockFactory()
    clock = ManualClock(NOW)
    db = open_database(tmp_path / "gridgate.db")
    journal = Journal(db, gate_id="gate-east", clock=clock)
    reader = Reader("in-cam", "gate-east", Direction.IN)
    door = Door(RELAY, open_seconds=5, pin_factory=factory, clock=clock)
    checkpoint = Checkpoint(compound_id=COMPOUND,
                            rules=Rulebook(trust=trusting(PLATFORM), policy=Policy()),
                            registry=Registry(db), journal=journal, doors={"in-cam": door},
                            clock=clock)
    pipeline = ReaderPipeline(reader, checkpoint=checkpoint, decoder=make_decoder("zxing"),
                              repeat=RepeatFilter(3.0), clock=clock)
    yield Lane(pipeline, factory, journal, clock)
    door.close()
    db.close()
    factory.reset()


def card_frame(seq: int, at: float, colour: Colour = Colour.GREEN) -> Frame:
    text = encode_pass(claims(colour=colour), PLATFORM)
    scene = np.full((480, 640, 3), 90, np.uint8)
    image = place_card(scene, render_card(text, colour, "pass"), centre=(320, 240), width=300,
                       tilt=5, yaw=5, roll=3)
    return Frame(image, seq=seq, arrived=at)


def test_a_reader_without_faces_hands_each_pass_straight_to_the_checkpoint(lane: Lane) -> None:
    assert isinstance(lane.pipeline.binding, PassOnly)  # always a binding, never a face branch
    [outcome] = lane.pipeline.process(card_frame(1, lane.clock.monotonic()))
    assert outcome.observation.method is Method.PASS
    assert outcome.decision.granted and outcome.decision.rule == Rule.GREEN_IN
    assert outcome.released and lane.factory.pin(RELAY).state is True
    # The same card in the next frames is the same scan, not another passage.
    assert lane.pipeline.process(card_frame(2, lane.clock.monotonic() + 0.1)) == []
    assert lane.pipeline.stats.scans == 1 and lane.pipeline.stats.decisions == 1
    assert len(lane.journal.recent_passages()) == 1


def test_frame_listeners_hear_each_frame_and_cannot_cost_a_decision(lane: Lane) -> None:
    heard: list[tuple[int, int, int]] = []

    def listener(frame: Frame, codes: Sequence[QrSeen], faces: Sequence[FaceSeen]) -> None:
        heard.append((frame.seq, len(codes), len(faces)))

    def broken(frame: Frame, codes: Sequence[QrSeen], faces: Sequence[FaceSeen]) -> None:
        raise RuntimeError("the panel is gone")

    stop = lane.pipeline.add_frame_listener(listener)
    lane.pipeline.add_frame_listener(broken)
    [outcome] = lane.pipeline.process(card_frame(1, lane.clock.monotonic()))
    assert outcome.decision.granted  # the broken listener did not stop the decision
    assert heard == [(1, 1, 0)]  # one code, no faces looked for
    stop()
    lane.pipeline.process(card_frame(2, lane.clock.monotonic() + 0.1))
    assert heard == [(1, 1, 0)]  # stopped: hears no more
    assert lane.pipeline.stats.frames == 2


def test_a_decision_carries_its_frames_capture_time_and_skipped_frames_are_counted(
        lane: Lane) -> None:
    at = lane.clock.monotonic()
    frame = card_frame(1, at + 0.040)
    frame = Frame(frame.image, seq=1, arrived=at + 0.040, captured=at)
    [outcome] = lane.pipeline.process(frame)
    assert outcome.observation.captured == at  # the picture, not when the reader got it
    assert lane.pipeline.stats.frame_age_s == pytest.approx(0.0, abs=1e-9)  # manual clock
    lane.pipeline.process(Frame(frame.image, seq=5, arrived=at + 1, captured=at + 0.9))
    assert lane.pipeline.stats.dropped == 3  # frames 2-4 were captured and never taken

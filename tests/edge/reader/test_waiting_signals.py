"""A pass waiting for its holder's face is shown as waiting: the reader's amber lamp blinks and
its screen asks for the face, until the outcome takes over (real face path, gpiozero
MockFactory, SQLite journal)."""

from __future__ import annotations

from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from edge.app import GateApp
from edge.bench.faces import face_gate_settings
from edge.demo.cards import render_card
from edge.settings.signals import ReaderSignals, SignalSettings
from gate.clock import ManualClock
from gate.model import Colour, Permit, Person
from gate.passes import encode_pass
from tests.gate.passes_support import COMPOUND, NOW, PLATFORM, claims
from tests.vision.faces.scenes import scene
from vision.facts import Frame

pytestmark = pytest.mark.slow
GREEN, RED, AMBER = 5, 6, 13


def test_a_pass_waiting_for_its_face_is_amber_then_its_outcome(tmp_path: Path) -> None:
    clock = ManualClock(NOW)
    factory = MockFactory()
    settings = face_gate_settings(tmp_path, faces={"encode_workers": 0}, compound_id=COMPOUND,
                                  key=PLATFORM)
    lamps = ReaderSignals(reader_id="cam", green_pin=GREEN, red_pin=RED, amber_pin=AMBER)
    app = GateApp(settings.model_copy(update={"signals": SignalSettings(readers=[lamps])}),
                  clock=clock, pin_factory=factory)
    try:
        app.registry.put_persons([Person("p-lin", household_id="h-lin")])
        app.registry.put_permits([Permit("p-lin", Colour.YELLOW)])
        waits: list[bool] = []
        pipeline = app.pipelines["cam"]
        pipeline.add_waiting_listener(waits.append)
        board = app.boards["cam"]
        shown: list[str] = []
        board.add_listener(lambda: shown.append(board.view()["state"]))
        text = encode_pass(claims(person_id="p-lin", pass_id="pass-lin", colour=Colour.YELLOW,
                                  household_id="h-lin"), PLATFORM)
        card = render_card(text, Colour.YELLOW, "pass")
        outcomes = []
        for seq in range(75):  # 2.5 s at 30 fps: the pass waits, then is decided
            outcomes += pipeline.process(Frame(scene(None, card=card), seq, clock.monotonic()))
            if seq == 5:
                assert waits == [True] and board.view()["state"] == "waiting"
                assert factory.pin(AMBER).state is True or any(
                    s.state for s in factory.pin(AMBER).states), "amber while it waits"
            clock.advance(1 / 30)
        assert [o.decision.rule for o in outcomes] == ["face.missing"]
        assert waits == [True, False]
        assert shown[0] == "waiting" and shown[-1] == "denied"
        assert board.view()["prompt"] == "face"  # 请正对摄像头
        assert factory.pin(AMBER).state is False and factory.pin(RED).state is True
    finally:
        app.close()
        factory.reset()

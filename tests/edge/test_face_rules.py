"""A gate without faces claims no face rule: the policy it runs on has none, and a pass-only
decision is journaled as what it was, a pass."""

from __future__ import annotations

from pathlib import Path

from gpiozero.pins.mock import MockFactory

from edge.reader.binding import PassOnly
from edge.settings import parse_settings
from gate.checkpoint import Checkpoint
from gate.clock import ManualClock
from gate.door import Door
from gate.journal import Journal
from gate.model import Colour, Direction, Reader
from gate.passes import encode_pass
from gate.registry import Registry
from gate.rulebook import Rulebook
from gate.store import open_database
from tests.gate.passes_support import COMPOUND, NOW, PLATFORM, claims, trusting


def test_a_yellow_exit_on_a_pass_alone_is_journaled_as_a_pass(tmp_path: Path) -> None:
    settings = parse_settings({  # faces off, policy unset: the defaults of a fresh gate
        "gate": {"gate_id": "gate-east", "compound_id": COMPOUND},
        "readers": [{"reader_id": "out-cam", "direction": "out", "camera": "0",
                     "relay_pin": 18}],
        "passes": {"trust_list": str(tmp_path / "trust.json")},
    })
    assert not settings.faces.enabled
    assert settings.policy.face_match_required == frozenset()  # no rule it cannot enforce
    factory, clock = MockFactory(), ManualClock(NOW)
    db = open_database(tmp_path / "gridgate.db")
    door = Door(18, open_seconds=5, pin_factory=factory, clock=clock)
    try:
        checkpoint = Checkpoint(
            compound_id=COMPOUND, rules=Rulebook(trust=trusting(PLATFORM), policy=settings.policy),
            registry=Registry(db), journal=Journal(db, gate_id="gate-east", clock=clock),
            doors={"out-cam": door}, clock=clock)
        reader = Reader("out-cam", "gate-east", Direction.OUT)
        text = encode_pass(claims(colour=Colour.YELLOW), PLATFORM)
        outcome = PassOnly(reader).scanned(checkpoint.check_pass(text, NOW), NOW,
                                           checkpoint.handle)
        assert outcome.decision.granted and outcome.decision.rule == "yellow.exit"
        [row] = checkpoint.journal.trajectory("p-101")
        assert row["method"] == "pass"  # what was checked: the pass, no face claimed
        assert row["face_distance"] is None
    finally:
        door.close()
        factory.reset()

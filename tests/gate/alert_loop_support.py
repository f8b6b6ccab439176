"""A gate for alert-loop tests: real SQLite, gpiozero's MockFactory relays, the record keeper
with alert folding, door controls, the two-person rule and escalation, on a manual clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gpiozero.pins.mock import MockFactory

from gate.alert_folding import AlertFolder, FoldRules
from gate.approvals import OverrideApprovals
from gate.checkpoint import Checkpoint, Outcome
from gate.clock import ManualClock
from gate.controls import DoorControls, door_event_recorder
from gate.door import Door
from gate.escalation import Escalator
from gate.events import JournalEvent
from gate.journal import Journal
from gate.journal.keeper import RecordKeeper
from gate.model import Colour, Direction, Method, Permit, Person, Reader
from gate.observation import Observation
from gate.passes import encode_pass, generate_signing_key
from gate.policy import Policy
from gate.registry import Registry
from gate.rulebook import Rulebook
from gate.store import open_database
from tests.gate.passes_support import COMPOUND, NOW, PLATFORM, claims, trusting

IN_PIN, OUT_PIN = 17, 18
FORGER = generate_signing_key()  # a key no trust list holds
RED = Person("p-301", "h-3", grid_id="grid-7")
GREEN = Person("p-101", "h-1", grid_id="grid-7")


@dataclass
class Gate:
    """One gate's alert loop, built from its parts as edge/app.py builds it."""

    db_path: Path
    clock: ManualClock
    factory: MockFactory
    journal: Journal
    keeper: RecordKeeper
    checkpoint: Checkpoint
    controls: DoorControls
    approvals: OverrideApprovals
    escalator: Escalator
    readers: dict[str, Reader]
    events: list[JournalEvent] = field(default_factory=list)

    def show(self, text: str, reader_id: str = "in-cam", person_face: str | None = None
             ) -> Outcome:
        """A pass shown at a reader now."""
        now = self.clock.now()
        return self.checkpoint.handle(Observation(
            reader=self.readers[reader_id], method=Method.PASS, seen_at=now,
            pass_check=self.checkpoint.check_pass(text, now)))

    def face(self, person_id: str | None, reader_id: str = "out-cam") -> Outcome:
        """A face alone at a reader now: a registered person, or a stranger (None)."""
        return self.checkpoint.handle(Observation(
            reader=self.readers[reader_id], method=Method.FACE, seen_at=self.clock.now(),
            face_checked=True, face_person_id=person_id, face_unknown=person_id is None))

    def alerts(self, kind: str | None = None) -> list[dict[str, Any]]:
        return [a for a in self.journal.alerts(limit=1000) if kind is None or a["kind"] == kind]

    def of(self, kind: str) -> list[JournalEvent]:
        return [e for e in self.events if e.kind == kind]

    def close(self) -> None:
        self.controls.lock_all()
        self.journal.db.close()
        self.factory.reset()


def forged_pass(n: int) -> str:
    """A well-formed pass signed by a key the gate does not trust."""
    return encode_pass(claims(pass_id=f"forged-{n}", person_id=f"p-9{n}"), FORGER)


def build_gate(tmp_path: Path, *, policy: Policy | None = None,
               fold: FoldRules | None = None, escalate_after_s: float = 600.0,
               audience: str = "street_office", shared_door: bool = False) -> Gate:
    """Two readers, each with its door; with `shared_door`, both on the one relay of OUT_PIN
    (edge/app.py gives readers on one relay pin one Door)."""
    factory = MockFactory()
    clock = ManualClock(NOW)
    db_path = tmp_path / "gridgate.db"
    db = open_database(db_path)
    journal = Journal(db, gate_id="gate-east", clock=clock)
    keeper = RecordKeeper(journal)
    keeper.folding = AlertFolder(journal, fold)
    record = door_event_recorder(keeper)
    readers = {"in-cam": Reader("in-cam", "gate-east", Direction.IN),
               "out-cam": Reader("out-cam", "gate-east", Direction.OUT)}
    out_door = Door(OUT_PIN, open_seconds=5, pin_factory=factory, clock=clock, on_event=record)
    doors = {"in-cam": out_door if shared_door else Door(
        IN_PIN, open_seconds=5, pin_factory=factory, clock=clock, on_event=record),
        "out-cam": out_door}
    registry = Registry(db)
    registry.put_persons([RED, GREEN])
    registry.put_permits([Permit(RED.person_id, Colour.RED), Permit(GREEN.person_id,
                                                                   Colour.GREEN)])
    rules = Rulebook(trust=trusting(PLATFORM), policy=policy or Policy())
    checkpoint = Checkpoint(compound_id=COMPOUND, rules=rules, registry=registry,
                            journal=journal, doors=doors, clock=clock, keeper=keeper)
    controls = DoorControls(checkpoint=checkpoint, doors=doors, readers=readers)
    gate = Gate(db_path, clock, factory, journal, keeper, checkpoint, controls,
                OverrideApprovals(controls=controls, journal=journal, rules=rules, clock=clock),
                Escalator(journal, after_s=escalate_after_s, audience=audience, clock=clock),
                readers)
    journal.add_listener(gate.events.append)
    return gate

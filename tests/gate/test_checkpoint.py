"""The checkpoint: real passes, SQLite, gpiozero mock relay; registry permits beat passes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from gate.checkpoint import Checkpoint
from gate.clock import ManualClock
from gate.door import Door, DoorMode
from gate.journal import Journal
from gate.model import Colour, Direction, Method, Permit, Person, PersonKind, Reader
from gate.observation import Observation
from gate.passes import Revocations, encode_pass, generate_signing_key
from gate.policy import Policy
from gate.registry import Registry
from gate.rulebook import Rulebook
from gate.store import open_database
from tests.gate.passes_support import COMPOUND, NOW, PLATFORM, claims, trusting

OUT = Reader("out-cam", "gate-east", Direction.OUT)


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    factory = MockFactory()
    yield factory
    factory.reset()


@pytest.fixture
def checkpoint(tmp_path: Path, factory: MockFactory) -> Iterator[Checkpoint]:
    clock = ManualClock(NOW)
    db = open_database(tmp_path / "gridgate.db")
    door = Door(18, open_seconds=5, pin_factory=factory, clock=clock)
    rules = Rulebook(trust=trusting(PLATFORM), policy=Policy(),
                     revocations=Revocations(["pass-bad"]))
    cp = Checkpoint(compound_id=COMPOUND, rules=rules, registry=Registry(db),
                    journal=Journal(db, gate_id="gate-east", clock=clock),
                    doors={"out-cam": door}, clock=clock)
    yield cp
    door.close()


def show(cp: Checkpoint, text: str) -> Observation:
    return Observation(reader=OUT, method=Method.PASS, seen_at=NOW,
                       pass_check=cp.check_pass(text, NOW))


def test_valid_green_pass_releases_the_relay_and_is_journaled(checkpoint: Checkpoint,
                                                             factory: MockFactory) -> None:
    outcome = checkpoint.handle(show(checkpoint, encode_pass(claims(), PLATFORM)))
    assert outcome.decision.rule == "green.out" and outcome.released
    assert factory.pin(18).state is True
    [row] = checkpoint.journal.trajectory("p-101")
    assert row["pass_id"] == "pass-001" and row["household_id"] == "h-1" and row["granted"]


def test_registry_permit_overrides_the_colour_printed_on_the_pass(checkpoint: Checkpoint,
                                                                  factory: MockFactory) -> None:
    checkpoint.registry.put_permits([Permit("p-101", Colour.RED)])
    outcome = checkpoint.handle(show(checkpoint, encode_pass(claims(), PLATFORM)))
    assert outcome.decision.rule == "red.exit_denied" and not outcome.released
    assert factory.pin(18).state is False
    assert checkpoint.journal.alerts()[0]["kind"] == "red_exit_attempt"


def test_revocation_from_file_and_from_the_platform(checkpoint: Checkpoint) -> None:
    text = encode_pass(claims(pass_id="pass-bad"), PLATFORM)
    assert checkpoint.handle(show(checkpoint, text)).decision.rule == "pass.revoked"
    checkpoint.registry.revoke(["pass-002"], NOW)
    text = encode_pass(claims(pass_id="pass-002"), PLATFORM)
    outcome = checkpoint.handle(show(checkpoint, text))
    assert outcome.decision.rule == "pass.revoked"
    assert outcome.decision.person_id == "p-101"  # authentic claims: attributed


def test_forged_pass_is_not_attributed_to_the_copied_person(checkpoint: Checkpoint) -> None:
    text = encode_pass(claims(), generate_signing_key())
    outcome = checkpoint.handle(show(checkpoint, text))
    assert outcome.decision.rule == "pass.unknown_key" and outcome.decision.person_id is None
    assert checkpoint.journal.trajectory("p-101") == []
    assert checkpoint.journal.alerts()[0]["kind"] == "forged_pass"


def test_yellow_household_quota_uses_the_journal(checkpoint: Checkpoint) -> None:
    first = encode_pass(claims(colour=Colour.YELLOW), PLATFORM)
    second = encode_pass(claims(colour=Colour.YELLOW, person_id="p-102", pass_id="pass-9"),
                         PLATFORM)
    assert checkpoint.handle(show(checkpoint, first)).decision.rule == "yellow.exit"
    assert checkpoint.handle(show(checkpoint, second)).decision.rule == "yellow.household_quota"


def test_a_journal_that_cannot_be_written_keeps_passages_until_it_can(
        checkpoint: Checkpoint) -> None:
    db = checkpoint.journal.db
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages}")
    texts = [encode_pass(claims(pass_id=f"p{i}", person_id=f"person-{i}" + "x" * 50), PLATFORM)
             for i in range(200)]
    outcomes = [checkpoint.handle(show(checkpoint, t)) for t in texts]
    assert all(o.decision.granted for o in outcomes)  # the door did not wait for the disk
    assert checkpoint.pending_records > 0
    db.execute("PRAGMA max_page_count = 1073741823")
    checkpoint.handle(show(checkpoint, encode_pass(claims(pass_id="last"), PLATFORM)))
    assert checkpoint.pending_records == 0
    assert len(checkpoint.journal.recent_passages(300)) == 201


def test_override_is_recorded_with_the_guard(checkpoint: Checkpoint,
                                             factory: MockFactory) -> None:
    outcome = checkpoint.override(OUT, actor="guard-li", reason="ambulance")
    assert outcome.released and factory.pin(18).state is True
    row = checkpoint.journal.recent_passages(1)[0]
    assert row["method"] == "override" and row["actor"] == "guard-li"
    assert "ambulance" in row["reason_en"]
    assert checkpoint.journal.alerts()[0]["kind"] == "override"


def test_the_clock_decides_expiry(checkpoint: Checkpoint) -> None:
    text = encode_pass(claims(expires_at=NOW + timedelta(minutes=1)), PLATFORM)
    later = NOW + timedelta(hours=1)
    check = checkpoint.check_pass(text, later)
    assert check.reason.value == "expired"


def test_two_exit_lanes_at_once_let_one_yellow_member_out(tmp_path: Path,
                                                          factory: MockFactory) -> None:
    clock = ManualClock(NOW)
    db = open_database(tmp_path / "two-lanes.db")
    lanes = [Reader(f"out-{i}", "gate-east", Direction.OUT) for i in (1, 2)]
    doors = {r.reader_id: Door(pin, open_seconds=5, pin_factory=factory, clock=clock)
             for r, pin in zip(lanes, (23, 24), strict=True)}
    cp = Checkpoint(compound_id=COMPOUND, rules=Rulebook(trust=trusting(PLATFORM), policy=Policy()),
                    registry=Registry(db), journal=Journal(db, gate_id="gate-east", clock=clock),
                    doors=doors, clock=clock)
    try:
        for trial in range(20):
            texts = [encode_pass(claims(colour=Colour.YELLOW, household_id=f"h-{trial}",
                                        person_id=f"p-{trial}-{i}", pass_id=f"t{trial}-{i}"),
                                 PLATFORM) for i in (1, 2)]
            barrier = threading.Barrier(2)
            rules: list[str] = []

            at = NOW + timedelta(hours=trial)  # apart, so no trial is another's companion

            def lane(reader: Reader, text: str, at: datetime = at,
                     barrier: threading.Barrier = barrier, rules: list[str] = rules) -> None:
                observation = Observation(reader=reader, method=Method.PASS, seen_at=at,
                                          pass_check=cp.check_pass(text, at))
                barrier.wait()
                rules.append(cp.handle(observation).decision.rule)

            threads = [threading.Thread(target=lane, args=pair)
                       for pair in zip(lanes, texts, strict=True)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(10)
            assert sorted(rules) == ["yellow.exit", "yellow.household_quota"], trial
    finally:
        for door in doors.values():
            door.close()


def test_quota_holds_while_passages_wait_for_an_unwritable_journal(
        checkpoint: Checkpoint) -> None:
    db = checkpoint.journal.db
    db.execute("PRAGMA query_only = ON")  # every write now fails, as on a full disk
    texts = [encode_pass(claims(colour=Colour.YELLOW, person_id=f"p-10{i}", pass_id=f"y{i}"),
                         PLATFORM) for i in range(4)]
    rules = [checkpoint.handle(show(checkpoint, t)).decision.rule for t in texts]
    assert checkpoint.pending_records == 4
    assert rules == ["yellow.exit"] + ["yellow.household_quota"] * 3
    db.execute("PRAGMA query_only = OFF")
    checkpoint.handle(show(checkpoint, encode_pass(claims(pass_id="later"), PLATFORM)))
    assert checkpoint.pending_records == 0
    assert [r["rule"] for r in checkpoint.journal.recent_passages(10)][::-1][:4] == rules


def test_a_visitor_pass_cannot_borrow_a_residents_identity(checkpoint: Checkpoint,
                                                           factory: MockFactory) -> None:
    local = generate_signing_key()  # the panel's visitor key
    checkpoint.rules.trust.add(local.key_id, local.public_key, "visitor")
    checkpoint.registry.put_persons([Person("p-101", "h-1", grid_id="grid-7")])
    borrowed = encode_pass(claims(kind=PersonKind.VISITOR, host_household_id="h-1"), local)
    outcome = checkpoint.handle(show(checkpoint, borrowed))
    assert not outcome.decision.granted and outcome.decision.rule == "pass.key_not_allowed"
    assert factory.pin(18).state is False
    assert checkpoint.journal.trajectory("p-101") == []
    genuine = encode_pass(claims(kind=PersonKind.VISITOR, host_household_id="h-1",
                                 person_id="v-7", pass_id="visit-7"), local)
    assert checkpoint.handle(show(checkpoint, genuine)).decision.granted


def test_override_refused_by_lockdown_is_recorded_as_refused(checkpoint: Checkpoint,
                                                             factory: MockFactory) -> None:
    checkpoint.doors["out-cam"].set_mode(DoorMode.LOCKDOWN, actor="guard-a")
    outcome = checkpoint.override(OUT, actor="guard-b", reason="delivery")
    assert not outcome.released and factory.pin(18).state is False
    row = checkpoint.journal.recent_passages(1)[0]
    assert row["rule"] == "override.refused" and not row["granted"]
    assert row["actor"] == "guard-b"

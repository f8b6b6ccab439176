"""Live codes at a real checkpoint (SQLite file, gpiozero MockFactory relay): each code opens
once per direction, the ledger survives a restart and a disk that cannot be written, and the
policy says per colour whether a printed pass still opens and whether it needs the face."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from gpiozero.pins.mock import MockFactory

from gate.checkpoint import Checkpoint, Outcome
from gate.clock import ManualClock
from gate.door import Door, DoorMode
from gate.journal import Journal
from gate.model import Colour, Direction, Method, Reader
from gate.observation import Observation
from gate.passes import encode_pass
from gate.passes.ledger import KEEP_STEPS, LiveCodeLedger, LiveUse
from gate.passes.live import STEP_S, encode_live, public_raw, step_of
from gate.policy import Policy, StaticPassRules
from gate.registry import Registry
from gate.rulebook import Rulebook
from gate.store import immediate, open_database
from tests.gate.passes_support import COMPOUND, NOW, PLATFORM, claims, trusting

IN = Reader("in-cam", "gate-east", Direction.IN)
OUT = Reader("out-cam", "gate-east", Direction.OUT)
HOLDER = Ed25519PrivateKey.generate()
BOUND = encode_pass(claims(holder_key=public_raw(HOLDER)), PLATFORM)


class Gate:
    """A checkpoint on a database file, which can be closed and opened again (a restart)."""

    def __init__(self, path: Path, factory: MockFactory, policy: Policy | None = None) -> None:
        self.path, self.factory, self.policy = path, factory, policy or Policy()
        self.clock = ManualClock(NOW)
        self.doors = {"in-cam": Door(17, open_seconds=5, pin_factory=factory, clock=self.clock),
                      "out-cam": Door(18, open_seconds=5, pin_factory=factory, clock=self.clock)}
        self.open()

    def open(self) -> None:
        self.db = open_database(self.path)
        self.ledger = LiveCodeLedger.open(self.path)
        self.checkpoint = Checkpoint(
            compound_id=COMPOUND, rules=Rulebook(trust=trusting(PLATFORM), policy=self.policy),
            registry=Registry(self.db), journal=Journal(self.db, gate_id="gate-east",
                                                        clock=self.clock),
            doors=self.doors, clock=self.clock, live_codes=self.ledger)

    def restart(self) -> None:
        self.ledger.close()
        self.db.close()
        self.open()

    def show(self, text: str, reader: Reader = OUT, **face: object) -> Outcome:
        for door in self.doors.values():
            door.set_mode(DoorMode.NORMAL)  # locked again: each outcome shows its own release
        now = self.clock.now()
        method = Method.PASS_FACE if face else Method.PASS
        return self.checkpoint.handle(Observation(
            reader=reader, method=method, seen_at=now,
            pass_check=self.checkpoint.check_pass(text, now), **face))  # type: ignore[arg-type]

    def close(self) -> None:
        for door in self.doors.values():
            door.close()
        self.ledger.close()
        self.db.close()


@pytest.fixture
def gate(tmp_path: Path) -> Iterator[Gate]:
    factory = MockFactory()
    gate = Gate(tmp_path / "gridgate.db", factory)
    yield gate
    gate.close()
    factory.reset()


def test_a_live_code_opens_once_per_direction_and_the_next_step_opens_again(
        gate: Gate) -> None:
    code = encode_live(BOUND, HOLDER, NOW)
    first = gate.show(code)
    assert first.decision.granted and first.released and first.decision.rule == "green.out"
    assert gate.factory.pin(18).state is True
    again = gate.show(code)
    assert again.decision.rule == "pass.replayed" and not again.released
    assert gate.factory.pin(18).state is False
    assert again.decision.person_id == "p-101"  # authentic: the guard sees whose code it was
    assert "已使用" in again.decision.reason_zh and "already used" in again.decision.reason_en
    # The other direction is another use of the same code.
    assert gate.show(code, IN).decision.granted
    assert gate.show(code, IN).decision.rule == "pass.replayed"
    gate.clock.advance(STEP_S)
    assert gate.show(encode_live(BOUND, HOLDER, gate.clock.now())).decision.granted
    rows = gate.checkpoint.journal.trajectory("p-101")
    assert [r["rule"] for r in rows] == ["green.out", "pass.replayed", "green.in",
                                         "pass.replayed", "green.out"]


def test_a_refused_code_is_not_spent(gate: Gate) -> None:
    code = encode_live(BOUND, HOLDER, NOW)
    stale = gate.show(encode_live(BOUND, HOLDER, NOW - timedelta(minutes=2)))
    assert stale.decision.rule == "pass.stale_code" and not stale.released
    assert not gate.ledger.used("pass-001", step_of(NOW - timedelta(minutes=2)), "out")
    assert gate.show(code).decision.granted


def test_the_ledger_survives_a_restart(gate: Gate) -> None:
    code = encode_live(BOUND, HOLDER, NOW)
    assert gate.show(code).decision.granted
    gate.restart()
    assert gate.show(code).decision.rule == "pass.replayed"


def test_a_screenshot_later_is_stale_and_a_forged_proof_alerts(gate: Gate) -> None:
    code = encode_live(BOUND, HOLDER, NOW)
    gate.clock.advance(90)
    stale = gate.show(code)
    assert stale.decision.rule == "pass.stale_code" and not stale.released
    assert stale.decision.person_id == "p-101"
    thief = gate.show(encode_live(BOUND, Ed25519PrivateKey.generate(), gate.clock.now()))
    assert thief.decision.rule == "pass.bad_proof"
    assert [a.kind for a in thief.decision.alerts] == ["forged_pass"]
    printed = gate.show(BOUND)  # the bound pass itself, printed or screenshotted
    assert printed.decision.rule == "pass.bad_proof" and not printed.released


def test_a_ledger_that_cannot_write_keeps_uses_in_memory(gate: Gate) -> None:
    gate.ledger.db.execute("PRAGMA query_only = ON")  # every write now fails, as on a full disk
    code = encode_live(BOUND, HOLDER, NOW)
    assert gate.show(code).decision.granted
    assert gate.show(code).decision.rule == "pass.replayed"  # still refused from memory
    gate.ledger.db.execute("PRAGMA query_only = OFF")
    gate.clock.advance(STEP_S)
    assert gate.show(encode_live(BOUND, HOLDER, gate.clock.now())).decision.granted
    rows = gate.db.execute("SELECT step FROM live_codes ORDER BY step").fetchall()
    assert [r[0] for r in rows] == [step_of(NOW), step_of(NOW) + 1]  # the waiting one written


def test_old_uses_are_pruned(gate: Gate) -> None:
    assert gate.show(encode_live(BOUND, HOLDER, NOW)).decision.granted
    gate.clock.advance(STEP_S * (KEEP_STEPS + 2))
    assert gate.show(encode_live(BOUND, HOLDER, gate.clock.now())).decision.granted
    steps = [r[0] for r in gate.db.execute("SELECT step FROM live_codes").fetchall()]
    assert steps == [step_of(gate.clock.now())]


def test_peer_uses_count_and_old_ones_are_ignored(gate: Gate) -> None:
    from gate.passes.ledger import record_use
    step = step_of(NOW)
    assert record_use(gate.db, LiveUse("pass-001", step, "out", "gate-west", "x"),
                      current_step=step)
    assert not record_use(gate.db, LiveUse("pass-001", step, "out", "gate-west", "x"))
    assert not record_use(gate.db, LiveUse("pass-001", step - 50, "in", "gate-west", "x"),
                          current_step=step)
    assert gate.show(encode_live(BOUND, HOLDER, NOW)).decision.rule == "pass.replayed"
    assert gate.show(encode_live(BOUND, HOLDER, NOW), IN).decision.granted


def test_policy_refuses_printed_passes_of_a_colour_and_takes_live_codes(tmp_path: Path) -> None:
    factory = MockFactory()
    policy = Policy(static_passes=StaticPassRules(
        accepted=frozenset({Colour.GREEN, Colour.WHITE}),
        face_match_required=frozenset({Colour.GREEN})),
        face_match_required=frozenset())
    gate = Gate(tmp_path / "gridgate.db", factory, policy)
    try:
        yellow_printed = encode_pass(claims(colour=Colour.YELLOW, pass_id="y-1"), PLATFORM)
        refused = gate.show(yellow_printed, IN)
        assert refused.decision.rule == "pass.live_required" and not refused.released
        assert "手机实时码" in refused.decision.reason_zh
        yellow_bound = encode_pass(claims(colour=Colour.YELLOW, pass_id="y-2",
                                          holder_key=public_raw(HOLDER)), PLATFORM)
        assert gate.show(encode_live(yellow_bound, HOLDER, NOW), IN).decision.rule == "yellow.in"
        # A printed green pass needs its holder's face; a live green code does not.
        green_printed = encode_pass(claims(pass_id="g-1"), PLATFORM)
        someone_else = gate.show(green_printed, IN, face_checked=True, face_person_id="p-9")
        assert someone_else.decision.rule == "face.mismatch"
        holder = gate.show(green_printed, IN, face_checked=True, face_person_id="p-101")
        assert holder.decision.rule == "green.in"
        green_bound = encode_pass(claims(pass_id="g-2", holder_key=public_raw(HOLDER)),
                                  PLATFORM)
        live = gate.show(encode_live(green_bound, HOLDER, NOW), IN, face_checked=True,
                         face_person_id="p-9")
        assert live.decision.rule == "green.in"
    finally:
        gate.close()
        factory.reset()


def test_a_copy_of_an_older_step_is_refused_once_the_holder_used_a_newer_one(
        gate: Gate) -> None:
    screenshot = encode_live(BOUND, HOLDER, gate.clock.now())  # step S, sent to a friend
    gate.clock.advance(STEP_S)
    fresh = encode_live(BOUND, HOLDER, gate.clock.now())  # step S+1 on the holder's phone
    assert gate.show(fresh, IN).decision.granted
    gate.clock.advance(5)  # the copy is 35 s old: still inside the window
    copy = gate.show(screenshot, IN)
    assert copy.decision.rule == "pass.replayed" and not copy.released
    assert gate.factory.pin(17).state is False
    detail = copy.observation.pass_check.detail  # type: ignore[union-attr]
    assert "older than one of this pass used already" in detail
    assert gate.show(screenshot, OUT).decision.granted  # the other direction is its own
    gate.restart()  # the ledger's table, not memory, refuses it
    assert gate.show(screenshot, IN).decision.rule == "pass.replayed"
    gate.clock.advance(STEP_S)  # the holder's next code opens as before
    assert gate.show(encode_live(BOUND, HOLDER, gate.clock.now()), IN).decision.granted


def test_an_older_copy_is_refused_from_memory_while_the_ledger_cannot_be_written(
        gate: Gate) -> None:
    gate.ledger.db.execute("PRAGMA query_only = ON")  # every write now fails, as on a full disk
    screenshot = encode_live(BOUND, HOLDER, NOW)
    gate.clock.advance(STEP_S)
    assert gate.show(encode_live(BOUND, HOLDER, gate.clock.now())).decision.granted
    assert gate.show(screenshot).decision.rule == "pass.replayed"
    assert gate.ledger.newest("pass-001", "out") == step_of(gate.clock.now())


def test_the_passage_keeps_its_live_step_even_when_the_ledger_cannot_be_written(
        gate: Gate) -> None:
    from gate.journal.verify import verify

    gate.ledger.db.execute("PRAGMA query_only = ON")  # the ledger's write fails (disk full)
    code = encode_live(BOUND, HOLDER, NOW)
    assert gate.show(code).released
    assert gate.show(code).decision.rule == "pass.replayed"
    assert gate.show(BOUND).decision.rule == "pass.bad_proof"  # no live code: no step
    rows = gate.db.execute("SELECT rule, live_step FROM passages ORDER BY id").fetchall()
    assert [tuple(r) for r in rows] == [("green.out", step_of(NOW)),
                                        ("pass.replayed", step_of(NOW)), ("pass.bad_proof", None)]
    assert gate.db.execute("SELECT count(*) FROM live_codes").fetchone()[0] == 0
    journal = gate.checkpoint.journal
    assert [r["live_step"] for r in journal.trajectory("p-101")] == [step_of(NOW)] * 2 + [None]
    assert verify(journal).broken is None
    # The step is part of what the chain covers: changing it by hand is found.
    gate.db.execute("UPDATE passage_log SET live_step = live_step - 1 WHERE live_step = ? "
                    "AND granted = 1", [step_of(NOW)])
    gate.db.conn.commit()
    broken = verify(journal).broken
    assert broken is not None and broken.table == "passages" and "does not match" in broken.what


def test_a_lane_never_waits_for_another_lanes_ledger_write(gate: Gate) -> None:
    """A live code is held as spent inside the decision and written after it: while another
    connection holds the write lock, a copy of the code at a second exit lane is refused at
    once, not after the first lane's write; and the use is written when the lock is free."""
    second = Reader("out-cam-2", "gate-east", Direction.OUT)
    decided: dict[str, str] = {}
    gate.checkpoint.add_listener(
        lambda o: decided.setdefault(o.observation.reader.reader_id, o.decision.rule),
        before_record=True)
    other = open_database(gate.path)
    held, free = threading.Event(), threading.Event()

    def hold_the_write_lock() -> None:
        with immediate(other):
            held.set()
            free.wait(10)

    def until(reader_id: str) -> bool:
        deadline = time.monotonic() + 3
        while reader_id not in decided and time.monotonic() < deadline:
            time.sleep(0.01)
        return reader_id in decided

    code = encode_live(BOUND, HOLDER, NOW)
    holder = threading.Thread(target=hold_the_write_lock)
    holder.start()
    assert held.wait(5)
    lanes = [threading.Thread(target=gate.show, args=(code, reader)) for reader in (OUT, second)]
    try:
        lanes[0].start()
        assert until("out-cam") and decided["out-cam"] == "green.out"
        lanes[1].start()
        assert until("out-cam-2"), "the second lane waited for the first lane's disk write"
        assert decided["out-cam-2"] == "pass.replayed"
        assert not free.is_set() and lanes[0].is_alive()  # its writes still wait
    finally:
        free.set()
        holder.join(10)
        for lane in lanes:
            lane.join(15)
        other.close()
    gate.restart()  # written: a restart still refuses the copy
    assert gate.show(code).decision.rule == "pass.replayed"

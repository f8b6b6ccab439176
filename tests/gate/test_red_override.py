"""Two people for a red override, at every door of the gate: after a red-permit holder was
refused exit, one guard alone can neither open once nor hold open any door of the gate (the
other reader of the same door, another door); only an approved override or a later grant to
that same person resolves the refusal (real SQLite, gpiozero MockFactory relays, a manual
clock)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gate.approvals import OverrideApprovals, PendingOverride
from gate.audit import audit_records
from gate.errors import DoorError
from gate.model import Colour, Permit
from gate.passes import encode_pass
from gate.policy import Policy, RedOverrideRules
from gate.vocabulary import AlertKind, AuditKind, DoorEventKind, DoorMode, Rule
from tests.gate.alert_loop_support import GREEN, IN_PIN, OUT_PIN, RED, Gate, build_gate
from tests.gate.passes_support import PLATFORM, claims


@pytest.fixture
def gate(tmp_path: Path) -> Iterator[Gate]:
    g = build_gate(tmp_path)
    yield g
    g.close()


def red_exit(gate: Gate) -> int:
    outcome = gate.face(RED.person_id, "out-cam")
    assert outcome.decision.rule == Rule.RED_EXIT_DENIED and not outcome.released
    return int(outcome.events[0].row["id"])


def test_the_other_reader_of_the_same_door_waits_for_a_second_account(
        tmp_path: Path) -> None:
    gate = build_gate(tmp_path, shared_door=True)  # as edge/app.py: one relay, one Door
    try:
        pin = gate.factory.pin(OUT_PIN)
        assert gate.controls.door("in-cam") is gate.controls.door("out-cam")
        refused = red_exit(gate)
        pending = gate.approvals.open_once("in-cam", actor="guard1", reason="parcel")
        assert isinstance(pending, PendingOverride), "one guard opened the red exit's door"
        assert pin.state is False and pending.denials == (refused,)
        assert pending.denied_passage["reader_id"] == "out-cam"
        [asked] = gate.alerts(AlertKind.OVERRIDE_APPROVAL)
        assert asked["person_id"] == RED.person_id and asked["passage_id"] == refused
        approved = gate.approvals.approve(pending.request_id, approver="root")
        assert approved.released and pin.state is True
        assert approved.outcome is not None
        assert approved.outcome.decision.rule == Rule.OVERRIDE_OPEN_ONCE
    finally:
        gate.close()


def test_another_door_of_the_gate_waits_too(gate: Gate) -> None:
    red_exit(gate)
    assert isinstance(gate.approvals.open_once("in-cam", actor="guard1", reason="x"),
                      PendingOverride)
    assert gate.factory.pin(IN_PIN).state is False


def test_hold_open_by_one_guard_waits_for_a_second_account(gate: Gate) -> None:
    pin = gate.factory.pin(OUT_PIN)
    red_exit(gate)
    for reader in ("out-cam", "in-cam"):
        pending = gate.approvals.hold_open(reader, seconds=1200, actor="guard1",
                                           reason="delivery van")
        assert isinstance(pending, PendingOverride), reader
        assert pending.action == "hold_open" and pending.seconds == 1200
    assert pin.state is False and gate.factory.pin(IN_PIN).state is False
    assert all(d.mode is DoorMode.NORMAL for d in gate.controls.unique_doors())
    first = gate.approvals.pending()[0]
    assert first.reader_id == "out-cam"
    assert "hold open for 20 min over the red-permit refusal of p-301" in audit_records(
        gate.journal.db, kind=AuditKind.OVERRIDE_REQUESTED)[-1]["detail"]
    gate.clock.advance(30)
    approved = gate.approvals.approve(first.request_id, approver="root")
    door = gate.controls.door("out-cam")
    assert door is not None and approved.released and approved.outcome is None
    assert door.mode is DoorMode.HOLD_OPEN and pin.state is True
    [mode] = [e for e in gate.journal.door_events(20) if e["kind"] == DoorEventKind.MODE]
    assert mode["actor"] == "guard1" and "approved by root" in mode["detail"]
    [audit] = audit_records(gate.journal.db, kind=AuditKind.OVERRIDE_APPROVED)
    assert audit["actor"] == "root" and "door held open for 20 min" in audit["detail"]
    # The approval resolved the refusal: the other request may go on, a new one is not asked.
    assert not isinstance(gate.approvals.hold_open("in-cam", seconds=60, actor="guard1",
                                                   reason="x"), PendingOverride)


def test_a_hold_open_without_a_time_limit_is_refused_before_anything_is_asked(
        gate: Gate) -> None:
    red_exit(gate)
    for seconds in (0.0, -5.0, float("nan"), float("inf")):
        with pytest.raises(DoorError):
            gate.approvals.hold_open("out-cam", seconds=seconds, actor="guard1", reason="x")
    assert gate.approvals.pending() == []
    assert gate.alerts(AlertKind.OVERRIDE_APPROVAL) == []


def test_another_persons_grant_does_not_resolve_the_refusal(gate: Gate) -> None:
    red_exit(gate)
    gate.clock.advance(6)
    passing = gate.show(encode_pass(claims(pass_id="ok"), PLATFORM), "out-cam")
    assert passing.decision.granted and passing.person is not None
    assert passing.person.person_id == GREEN.person_id
    gate.clock.advance(6)
    assert isinstance(gate.approvals.open_once("out-cam", actor="guard1", reason="x"),
                      PendingOverride)
    assert isinstance(gate.approvals.hold_open("out-cam", seconds=60, actor="guard1",
                                               reason="x"), PendingOverride)
    assert [p["rule"] for p in gate.journal.recent_passages(5)] == [
        Rule.GREEN_OUT, Rule.RED_EXIT_DENIED]  # no override passage
    door = gate.controls.door("out-cam")
    assert door is not None and door.mode is DoorMode.NORMAL


def test_a_later_grant_to_that_same_person_resolves_it(gate: Gate) -> None:
    red_exit(gate)
    gate.checkpoint.registry.put_permits([Permit(RED.person_id, Colour.GREEN)])  # cleared
    gate.clock.advance(10)
    assert gate.face(RED.person_id, "out-cam").decision.granted
    gate.clock.advance(10)
    assert gate.approvals.red_denials() == []
    outcome = gate.approvals.open_once("in-cam", actor="guard1", reason="parcel")
    assert not isinstance(outcome, PendingOverride) and outcome.released


def test_the_approved_override_resolves_only_the_refusals_it_named(gate: Gate) -> None:
    first = red_exit(gate)
    pending = gate.approvals.open_once("out-cam", actor="guard1", reason="hospital")
    assert isinstance(pending, PendingOverride)
    gate.clock.advance(20)
    second = red_exit(gate)  # refused again while the request waits
    gate.approvals.approve(pending.request_id, approver="root")
    gate.clock.advance(10)
    again = gate.approvals.open_once("in-cam", actor="guard1", reason="x")
    assert isinstance(again, PendingOverride) and again.denials == (second,)
    assert first not in again.denials
    gate.approvals.approve(again.request_id, approver="root")
    gate.clock.advance(10)
    assert gate.approvals.red_denials() == []
    # What an approval resolved is kept in memory: after a restart a second account is asked
    # again, within the lookback (the safe side).
    restarted = OverrideApprovals(controls=gate.controls, journal=gate.journal,
                                  rules=gate.checkpoint.rules, clock=gate.clock)
    assert [d["id"] for d in restarted.red_denials()] == [second, first]
    gate.clock.advance(301)  # past the lookback: nothing to ask about
    assert restarted.red_denials() == []


def test_refusals_at_another_gate_and_with_the_rule_off_ask_nothing(tmp_path: Path) -> None:
    off = build_gate(tmp_path, policy=Policy(
        red_override=RedOverrideRules(second_approval=False)))
    try:
        red_exit(off)
        held = off.approvals.hold_open("out-cam", seconds=60, actor="guard1", reason="ok")
        assert not isinstance(held, PendingOverride)
        assert off.factory.pin(OUT_PIN).state is True
    finally:
        off.close()
    gate = build_gate(tmp_path / "peer")
    try:
        row = {"event_id": "a" * 32, "at": gate.clock.now().isoformat(),
               "gate_id": "gate-west", "reader_id": "west-out", "direction": "out",
               "person_id": RED.person_id, "household_id": RED.household_id,
               "grid_id": RED.grid_id, "pass_id": None, "method": "face", "colour": "red",
               "granted": False, "rule": Rule.RED_EXIT_DENIED, "reason_zh": "红码",
               "reason_en": "Red", "face_distance": 0.3, "faces_in_view": 1, "actor": None,
               "order_at": gate.clock.now().isoformat()}
        assert gate.journal.record_peer_passage(row, seq=1)  # the other gate's guards decide
        assert not isinstance(gate.approvals.open_once("out-cam", actor="guard1",
                                                       reason="x"), PendingOverride)
    finally:
        gate.close()

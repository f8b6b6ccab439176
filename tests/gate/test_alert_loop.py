"""The alert loop closes: acknowledgements are events, unanswered urgent alerts escalate once,
a red override needs a second account, stale rules alert and fall back (real SQLite, gpiozero
MockFactory relays, a manual clock)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from gate.approvals import ApprovalError, PendingOverride
from gate.audit import audit_records, record_audit
from gate.freshness import ClockWatch, FreshnessRules, RulesFreshness
from gate.model import AlertSpec, Severity
from gate.passes import encode_pass
from gate.policy import Policy, RedOverrideRules
from gate.vocabulary import AlertKind, AuditKind, EventType, Rule
from tests.gate.alert_loop_support import OUT_PIN, RED, Gate, build_gate
from tests.gate.passes_support import PLATFORM, claims


@pytest.fixture
def gate(tmp_path: Path) -> Iterator[Gate]:
    g = build_gate(tmp_path)
    yield g
    g.close()


def red_exit(gate: Gate) -> None:
    outcome = gate.face(RED.person_id, "out-cam")
    assert outcome.decision.rule == Rule.RED_EXIT_DENIED and not outcome.released


def urgent(gate: Gate, grid: str | None = "grid-7") -> int:
    event = gate.journal.record_alert(
        AlertSpec(AlertKind.RED_EXIT_ATTEMPT, Severity.URGENT, "红码人员试图外出",
                  "red-permit holder tried to leave"), person_id="p-301", grid_id=grid)
    return int(event.row["id"])


def test_an_acknowledgement_is_an_event_with_who_when_and_comment(gate: Gate) -> None:
    alert_id = urgent(gate)
    events = gate.journal.acknowledge_alerts([alert_id, alert_id, 999], "guard1",
                                             "  called the   grid worker ")
    [ack] = events
    assert ack.kind is EventType.ALERT_ACK and ack.grid_id == "grid-7"
    row = ack.row
    assert row["alert_id"] == alert_id and row["acknowledged_by"] == "guard1"
    assert row["comment"] == "called the grid worker" and row["at"] == gate.clock.now(
        ).isoformat(timespec="microseconds")
    assert row["alert_event_id"] == gate.alerts()[0]["event_id"]
    assert gate.journal.acknowledge_alerts([alert_id], "guard2") == []  # once only
    assert gate.alerts()[0]["acknowledged_by"] == "guard1"
    with pytest.raises(ValueError, match="at most 500"):
        gate.journal.acknowledge_alerts(range(1, 502), "guard1")


def test_an_unanswered_urgent_alert_escalates_once(gate: Gate) -> None:
    first = urgent(gate)
    urgent(gate)
    gate.journal.record_alert(AlertSpec(AlertKind.PASSBACK, Severity.WARNING, "重复", "twice"))
    gate.clock.advance(9 * 60)
    assert gate.escalator.tick() == []
    answered = urgent(gate)
    gate.journal.acknowledge_alert(first, "guard1")
    gate.clock.advance(2 * 60)  # 11 minutes for the first two; the first was answered
    [copy] = gate.escalator.tick()
    row = copy.row
    assert copy.kind is EventType.ALERT and row["escalated"] is True
    assert row["id"] == first + 1 and row["audience"] == "street_office"
    assert row["unanswered_s"] == 11 * 60 and row["count"] == 1
    assert row["escalated_from"] == next(a["event_id"] for a in gate.alerts()
                                         if a["id"] == first + 1)
    assert copy.event_id != row["escalated_from"]  # a message of its own
    assert gate.escalator.tick() == []  # once
    gate.clock.advance(60 * 60)
    later = gate.escalator.tick()
    assert [e.row["id"] for e in later] == [answered]  # the warning alert never escalates
    shown = {a["id"]: a["escalated_at"] for a in gate.alerts()}
    assert shown[first] is None and shown[first + 1] is not None


def test_a_backlog_older_than_a_day_is_not_escalated_late(gate: Gate) -> None:
    urgent(gate)
    gate.clock.advance(26 * 3600)  # the gate was off meanwhile
    assert gate.escalator.tick() == []


def test_a_red_override_without_a_second_approval_does_not_open_the_door(gate: Gate) -> None:
    pin = gate.factory.pin(OUT_PIN)
    red_exit(gate)
    pending = gate.approvals.open_once("out-cam", actor="guard1", reason="says it is urgent")
    assert isinstance(pending, PendingOverride) and pending.requested_by == "guard1"
    assert pin.state is False  # asked, not opened
    with pytest.raises(ApprovalError) as same:
        gate.approvals.approve(pending.request_id, approver="GUARD1")
    assert same.value.code == "approval_same_account" and pin.state is False
    gate.clock.advance(121)  # the default window is 120 s
    with pytest.raises(ApprovalError) as gone:
        gate.approvals.approve(pending.request_id, approver="root")
    assert gone.value.code == "approval_gone"
    assert pin.state is False and [s.state for s in pin.states] == [False]
    assert gate.journal.recent_passages(5)[0]["rule"] == Rule.RED_EXIT_DENIED  # no override
    kinds = [r["kind"] for r in audit_records(gate.journal.db)]
    assert kinds == [AuditKind.OVERRIDE_EXPIRED, AuditKind.OVERRIDE_REQUESTED]
    [asked] = gate.alerts(AlertKind.OVERRIDE_APPROVAL)
    assert asked["person_id"] == "p-301" and "guard1" in asked["message_en"]


def test_a_red_override_with_a_second_approval_opens_and_names_both(gate: Gate) -> None:
    pin = gate.factory.pin(OUT_PIN)
    red_exit(gate)
    pending = gate.approvals.open_once("out-cam", actor="guard1", reason="hospital visit")
    assert isinstance(pending, PendingOverride) and gate.approvals.pending() == [pending]
    gate.clock.advance(30)
    outcome = gate.approvals.approve(pending.request_id, approver="root", address="10.0.0.9")
    assert outcome.released and pin.state is True
    passage = gate.journal.recent_passages(1)[0]
    assert passage["rule"] == Rule.OVERRIDE_OPEN_ONCE and passage["actor"] == "guard1"
    assert "hospital visit; approved by root" in passage["reason_en"]
    approved = audit_records(gate.journal.db, kind=AuditKind.OVERRIDE_APPROVED)[0]
    assert approved["actor"] == "root" and approved["target"] == "guard1"
    assert approved["address"] == "10.0.0.9" and passage["event_id"] in approved["detail"]
    [asked] = gate.alerts(AlertKind.OVERRIDE_APPROVAL)
    assert asked["acknowledged_by"] == "root"  # answered by the approval
    assert gate.approvals.pending() == []
    # The door was opened since: a further open-once needs no second account.
    assert not isinstance(gate.approvals.open_once("out-cam", actor="guard1", reason="again"),
                          PendingOverride)


def test_an_open_once_without_a_red_refusal_or_with_the_rule_off_opens_at_once(
        tmp_path: Path) -> None:
    gate = build_gate(tmp_path)
    try:
        gate.show(encode_pass(claims(pass_id="ok"), PLATFORM), "out-cam")  # green, opened
        assert not isinstance(gate.approvals.open_once("in-cam", actor="guard1",
                                                       reason="parcel"), PendingOverride)
        red_exit(gate)
        gate.clock.advance(301)  # older than the lookback: no longer the refusal at hand
        assert not isinstance(gate.approvals.open_once("out-cam", actor="guard1",
                                                       reason="later"), PendingOverride)
    finally:
        gate.close()
    off = build_gate(tmp_path / "off", policy=Policy(
        red_override=RedOverrideRules(second_approval=False)))
    try:
        red_exit(off)
        outcome = off.approvals.open_once("out-cam", actor="guard1", reason="policy allows")
        assert not isinstance(outcome, PendingOverride) and outcome.released
    finally:
        off.close()


def test_audit_records_are_journaled_and_bounded(gate: Gate) -> None:
    event = record_audit(gate.journal, AuditKind.LOGIN_FAILED, actor="x" * 500,
                         address="192.0.2.7", detail="wrong\nname or password")
    assert event.kind is EventType.AUDIT
    [row] = audit_records(gate.journal.db)
    assert row["actor"] == "x" * 64 and row["address"] == "192.0.2.7"
    assert row["detail"] == "wrong name or password" and row["event_id"] == event.event_id
    with pytest.raises(ValueError):
        record_audit(gate.journal, "made_up", actor="a")  # type: ignore[arg-type]


def test_rules_past_their_maximum_age_alert_once_and_fall_back(gate: Gate) -> None:
    rules = gate.checkpoint.rules
    freshness = RulesFreshness(rules, gate.keeper, gate.clock,
                               FreshnessRules(30, 30, when_stale="guard"))
    assert freshness.check() == []  # files set at install never age
    rules.set_issued("trust", 7, gate.clock.now() - timedelta(days=29))
    assert freshness.check() == [] and rules.stale == {}
    gate.clock.advance(2 * 86400)
    [alert] = freshness.check()
    assert alert.kind is AlertKind.TRUST_STALE and "version 7" in alert.message_en
    assert "31 days" in alert.message_en and rules.stale == {"trust": "guard"}
    assert freshness.check() == []  # once per episode
    refused = gate.show(encode_pass(claims(), PLATFORM), "in-cam")
    assert refused.decision.rule == Rule.RULES_STALE and not refused.released
    assert gate.factory.pin(17).state is False
    rules.set_issued("trust", 8, gate.clock.now())  # the platform issued it again
    assert freshness.check() == [] and rules.stale == {}
    gate.clock.advance(5)
    assert gate.show(encode_pass(claims(pass_id="pass-2"), PLATFORM), "out-cam").released
    [stored] = gate.alerts(AlertKind.TRUST_STALE)
    assert stored["severity"] == "urgent"


def test_the_clock_watch_alerts_once_per_episode(gate: Gate) -> None:
    answers = iter([False, False, True, None, False])
    watch = ClockWatch(gate.keeper, gate.clock, lambda: next(answers))
    raised = [watch.check() for _ in range(5)]
    assert [a is not None for a in raised] == [True, False, False, False, True]
    assert len(gate.alerts(AlertKind.CLOCK_UNSYNCED)) == 2

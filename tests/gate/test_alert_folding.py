"""Patterns, not just events: repeated refusals become one `probing` alert with a count, and a
repeated alert of one kind, reader and person folds into the first (real SQLite, MockFactory)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gate.alert_folding import FoldRules
from gate.journal.keeper import AlertRecord
from gate.model import AlertSpec, Severity
from gate.passes import encode_pass
from gate.probing import ProbingRules
from gate.vocabulary import AlertKind, EventType
from tests.gate.alert_loop_support import Gate, build_gate, forged_pass
from tests.gate.passes_support import NOW, PLATFORM, claims


@pytest.fixture
def gate(tmp_path: Path) -> Iterator[Gate]:
    g = build_gate(tmp_path)
    yield g
    g.close()


def test_five_forged_passes_in_ten_seconds_give_one_probing_alert_with_count_5(
        gate: Gate) -> None:
    for n in range(5):
        outcome = gate.show(forged_pass(n))
        assert not outcome.released and outcome.decision.rule == "pass.unknown_key"
        gate.clock.advance(2)  # five tries within ten seconds
    [probing] = gate.alerts(AlertKind.PROBING)
    assert probing["count"] == 5 and probing["severity"] == "urgent"
    assert probing["reader_id"] == "in-cam" and probing["person_id"] is None
    assert "in-cam" in probing["message_en"] and "forged" in probing["message_en"]
    # The first two raised their own alert (folded into one); from the third, the pattern
    # speaks for them: two alerts instead of five.
    [forged] = gate.alerts(AlertKind.FORGED_PASS)
    assert forged["count"] == 2
    assert len(gate.alerts()) == 2
    # The platform hears the first of each and every count as it grows.
    new = [e.row["kind"] for e in gate.of(EventType.ALERT)]
    assert new == [AlertKind.FORGED_PASS, AlertKind.PROBING]
    probing_event = next(e for e in gate.of(EventType.ALERT) if e.row["kind"] == "probing")
    assert probing_event.row["count"] == 3 and probing_event.row["passage_id"] is not None
    counts = [(e.row["kind"], e.row["count"]) for e in gate.of(EventType.ALERT_UPDATE)]
    assert counts == [("forged_pass", 2), ("probing", 4), ("probing", 5)]
    assert all(e.row["alert_event_id"] for e in gate.of(EventType.ALERT_UPDATE))
    # Five passages, every one refused and kept: folding never hides an attempt.
    assert [p["rule"] for p in gate.journal.recent_passages(10)] == ["pass.unknown_key"] * 5
    assert gate.factory.pin(17).state is False


def test_refusals_spread_wider_than_the_window_raise_no_pattern(gate: Gate) -> None:
    for n in range(4):
        gate.show(forged_pass(n))
        gate.clock.advance(31)  # two within any 60 s, never three
    assert gate.alerts(AlertKind.PROBING) == []
    [forged] = gate.alerts(AlertKind.FORGED_PASS)  # still one alert, counting them all
    assert forged["count"] == 4


def test_one_pass_refused_again_and_again_and_a_burst_of_unknown_faces(gate: Gate) -> None:
    expired = encode_pass(claims(pass_id="pass-old", expires_at=NOW.replace(year=2025)),
                          PLATFORM)
    for reader in ("in-cam", "out-cam", "in-cam"):  # the same pass at both readers
        assert gate.show(expired, reader).decision.rule == "pass.expired"
        gate.clock.advance(5)
    [one_pass] = gate.alerts(AlertKind.PROBING)
    assert one_pass["count"] == 3 and "pass-old" in one_pass["message_en"]
    assert one_pass["person_id"] == "p-101" and one_pass["severity"] == "warning"
    for _ in range(4):
        assert gate.face(None).decision.rule == "face.unknown"
        gate.clock.advance(3)
    faces = [a for a in gate.alerts(AlertKind.PROBING) if "unknown faces" in a["message_en"]]
    assert [(a["count"], a["reader_id"]) for a in faces] == [(4, "out-cam")]


def test_a_looping_demo_folds_177_passback_alerts_into_one(gate: Gate) -> None:
    # A green resident seen entering twice in a row at a soft anti-passback reader, again and
    # again: the demo that made 177 alerts in 6 minutes.
    green = encode_pass(claims(), PLATFORM)
    for _ in range(178):
        assert gate.show(green, "in-cam").released
        gate.clock.advance(2)
    [passback] = gate.alerts(AlertKind.PASSBACK)
    assert passback["count"] == 177 and passback["person_id"] == "p-101"
    assert len(gate.of(EventType.ALERT_UPDATE)) == 176
    # Acknowledged, the next one is a new alert; so is one after the window (10 min).
    assert gate.journal.acknowledge_alert(passback["id"], "guard1", "the demo loops")
    gate.show(green, "in-cam")
    gate.clock.advance(601)
    gate.show(green, "in-cam")
    assert [a["count"] for a in gate.alerts(AlertKind.PASSBACK)] == [1, 1, 177]


def test_alerts_apart_from_decisions_fold_too_and_others_never(gate: Gate) -> None:
    forced = AlertSpec(AlertKind.DOOR_FORCED, Severity.URGENT, "门被强行打开", "door forced")
    for _ in range(3):
        gate.keeper.alert(forced, reader_id="in-cam")
        gate.clock.advance(10)
    override = AlertSpec(AlertKind.OVERRIDE, Severity.INFO, "封锁", "locked down")
    for _ in range(2):
        gate.keeper.alert(override, reader_id="in-cam")
    assert [a["count"] for a in gate.alerts(AlertKind.DOOR_FORCED)] == [3]
    assert [a["count"] for a in gate.alerts(AlertKind.OVERRIDE)] == [1, 1]


def test_a_fold_planned_before_an_acknowledgement_becomes_a_new_alert(gate: Gate) -> None:
    forced = AlertSpec(AlertKind.DOOR_FORCED, Severity.URGENT, "门被强行打开", "door forced")
    gate.keeper.alert(forced)
    first = gate.alerts()[0]["id"]
    assert gate.keeper.folding is not None
    now_part, later = gate.keeper.folding.split(AlertRecord(forced))
    assert now_part is None and later is not None
    gate.journal.acknowledge_alert(first, "guard1")
    later.write(gate.journal)  # the guard was quicker than the write
    assert [(a["count"], a["acknowledged_by"]) for a in gate.alerts()] == [(1, None),
                                                                          (1, "guard1")]


def test_zero_window_folds_nothing(tmp_path: Path) -> None:
    gate = build_gate(tmp_path, fold=FoldRules(window_s=0, probing=ProbingRules(3, 60)))
    try:
        for n in range(3):
            gate.show(forged_pass(n))
        assert len(gate.alerts(AlertKind.FORGED_PASS)) == 2  # the third is the pattern's
        assert [a["count"] for a in gate.alerts(AlertKind.PROBING)] == [3]
    finally:
        gate.close()

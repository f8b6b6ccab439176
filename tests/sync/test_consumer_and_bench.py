"""The consumer's duplicate and gap bookkeeping, and the sync benchmark's output."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from edge.cli.main import cli
from gate.vocabulary import EventType
from sync.consumer import Deduper
from sync.messages import EventMessage

AT = datetime(2026, 11, 22, tzinfo=UTC)


def event(seq: int, gate: str = "gate-east", event_id: str | None = None) -> EventMessage:
    return EventMessage(type=EventType.DOOR, event_id=event_id or f"{gate}-{seq}", gate_id=gate,
                        compound_id="wenjiang-01", seq=seq, at=AT)


def test_duplicates_are_dropped_and_gaps_reported_once_per_gate() -> None:
    deduper = Deduper()
    assert deduper.accept(event(5)).new  # a consumer may start mid-stream
    assert deduper.accept(event(6)).missing == ()
    assert deduper.accept(event(6)).duplicate
    assert deduper.accept(event(9)).missing == ((7, 8),)
    assert deduper.missing("wenjiang-01", "gate-east") == [7, 8]
    assert deduper.accept(event(8)).missing == ()  # a late one fills part of the gap
    assert deduper.accept(event(7)).new
    assert deduper.missing("wenjiang-01", "gate-east") == []
    assert deduper.accept(event(1, gate="gate-west")).missing == ()  # gates are separate
    assert deduper.duplicates == 1


def test_memory_of_ids_is_bounded() -> None:
    deduper = Deduper(memory=10)
    for seq in range(1, 30):
        deduper.accept(event(seq))
    assert len(deduper._seen) == 10


@pytest.mark.broker
def test_bench_sync_prints_the_three_figures() -> None:
    result = CliRunner().invoke(cli, ["bench", "sync", "--events", "2000", "--samples", "20",
                                      "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output.splitlines()[-1])
    assert figures["received"] == 2000 and figures["latency_samples"] == 20
    assert figures["drain_events_per_s"] > 0
    assert 0 < figures["latency_p50_ms"] <= figures["latency_p95_ms"]

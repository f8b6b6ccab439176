"""The outbox: written in the journal's transaction, sequenced, routed, bounded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gate.clock import SystemClock
from gate.errors import JournalError
from gate.journal import Journal
from gate.model import AlertSpec, Severity
from gate.vocabulary import AlertKind
from sync.bound import OutboxBound, ranges_text
from sync.messages import EventMessage
from sync.outbox import Outbox
from sync.schema import counter
from sync.sinks.formats import WebhookRoute
from tests.sync.support import TOPICS, gate_journal, record_door_events, record_passage

URGENT = AlertSpec(AlertKind.RED_EXIT_ATTEMPT, Severity.URGENT, "红码人员试图外出",
                   "red permit tried to leave")
INFO = AlertSpec(AlertKind.RED_ENTRY, Severity.INFO, "红码人员进入", "red permit entered")


def outbox_for(journal: Journal, **kw: object) -> Outbox:
    outbox = Outbox(TOPICS, clock=SystemClock(), **kw)  # type: ignore[arg-type]
    outbox.attach(journal)
    return outbox


def rows(journal: Journal, sink: str = "mqtt") -> list[dict[str, object]]:
    cursor = journal.db.execute("SELECT * FROM outbox WHERE sink = ? ORDER BY id", [sink])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return gate_journal(tmp_path / "gate.db")


def test_each_event_gets_one_row_in_the_same_transaction_with_a_gap_free_sequence(
        journal: Journal) -> None:
    outbox_for(journal)
    ids = record_passage(journal, alert=URGENT) + record_door_events(journal, 3)
    stored = rows(journal)
    assert [r["event_id"] for r in stored] == ids
    assert [r["seq"] for r in stored] == [1, 2, 3, 4, 5]
    first = EventMessage.model_validate_json(stored[0]["payload"])  # type: ignore[arg-type]
    assert (first.schema_version, first.type, first.gate_id, first.compound_id) == (
        1, "passage", "gate-east", "wenjiang-01")
    assert json.loads(stored[0]["payload"])["at"].endswith("Z")  # type: ignore[arg-type]
    assert first.data["person_id"] == "p-101" and first.data["granted"] is True
    assert stored[0]["topic"] == "gg/v1/wenjiang-01/gate-east/events"
    assert stored[1]["topic"] == "gg/v1/wenjiang-01/grid/grid-7/alerts"
    assert stored[2]["routine"] == 1 and stored[0]["routine"] == 0


def test_when_the_outbox_cannot_be_written_the_journal_row_is_not_written_either(
        journal: Journal) -> None:
    outbox_for(journal)
    record_door_events(journal, 1)
    # A real SQLite failure inside the outbox insert (as a full disk would raise).
    journal.db.execute("CREATE TRIGGER fail BEFORE INSERT ON outbox "
                       "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END")
    with pytest.raises(JournalError, match="disk is full"):
        record_passage(journal)
    assert journal.db.execute("SELECT count(*) FROM passages").fetchone()[0] == 0
    journal.db.execute("DROP TRIGGER fail")
    record_passage(journal)
    assert [r["seq"] for r in rows(journal)] == [1, 2]  # the failed attempt used no number


def test_an_alert_of_an_unusable_grid_id_goes_to_the_gate_topic(journal: Journal) -> None:
    outbox_for(journal)
    record_passage(journal, grid_id="g/+/#", alert=URGENT)
    alert = rows(journal)[1]
    assert alert["topic"] == "gg/v1/wenjiang-01/gate-east/alerts"
    assert json.loads(alert["payload"])["data"]["grid_id"] == "g/+/#"  # type: ignore[arg-type]


def test_webhook_rows_only_for_wanted_alerts(journal: Journal) -> None:
    routes = [WebhookRoute("grid7", "work_chat", Severity.WARNING, frozenset({"grid-7"})),
              WebhookRoute("all", "json", Severity.INFO)]
    outbox_for(journal, routes=routes)
    record_passage(journal, alert=URGENT)
    record_passage(journal, grid_id="grid-8", alert=URGENT)
    record_passage(journal, alert=INFO)
    record_door_events(journal, 1)
    chat = rows(journal, "webhook:grid7")
    assert len(chat) == 1
    text = json.loads(chat[0]["payload"])["text"]["content"]  # type: ignore[arg-type]
    assert "红码人员试图外出" in text and "grid-7" in text and "#2" in text
    assert [r["seq"] for r in rows(journal, "webhook:all")] == [2, 4, 6]


def test_a_full_outbox_drops_routine_events_oldest_first_and_says_so(journal: Journal) -> None:
    outbox_for(journal, bound=OutboxBound(100, monotonic=SystemClock().monotonic))
    record_passage(journal)
    ids = record_door_events(journal, 150)
    kept = rows(journal)
    assert len(kept) <= 102
    assert kept[0]["kind"] == "passage"  # never dropped
    door_ids = [r["event_id"] for r in kept if r["kind"] == "door"]
    assert door_ids == ids[-len(door_ids):]  # the oldest went first
    dropped = counter(journal.db, "dropped_routine")
    assert dropped == 150 - len(door_ids)
    [alert] = journal.alerts(severity="warning")  # one per interval, not one per drop
    assert alert["kind"] == "outbox_full" and "routine door events (seq 2-" in alert["message_en"]
    assert any(r["kind"] == "alert" for r in rows(journal))  # the alert itself is queued


def test_passages_are_never_dropped_even_past_the_bound(journal: Journal) -> None:
    outbox_for(journal, bound=OutboxBound(100, monotonic=SystemClock().monotonic))
    for _ in range(130):
        record_passage(journal)
    assert len(rows(journal)) >= 130
    assert counter(journal.db, "dropped_routine") == 0
    [alert] = journal.alerts(severity="warning")
    assert "exceed the bound of 100" in alert["message_en"]


def test_ranges_text() -> None:
    assert ranges_text([3, 4, 5, 9, 12, 13]) == "3-5, 9, 12-13"
    assert ranges_text([]) == ""

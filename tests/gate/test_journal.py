"""The journal on a real SQLite file: passages, alerts, hooks in the same transaction, queries."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlite_utils import Database

from gate.clock import ManualClock
from gate.errors import JournalError
from gate.events import JournalEvent
from gate.journal import Journal
from gate.model import (
    AlertSpec,
    Colour,
    Decision,
    Direction,
    Method,
    Person,
    Reader,
    Severity,
)
from gate.observation import Observation
from gate.policy import Policy
from gate.store import open_database
from gate.vocabulary import AlertKind, DoorEventKind, EventType, Rule

T0 = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
OUT = Reader("out-cam", "gate-east", Direction.OUT)
IN = Reader("in-cam", "gate-east", Direction.IN)
ALICE = Person("p-1", "h-1", grid_id="grid-7")
BOB = Person("p-2", "h-1", grid_id="grid-7")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def journal(tmp_path: Path, clock: ManualClock) -> Journal:
    return Journal(open_database(tmp_path / "gridgate.db"), gate_id="gate-east", clock=clock)


def passage(journal: Journal, person: Person, reader: Reader, at: datetime,
            granted: bool = True, alerts: tuple[AlertSpec, ...] = (),
            colour: Colour = Colour.GREEN) -> list[JournalEvent]:
    obs = Observation(reader=reader, method=Method.FACE, seen_at=at,
                      face_person_id=person.person_id)
    rule = ((Rule.GREEN_IN if reader.direction is Direction.IN else Rule.GREEN_OUT) if granted
            else Rule.RED_EXIT_DENIED)
    decision = Decision(granted, rule, "测试", "test", alerts, person.person_id, colour)
    return journal.record_passage(obs, decision, person)


def test_passage_and_its_alerts_are_recorded_together(journal: Journal) -> None:
    alert = AlertSpec(AlertKind.RED_EXIT_ATTEMPT, Severity.URGENT, "红码外出", "red tried to leave")
    events = passage(journal, ALICE, OUT, T0, granted=False, alerts=(alert,), colour=Colour.RED)
    assert [e.kind for e in events] == [EventType.PASSAGE, EventType.ALERT]
    assert events[1].row["passage_id"] == events[0].row["id"]
    assert events[1].grid_id == "grid-7"
    rows = journal.trajectory("p-1")
    assert len(rows) == 1 and rows[0]["granted"] is False and rows[0]["colour"] == "red"
    assert rows[0]["rule"] == "red.exit_denied" == events[0].row["rule"]
    assert type(rows[0]["rule"]) is str  # a Rule is stored as its plain value
    assert journal.alerts(open_only=True)[0]["kind"] == "red_exit_attempt"
    assert len({e.event_id for e in events}) == 2


def test_transaction_hook_failure_rolls_back_the_passage(journal: Journal) -> None:
    def failing_hook(db: Database, event: JournalEvent) -> None:
        db["outbox"].insert({"event_id": event.event_id})
        raise sqlite3.OperationalError("database or disk is full")

    journal.add_transaction_hook(failing_hook)
    with pytest.raises(JournalError, match="disk is full"):
        passage(journal, ALICE, OUT, T0)
    assert journal.trajectory("p-1") == []
    assert not journal.db["outbox"].exists() or journal.db["outbox"].count == 0


def test_hook_sees_rows_inside_the_transaction_and_listeners_after_commit(
        journal: Journal) -> None:
    seen_in_tx: list[str] = []
    after: list[str] = []
    journal.add_transaction_hook(lambda db, e: seen_in_tx.append(e.event_id))
    journal.add_listener(lambda e: after.append(e.event_id))
    events = passage(journal, ALICE, OUT, T0)
    assert seen_in_tx == after == [events[0].event_id]


def test_a_full_disk_is_a_clear_error_and_writes_nothing(tmp_path: Path,
                                                         clock: ManualClock) -> None:
    db = open_database(tmp_path / "small.db")
    journal = Journal(db, gate_id="gate-east", clock=clock)
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's own 'disk full'
    big = AlertSpec(AlertKind.TAILGATING, Severity.INFO, "满" * 5000, "full" * 5000)
    with pytest.raises(JournalError, match="full"):
        passage(journal, ALICE, OUT, T0, alerts=(big,) * 5)
    db.execute("PRAGMA max_page_count = 1000000")
    assert journal.trajectory("p-1") == []
    passage(journal, ALICE, OUT, T0)
    assert len(journal.trajectory("p-1")) == 1


def test_trajectory_keeps_recording_order_when_the_clock_steps_back(
        journal: Journal) -> None:
    passage(journal, ALICE, OUT, T0)
    passage(journal, ALICE, IN, T0 - timedelta(minutes=5))  # NTP stepped the clock back
    assert [r["direction"] for r in journal.trajectory("p-1")] == ["out", "in"]
    assert [r["direction"] for r in journal.trajectory("p-1", limit=1)] == ["in"]


def test_who_is_out_uses_the_last_granted_passage(journal: Journal) -> None:
    passage(journal, ALICE, OUT, T0)
    passage(journal, BOB, OUT, T0)
    passage(journal, BOB, IN, T0 + timedelta(hours=1))
    passage(journal, BOB, OUT, T0 + timedelta(hours=2), granted=False)
    assert [r["person_id"] for r in journal.who_is_out()] == ["p-1"]


def test_history_collects_what_decide_needs(journal: Journal) -> None:
    policy = Policy()
    passage(journal, BOB, OUT, T0 - timedelta(days=5), colour=Colour.YELLOW)  # too old
    passage(journal, BOB, OUT, T0 - timedelta(hours=20), colour=Colour.YELLOW)
    passage(journal, BOB, IN, T0 - timedelta(hours=19), colour=Colour.YELLOW)
    passage(journal, ALICE, OUT, T0 - timedelta(seconds=30), granted=False)
    passage(journal, Person("p-9", "h-9"), OUT, T0 - timedelta(seconds=60))
    history = journal.history(person_id="p-2", household_id="h-1", gate_id="gate-east",
                              policy=policy, now=T0)
    assert history.last_passage is not None
    assert history.last_passage.direction is Direction.IN
    assert [p.at for p in history.household_exits] == [T0 - timedelta(hours=20)]
    assert [p.person_id for p in history.recent_exits] == ["p-9"]
    assert history.household_exits[0].colour is Colour.YELLOW


def test_alert_acknowledged_once(journal: Journal) -> None:
    spec = AlertSpec(AlertKind.DOOR_FORCED, Severity.URGENT, "门被强行打开", "forced")
    event = journal.record_alert(spec)
    assert journal.acknowledge_alert(event.row["id"], "guard1", "checked, wind") is True
    assert journal.acknowledge_alert(event.row["id"], "guard1") is False
    assert journal.alerts(open_only=True) == []
    row = journal.alerts()[0]
    assert row["acknowledged_by"] == "guard1" and row["ack_comment"] == "checked, wind"


def test_door_events_are_recorded(journal: Journal) -> None:
    journal.record_door_event("relay17", DoorEventKind.RELEASED, "grant (3 s)")
    assert journal.door_events()[0]["kind"] == "released"


def test_database_is_wal_and_full_sync(tmp_path: Path) -> None:
    db = open_database(tmp_path / "g.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_migrations_are_recorded_and_idempotent(tmp_path: Path, clock: ManualClock) -> None:
    path = tmp_path / "g.db"
    Journal(open_database(path), gate_id="g", clock=clock)
    Journal(open_database(path), gate_id="g", clock=clock)
    names = [r["name"] for r in open_database(path)["_sqlite_migrations"].rows]
    assert names.count("0001_passages_alerts_door_events") == 1

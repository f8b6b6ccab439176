"""How the journal stores passages (gate/journal/codec.py, schema.py): rows read back exactly as
written, the compatibility views show the same, the state per person follows the compound's
order, every query uses its index, and a database made by the previous schema migrates."""

from __future__ import annotations

import json
import shutil
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from gate.clock import ManualClock
from gate.journal import Journal
from gate.journal.codec import utc_text
from gate.journal.queries import JournalQueries
from gate.journal.rows import PEER_COLUMNS
from gate.journal.verify import verify
from gate.model import Colour, Person
from gate.policy import Policy
from gate.store import open_database
from gate.vocabulary import Rule
from tests.gate.journal_support import IN, OUT, T0, door, open_journal, record

DATA = Path(__file__).parent / "data"
ALICE = Person("p-1", "h-1", grid_id="grid-7")
BOB = Person("p-2", "h-1", grid_id="grid-7")


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return open_journal(tmp_path / "gridgate.db", ManualClock(T0))


def peer(journal: Journal, person: Person, direction: str, minutes: float, seq: int,
         *, granted: bool = True) -> bool:
    at = utc_text(T0 + timedelta(minutes=minutes))
    return journal.record_peer_passage({
        "event_id": uuid.uuid4().hex, "at": at, "gate_id": "gate-west",
        "reader_id": f"west-{direction}", "direction": direction, "person_id": person.person_id,
        "household_id": person.household_id, "grid_id": "grid-7", "pass_id": None,
        "method": "face", "colour": "yellow", "granted": granted, "rule": "yellow.in",
        "reason_zh": "黄码，准予进入", "reason_en": "Yellow: you may enter",
        "face_distance": 0.412345, "faces_in_view": 1, "actor": None, "order_at": at},
        seq=seq)


def test_rows_read_back_as_written_and_as_the_view_shows_them(journal: Journal) -> None:
    events = []
    for i, (person, reader) in enumerate([(ALICE, OUT), (BOB, IN), (None, IN)]):
        at = T0 + timedelta(minutes=i, microseconds=123457)
        journal.clock.set(at)  # type: ignore[attr-defined]
        record(journal, person, reader, at, face_distance=0.4123456789 if i else None,
               granted=person is not None, snapshot="snapshots/2026-03-01/" + "a" * 32 + ".jpg"
               if person is None else None, actor=None)
        events.append(journal.recent_passages(1)[0])
    assert peer(journal, ALICE, "in", 30, seq=7)
    rows = journal.trajectory("p-1") + journal.trajectory("p-2")
    assert rows[0] == events[0]
    assert rows[0]["at"] == utc_text(T0 + timedelta(microseconds=123457))
    assert rows[2]["face_distance"] == 0.412346  # six decimals, as the event said
    assert rows[1]["received_at"] is not None and rows[1]["origin_seq"] == 7
    view = journal.db.execute("SELECT * FROM passages ORDER BY id").fetchall()
    names = [d[0] for d in journal.db.execute("SELECT * FROM passages LIMIT 0").description]
    shown = [dict(zip(names, v, strict=True)) for v in view]
    assert [{**r, "granted": bool(r["granted"])} for r in shown] == journal.recent_passages(9)[::-1]
    assert list(shown[0]) == list(rows[0])  # the columns of the table the view replaces
    door(journal, T0 + timedelta(hours=1))
    view_doors = journal.db.execute("SELECT * FROM door_events").fetchall()
    assert [tuple(d.values()) for d in journal.door_events()] == view_doors


def test_every_event_id_is_32_hex_digits(journal: Journal) -> None:
    with pytest.raises(ValueError, match="32 hex digits"):
        journal.record_peer_passage({**dict.fromkeys(PEER_COLUMNS), "event_id": "west-1",
                                     "at": utc_text(T0), "gate_id": "gate-west"}, seq=1)


def test_a_late_older_peer_passage_never_replaces_a_newer_state(journal: Journal) -> None:
    record(journal, ALICE, OUT, T0 + timedelta(minutes=10))  # out at 10:10 here
    assert peer(journal, ALICE, "in", 5, seq=1)  # came in at 10:05 by gate-west, heard late
    assert [r["person_id"] for r in journal.who_is_out()] == ["p-1"]
    last = journal.history(person_id="p-1", household_id=None, gate_id="gate-east",
                           policy=Policy(), now=T0 + timedelta(hours=1)).last_passage
    assert last is not None and last.direction.value == "out"
    assert peer(journal, ALICE, "in", 20, seq=2)  # and in again at 10:20: newer, it counts
    assert journal.who_is_out() == []
    denied = peer(journal, BOB, "out", 30, seq=3, granted=False)
    assert denied and journal.who_is_out() == []  # a denied exit leaves nobody out


def test_history_reads_only_yellow_exits_of_the_household(journal: Journal) -> None:
    record(journal, ALICE, OUT, T0 - timedelta(hours=5), colour=Colour.YELLOW,
           rule=Rule.YELLOW_EXIT)
    record(journal, BOB, OUT, T0 - timedelta(hours=4), colour=Colour.GREEN)  # green: no quota
    history = journal.history(person_id="p-2", household_id="h-1", gate_id="gate-east",
                              policy=Policy(), now=T0)
    assert [(p.person_id, p.colour) for p in history.household_exits] == [("p-1", Colour.YELLOW)]


def test_every_query_reads_through_an_index(journal: Journal) -> None:
    """No question of the journal scans passage_log: at ten million passages a scan is
    seconds (docs/journal.md has the figures)."""
    record(journal, ALICE, OUT, T0)
    seen: list[str] = []
    real = journal.db.conn

    class Tracing:
        """The connection, explaining each read of passage_log before running it."""

        def execute(self, sql: str, params: Any = ()) -> Any:
            if "passage_" in sql and sql.lstrip().upper().startswith("SELECT"):
                plan = real.execute(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()
                seen.extend(f"{sql[:60]}: {row[3]}" for row in plan)
            return real.execute(sql, params)

    queries = JournalQueries(real)
    queries.conn = queries.book.conn = Tracing()  # type: ignore[assignment]
    now = T0 + timedelta(hours=1)
    queries.history(person_id="p-1", household_id="h-1", gate_id="gate-east", policy=Policy(),
                    now=now)
    queries.trajectory("p-1")
    queries.trajectory("p-1", limit=3)
    queries.who_is_out()
    queries.passages_between(T0, now)
    queries.passages_between(T0, now, gate_id="gate-east")
    queries.passage_times(T0, now)
    queries.contacts("p-1", timedelta(minutes=10), since=T0 - timedelta(days=1))
    queries.recent_passages(5)
    queries.own_passages(after_id=0)
    queries.own_passages(after_id=1)
    queries.own_passages(since=T0)
    queries.yellow_exits("h-1", T0, now)
    queries.has_passages("p-1")
    scans = [s for s in seen if s.split(": ", 1)[1].startswith(("SCAN passage_log",
                                                                 "SCAN passage_recent"))]
    # The newest passages: the copy in time order read backwards, LIMIT rows of it and no
    # more (or passage_log's time index, when the copy holds fewer).
    assert scans == ["SELECT person, id, at, order_lag, event_id, gate, reader, di: "
                     "SCAN passage_recent", "SELECT person, id, at, order_lag, event_id, gate, "
                     "reader, di: SCAN passage_log USING INDEX passage_log_at"], scans


def _rows(db: Any, sql: str) -> list[dict[str, Any]]:
    cursor = db.execute(sql)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _no_step(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**r, "live_step": None} for r in rows]


def test_a_journal_written_by_the_previous_release_migrates_unchanged(tmp_path: Path) -> None:
    """tests/gate/data/journal-0002.db was written by the gridgate of commit 046724b (migrations
    0001-0002; make_journal_0002.py beside it), with what that code read from it: after 0003
    the views, who is out and the trajectories read the same (0004 adds `live_step`, None for
    every passage before it), and the chain holds."""
    path = tmp_path / "gridgate.db"
    shutil.copy(DATA / "journal-0002.db", path)
    before = json.loads((DATA / "journal-0002.json").read_text())
    journal = Journal(open_database(path), gate_id="gate-east",
                      clock=ManualClock(T0 + timedelta(hours=5)))
    db = journal.db
    assert _rows(db, "SELECT * FROM passages ORDER BY id") == _no_step(before["passages"])
    assert [{**d, "id": None} for d in _rows(db, "SELECT * FROM door_events ORDER BY id")] == [
        {**d, "id": None} for d in before["door_events"]]  # a door event's id: its place now
    alerts = _rows(db, "SELECT * FROM alerts ORDER BY id")
    assert [{k: a[k] for k in before["alerts"][0]} for a in alerts] == before["alerts"]
    assert journal.who_is_out() == _no_step(before["who_is_out"])
    assert journal.trajectory("p-1") == _no_step(before["trajectory_p1"])
    assert journal.peer_high_water() == before["peer_high_water"]
    assert verify(journal).broken is None
    record(journal, ALICE, IN, T0 + timedelta(hours=5))  # and it goes on from there
    assert verify(journal).broken is None
    assert [r["person_id"] for r in journal.who_is_out()] == [
        r["person_id"] for r in before["who_is_out"] if r["person_id"] != "p-1"]


def test_a_peer_catching_up_gets_this_gates_passages_after_the_one_it_holds(
        journal: Journal) -> None:
    ids = []
    for minute in range(40):
        if minute % 3 == 0:
            assert peer(journal, BOB, "in", minute, seq=minute + 1)  # others' passages between
        door(journal, T0 + timedelta(minutes=minute, seconds=1))
        ids.append(record(journal, ALICE, IN if minute % 2 else OUT,
                          T0 + timedelta(minutes=minute)))
    for after in (0, ids[0], ids[17], ids[-2], ids[-1], ids[-1] + 5):
        got = [r["id"] for r in journal.own_passages(after_id=after, limit=10)]
        assert got == [i for i in ids if i > after][:10], after
    since = [r["id"] for r in journal.own_passages(since=T0 + timedelta(minutes=30))]
    assert since == ids[30:]

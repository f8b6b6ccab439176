"""How the journal stores passages (gate/journal/codec.py, schema.py): rows read back exactly as
written, the compatibility views show the same, the state per person follows the compound's
order, every query uses its index, and a database made by the previous schema migrates."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from gate.clock import ManualClock
from gate.journal import Journal, schema
from gate.journal.codec import us_text, utc_text
from gate.journal.queries import JournalQueries
from gate.journal.rows import PEER_COLUMNS
from gate.journal.verify import verify
from gate.model import Colour, Person
from gate.policy import Policy
from gate.store import open_database
from gate.vocabulary import Rule
from tests.gate.journal_support import IN, OUT, T0, door, open_journal, record

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
            if "passage_log" in sql and sql.lstrip().upper().startswith("SELECT"):
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
    scans = [s for s in seen if s.split(": ", 1)[1].startswith("SCAN passage_log")]
    # The newest passages: the time index read backwards, LIMIT rows of it and no more.
    assert scans == ["SELECT person, id, at, order_lag, event_id, gate, reader, di: "
                     "SCAN passage_log USING INDEX passage_log_at"], scans


def _old_rows(db: Any) -> dict[str, list[tuple[Any, ...]]]:
    return {t: db.execute(f"SELECT * FROM {t} ORDER BY id").fetchall()
            for t in ("passages", "door_events", "alerts")}


def test_a_journal_of_the_previous_schema_migrates_unchanged(tmp_path: Path) -> None:
    """A database as the previous release wrote it (migrations 0001-0002, rows inserted as its
    Journal did) reads the same through the views after 0003, and its chain holds."""
    path = tmp_path / "old.db"
    db = open_database(path)
    schema.migrations.apply(db, stop_before="0003_journal_compact_chained")
    times = [T0 + timedelta(minutes=m, microseconds=m * 7) for m in range(6)]
    rows = [
        (1, "a" * 32, times[0], "gate-east", "out-cam", "out", "p-1", "h-1", "grid-7", "pass-1",
         "pass", "green", 1, "green.out", "绿码，请通行", "Green: you may leave", None, 0, None,
         None, None, None, times[0]),
        (2, "b" * 32, times[1], "gate-west", "west-in", "in", "p-2", "h-1", None, None, "face",
         "yellow", 1, "yellow.in", "黄码，准予进入", "Yellow: you may enter", 0.41, 1, None, None,
         12, utc_text(times[2]), times[1]),
        (3, "c" * 32, times[2], "gate-east", "out-cam", "out", "p-3", "h-2", "grid-7", None,
         "face", "red", 0, "red.exit_denied", "红码，居家观察期间禁止外出",
         "Red: home observation, you may not leave", 0.38, 2, "snapshots/x.jpg", None, None,
         None, times[2]),
        (4, "d" * 32, times[3], "gate-east", "in-cam", "in", None, None, None, None, "override",
         None, 1, "override.open_once", "人工放行（guard-li）：救护车",
         "opened by guard-li: ambulance", None, 0, None, "guard-li", None, None, times[3]),
    ]
    for r in rows:
        db.execute("INSERT INTO passages (id, event_id, at, gate_id, reader_id, direction, "
                   "person_id, household_id, grid_id, pass_id, method, colour, granted, rule, "
                   "reason_zh, reason_en, face_distance, faces_in_view, snapshot, actor, "
                   "origin_seq, received_at, order_at) VALUES (" + ", ".join("?" * 23) + ")",
                   [utc_text(v) if hasattr(v, "tzinfo") else v for v in r])
    db.execute("INSERT INTO door_events (event_id, at, gate_id, door, kind, detail, actor) "
               "VALUES (?, ?, 'gate-east', 'relay17', 'released', 'green.out (3 s)', NULL)",
               ["e" * 32, utc_text(times[4])])
    db.execute("INSERT INTO alerts (event_id, at, gate_id, reader_id, kind, severity, person_id,"
               " household_id, grid_id, passage_id, message_zh, message_en) VALUES (?, ?, "
               "'gate-east', 'out-cam', 'red_exit_attempt', 'urgent', 'p-3', 'h-2', 'grid-7', 3,"
               " '红码人员试图外出：p-3', 'red-permit holder tried to leave: p-3')",
               ["f" * 32, utc_text(times[2])])
    db.conn.commit()
    before = _old_rows(db)
    old_who = [r[6] for r in db.execute(
        "SELECT * FROM passages WHERE granted = 1 AND person_id IS NOT NULL ORDER BY id")
        if r[5] == "out"]
    journal = Journal(db, gate_id="gate-east", clock=ManualClock(times[5]))
    after = _old_rows(db)
    assert after["passages"] == before["passages"]
    assert [d[1:] for d in after["door_events"]] == [d[1:] for d in before["door_events"]]
    assert [a[:16] for a in after["alerts"]] == [a[:16] for a in before["alerts"]]
    assert [r["person_id"] for r in journal.who_is_out()] == old_who == ["p-1"]
    assert journal.peer_high_water() == {"gate-west": 12}
    assert verify(journal).broken is None
    record(journal, ALICE, IN, times[5])  # and it goes on from there
    assert journal.who_is_out() == [] and verify(journal).broken is None
    assert us_text(0) == "1970-01-01T00:00:00.000000+00:00"


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

"""The last month of passages in time order (gate/journal/recent.py): it always holds exactly
the passages of passage_log from its start, loses what they lose, answers contacts and spans of
time as passage_log does, and `journal verify` finds it changed by hand."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gate.clock import ManualClock
from gate.journal import Journal, recent
from gate.journal.codec import from_us, to_us, utc_text
from gate.journal.retention import Retention, prune
from gate.journal.schema import migrate
from gate.journal.verify import verify
from gate.journal.wipe import wipe_all, wipe_person
from gate.model import Person
from gate.policy import Policy
from tests.gate.journal_support import IN, OUT, T0, open_journal, record, shell

PEOPLE = [Person(f"p-{i}", f"h-{i // 2}", grid_id="grid-7") for i in range(4)]
DAYS = 40


def copy_rows(journal: Journal) -> int:
    return int(journal.db.conn.execute("SELECT count(*) FROM passage_recent").fetchone()[0])


def peer(journal: Journal, person: Person, at_hours: float, seq: int) -> bool:
    at = utc_text(T0 + timedelta(hours=at_hours))
    return journal.record_peer_passage({
        "event_id": uuid.uuid4().hex, "at": at, "gate_id": "gate-west", "reader_id": "west-in",
        "direction": "in", "person_id": person.person_id, "household_id": person.household_id,
        "grid_id": "grid-7", "pass_id": None, "method": "face", "colour": "green",
        "granted": True, "rule": "green.in", "reason_zh": "绿码，请通行", "reason_en": "Green",
        "face_distance": 0.4, "faces_in_view": 1, "actor": None, "order_at": at}, seq=seq)


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    """Forty days of four residents twice a day at this gate, and one of them at a peer's."""
    journal = open_journal(tmp_path / "gridgate.db", ManualClock(T0))
    with journal.batch():
        for day in range(DAYS):
            for i, person in enumerate(PEOPLE):
                at = T0 + timedelta(days=day, hours=8, minutes=i * 3)
                record(journal, person, OUT, at)
                record(journal, person, IN, at + timedelta(hours=9), granted=i != 3)
            peer(journal, PEOPLE[0], day * 24 + 8.05, seq=day + 1)
    return journal


def test_the_copy_holds_the_last_month_and_moves_on_by_the_hour(journal: Journal) -> None:
    conn = journal.db.conn
    newest = T0 + timedelta(days=DAYS - 1, hours=17, minutes=9)
    start = recent.covered_from(conn)
    assert start is not None
    assert to_us(newest - recent.RECENT - timedelta(hours=1)) < start <= to_us(
        newest - recent.RECENT)
    assert recent.differences(conn) == 0
    held = copy_rows(journal)
    assert held == conn.execute("SELECT count(*) FROM passage_log WHERE at >= ?",
                                [start]).fetchone()[0]
    assert 31 * 8 <= held < 33 * 9 < conn.execute("SELECT count(*) FROM passage_log"
                                                  ).fetchone()[0]
    # A late peer passage from before the start goes to passage_log only.
    assert peer(journal, PEOPLE[1], 24.0, seq=500)
    assert copy_rows(journal) == held and recent.differences(conn) == 0
    # A clock stepped back never moves the start back.
    record(journal, PEOPLE[2], OUT, newest - timedelta(days=3))
    assert recent.covered_from(conn) == start and recent.differences(conn) == 0
    # Two hours on, the oldest two hours leave it: one short delete.
    record(journal, PEOPLE[2], IN, newest + timedelta(hours=2))
    assert start < recent.covered_from(conn) <= to_us(  # type: ignore[operator]
        newest + timedelta(hours=2) - recent.RECENT)
    assert recent.differences(conn) == 0 and copy_rows(journal) < held + 2
    assert verify(journal).broken is None


def test_what_passage_log_loses_the_copy_loses(journal: Journal) -> None:
    conn = journal.db.conn
    now = T0 + timedelta(days=DAYS)
    held = copy_rows(journal)
    report = prune(journal, Retention(passages_days=35, denied_days=2, alerts_days=90,
                                      door_events_days=30), Policy(), now=now)
    assert report.as_dict()["removed"]["passages"] > 0
    assert copy_rows(journal) < held  # the denials of more than two days ago
    assert recent.differences(conn) == 0
    wipe_person(journal, "p-0", Policy(), now=now)
    assert conn.execute("SELECT count(*) FROM passage_recent WHERE person = "
                        "(SELECT code FROM journal_names WHERE kind = 3 AND name = 'p-0') "
                        "AND granted = 1 AND NOT (direction = 1 AND colour = 2)"
                        ).fetchone()[0] == 0
    assert recent.differences(conn) == 0
    assert verify(journal).broken is None
    wipe_all(journal)
    assert copy_rows(journal) == 0 and recent.differences(conn) == 0
    record(journal, PEOPLE[1], OUT, now)  # and it goes on
    assert copy_rows(journal) == 1 and verify(journal).broken is None


def _view(journal: Journal) -> list[dict[str, Any]]:
    """Every passage as the `passages` view shows it (passage_log, no index, no copy)."""
    cursor = journal.db.conn.execute("SELECT * FROM passages")
    names = [d[0] for d in cursor.description]
    return sorted(({**dict(zip(names, row, strict=True)), "granted": bool(row[names.index(
        "granted")])} for row in cursor), key=lambda r: (r["at"], r["id"]))


def _contacts(rows: list[dict[str, Any]], person_id: str, within: timedelta,
              since: datetime | None = None) -> list[dict[str, Any]]:
    """What contacts must answer, from every passage by brute force."""
    def at(row: dict[str, Any]) -> datetime:
        return datetime.fromisoformat(row["at"])

    own = [r for r in rows if r["person_id"] == person_id and r["granted"]
           and (since is None or at(r) >= since)]
    near: dict[int, tuple[timedelta, dict[str, Any], dict[str, Any]]] = {}
    for mine in own:
        for row in rows:
            gap = abs(at(row) - at(mine))
            if (row["gate_id"] == mine["gate_id"] and row["granted"] and gap <= within
                    and row["person_id"] not in (None, person_id)
                    and (row["id"] not in near or gap < near[row["id"]][0])):
                near[row["id"]] = (gap, row, mine)
    return [{**row, "gap_s": round(gap.total_seconds(), 3), "near_event_id": mine["event_id"],
             "near_at": mine["at"]} for gap, row, mine in sorted(
                 near.values(), key=lambda n: (n[1]["at"], n[1]["id"]))]


def test_contacts_and_spans_answer_as_passage_log_says(journal: Journal) -> None:
    """Against brute force over every passage: contacts whose windows lie in the copy, before
    it and across its start, spans that start at it and just before it; and they do read the
    copy: emptied by hand of one person, the answers that read it change."""
    conn = journal.db.conn
    end = T0 + timedelta(days=DAYS)
    start = from_us(recent.covered_from(conn))  # type: ignore[arg-type]
    rows = _view(journal)
    expected = {
        "contacts, all": (lambda: journal.contacts("p-1", timedelta(minutes=10)),
                          _contacts(rows, "p-1", timedelta(minutes=10))),
        "contacts, 14 days": (
            lambda: journal.contacts("p-1", timedelta(minutes=4), since=end - timedelta(days=14)),
            _contacts(rows, "p-1", timedelta(minutes=4), end - timedelta(days=14))),
        "contacts, a day either side": (  # windows across the copy's start
            lambda: journal.contacts("p-2", timedelta(hours=24), since=start - timedelta(days=2)),
            _contacts(rows, "p-2", timedelta(hours=24), start - timedelta(days=2))),
        "contacts, 60 days": (
            lambda: journal.contacts("p-0", timedelta(hours=2), since=end - timedelta(days=60)),
            _contacts(rows, "p-0", timedelta(hours=2), end - timedelta(days=60))),
        "from the start": (lambda: journal.passages_between(start, start + timedelta(days=2)),
                           [r for r in rows if start <= datetime.fromisoformat(r["at"])
                            < start + timedelta(days=2)]),
        "from just before": (
            lambda: journal.passages_between(start - timedelta(microseconds=1),
                                             start + timedelta(days=2)),
            [r for r in rows if start - timedelta(microseconds=1) <= datetime.fromisoformat(
                r["at"]) < start + timedelta(days=2)]),
        "from a day before": (
            lambda: journal.passages_between(start - timedelta(days=1), start + timedelta(days=1)),
            [r for r in rows if start - timedelta(days=1) <= datetime.fromisoformat(r["at"])
             < start + timedelta(days=1)]),
        "a week at the peer": (
            lambda: journal.passages_between(end - timedelta(days=7), end, gate_id="gate-west"),
            [r for r in rows if r["gate_id"] == "gate-west"
             and end - timedelta(days=7) <= datetime.fromisoformat(r["at"]) < end]),
        "the newest": (lambda: journal.recent_passages(7), rows[::-1][:7]),
    }
    for name, (ask, answer) in expected.items():
        assert len(answer) > 5, name
        assert ask() == answer, name
    conn.execute("DELETE FROM passage_recent WHERE person = (SELECT code FROM journal_names "
                 "WHERE kind = 3 AND name = 'p-2')")
    changed = {name for name, (ask, answer) in expected.items() if ask() != answer}
    assert changed == {"contacts, all", "contacts, 14 days", "contacts, 60 days",
                       "from the start", "the newest"}  # p-2's own contacts leave p-2 out
    assert verify(journal).broken.table == "passage_recent"  # type: ignore[union-attr]


@pytest.mark.parametrize("sql", [
    "UPDATE passage_recent SET granted = 0 WHERE id = (SELECT max(id) FROM passage_recent)",
    "DELETE FROM passage_recent WHERE id = (SELECT max(id) FROM passage_recent)",
    "INSERT INTO passage_recent SELECT * FROM passage_log WHERE at < "
    "(SELECT value FROM journal_counters WHERE name = 'recent_from') LIMIT 1",
])
def test_journal_verify_finds_the_copy_changed_by_hand(journal: Journal, sql: str) -> None:
    path = Path(journal.db.conn.execute("PRAGMA database_list").fetchone()[2])
    shell(path, sql)
    broken = verify(journal).broken
    assert broken is not None and broken.table == "passage_recent"
    assert "1 of the recent passages in time order differ" in broken.what


def test_a_journal_from_before_the_copy_gets_it_filled(journal: Journal) -> None:
    conn = journal.db.conn
    with conn:
        conn.execute("DROP TABLE passage_recent")
        conn.execute("DELETE FROM journal_counters WHERE name = ?", [recent.COUNTER])
        conn.execute("DELETE FROM _sqlite_migrations WHERE name LIKE '0005_%'")
    migrate(journal.db)
    newest = conn.execute("SELECT max(at) FROM passage_log").fetchone()[0]
    assert recent.covered_from(conn) == newest - to_us(T0 + recent.RECENT) + to_us(T0)
    assert copy_rows(journal) > 200 and recent.differences(conn) == 0
    reopened = open_journal(Path(conn.execute("PRAGMA database_list").fetchone()[2]),
                            ManualClock(T0 + timedelta(days=DAYS)))
    record(reopened, PEOPLE[0], IN, T0 + timedelta(days=DAYS))
    assert verify(reopened).broken is None


def test_after_days_switched_off_the_backlog_is_trimmed_a_bit_a_passage(
        journal: Journal, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recent, "TRIM_ROWS", 10)
    conn = journal.db.conn
    back = T0 + timedelta(days=DAYS + 10)  # ten days off: ten days of the copy to trim
    held, start = copy_rows(journal), recent.covered_from(conn)
    record(journal, PEOPLE[0], IN, back)
    assert copy_rows(journal) == held - 10 + 1
    assert recent.covered_from(conn) > start  # type: ignore[operator]
    assert recent.differences(conn) == 0
    for minute in range(1, 20):
        record(journal, PEOPLE[1], IN if minute % 2 else OUT, back + timedelta(minutes=minute))
        assert recent.differences(conn) == 0
    caught_up = recent.covered_from(conn)  # at the passage that trimmed the last of it
    assert to_us(back - recent.RECENT) < caught_up <= to_us(  # type: ignore[operator]
        back + timedelta(minutes=19) - recent.RECENT)
    assert conn.execute("SELECT min(at) FROM passage_recent").fetchone()[0] >= caught_up
    assert verify(journal).broken is None

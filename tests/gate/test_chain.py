"""Tamper evidence on a real file: what a person with a shell and the sqlite3 tool can do to
the journal, and what `verify` (gate/journal/verify.py) finds."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from gate.clock import ManualClock
from gate.journal import Journal
from gate.journal.queries import JournalQueries
from gate.journal.retention import Retention, prune
from gate.journal.verify import verify
from gate.journal.wipe import wipe_person
from gate.model import Colour, Person
from gate.policy import Policy
from gate.store import open_database, open_reader
from tests.gate.journal_support import IN, OUT, T0, door, open_journal, record, red_alert, shell

ALICE = Person("p-1", "h-1", grid_id="grid-7")
BOB = Person("p-2", "h-2", grid_id="grid-7")


@pytest.fixture
def path(tmp_path: Path) -> Iterator[Path]:
    """A journal of a week: passages, denials with alerts, door events."""
    path = tmp_path / "gridgate.db"
    journal = open_journal(path, ManualClock(T0))
    for day in range(7):
        at = T0 + timedelta(days=day)
        record(journal, ALICE, OUT, at)
        door(journal, at + timedelta(seconds=1))
        record(journal, BOB, OUT, at + timedelta(minutes=1), granted=False,
               colour=Colour.RED, alerts=(red_alert(BOB),))
        record(journal, ALICE, IN, at + timedelta(hours=2), face_distance=0.35)
        door(journal, at + timedelta(hours=2, seconds=1))
    journal.db.close()
    yield path


def check(path: Path) -> dict[str, object]:
    return verify(JournalQueries(open_reader(path))).as_dict()


def test_an_untouched_journal_verifies(path: Path) -> None:
    result = check(path)
    assert result["ok"] is True and result["first_break"] is None
    assert result["records"] == 7 * 6  # 3 passages, 2 door events, 1 alert a day
    assert result["head"] == {"seq": 42, "link": result["head"]["link"]}  # type: ignore[index]


@pytest.mark.parametrize(("sql", "table", "what"), [
    ("UPDATE passage_log SET granted = 1 WHERE id = 5", "passages", "does not match"),
    ("UPDATE passage_log SET at = at - 60000000 WHERE id = 4", "passages", "does not match"),
    ("UPDATE alerts SET message_en = 'nothing' WHERE id = 2", "alerts", "does not match"),
    ("UPDATE door_log SET at = at + 1 WHERE seq = 8", "door_events", "does not match"),
    ("DELETE FROM passage_log WHERE id = 7", "door_events", "place 13 before it were deleted"),
    ("DELETE FROM door_log WHERE seq = 6", "passages", "deleted"),
    ("UPDATE journal_names SET name = 'p-9' WHERE kind = 3 AND name = 'p-2'", "passages",
     "does not match"),
    ("INSERT INTO alerts (event_id, at, gate_id, kind, severity, message_zh, message_en) VALUES"
     " ('x', '2026-03-02', 'gate-east', 'override', 'info', 'a', 'b')", "alerts",
     "no place in the chain"),
])
def test_a_row_changed_with_the_sqlite3_shell_is_found(path: Path, sql: str, table: str,
                                                         what: str) -> None:
    shell(path, sql)
    broken = check(path)["first_break"]
    assert isinstance(broken, dict), f"{sql} went unnoticed"
    assert broken["table"] == table and what in broken["what"], broken


def test_deleting_the_newest_records_is_found(path: Path) -> None:
    shell(path, "DELETE FROM door_log WHERE seq = (SELECT max(seq) FROM door_log)")
    broken = check(path)["first_break"]
    assert isinstance(broken, dict) and "newest records" in broken["what"]


def test_forging_a_gap_link_does_not_hide_a_deletion(path: Path) -> None:
    """Someone who knows the design copies the deleted record's link as if a prune had kept
    it: the notes do not account for the missing record."""
    shell(path, "INSERT INTO journal_chain_gaps SELECT seq, link FROM door_log WHERE seq = 6")
    shell(path, "DELETE FROM door_log WHERE seq = 6")
    broken = check(path)["first_break"]
    assert isinstance(broken, dict) and "no prune or wipe removed" in broken["what"]


def test_prunes_and_wipes_are_recorded_in_the_chain_not_breaks(path: Path) -> None:
    clock = ManualClock(T0 + timedelta(days=9))
    journal = Journal(open_database(path), gate_id="gate-east", clock=clock)
    report = prune(journal, Retention(passages_days=4, denied_days=2, alerts_days=3,
                                      door_events_days=5), Policy(), now=clock.now(), batch=2)
    assert sum(report.removed.values()) > 0 and report.batches > 4
    assert check(path)["ok"] is True
    wipe_person(journal, "p-1", Policy(), now=clock.now())
    result = check(path)
    head = result["head"]
    assert isinstance(head, dict)
    assert result["ok"] is True and result["removed"] == head["seq"] - result["records"]
    notes = journal.db.execute("SELECT action, detail FROM journal_notes").fetchall()
    assert ("wipe", '{"scope":"person"}') in notes  # that a wipe happened, not whose
    assert all("p-1" not in detail for _, detail in notes)
    record(journal, BOB, IN, clock.now())  # the chain goes on after what was removed
    assert check(path)["ok"] is True


def test_journal_verify_on_the_command_line(path: Path, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from edge.cli.main import cli

    config = tmp_path / "gate.toml"
    (tmp_path / "trust.json").write_text("{}")
    config.write_text(f'[gate]\ngate_id = "gate-east"\ncompound_id = "c1"\n[[readers]]\n'
                      f'reader_id = "in-cam"\ndirection = "in"\ncamera = "0"\nrelay_pin = 17\n'
                      f'[storage]\nstate_dir = "{path.parent}"\n[passes]\n'
                      f'trust_list = "{tmp_path / "trust.json"}"\n')
    runner = CliRunner()
    result = runner.invoke(cli, ["journal", "verify", "-c", str(config)])
    assert result.exit_code == 0 and "the chain holds: 42 records" in result.output
    said = runner.invoke(cli, ["journal", "verify", "--at", "5", "-c", str(config), "--json"])
    link_at_5 = json.loads(said.output)["link_at"]  # what the state message said back then
    assert link_at_5["seq"] == 5 and len(link_at_5["link"]) == 16
    shell(path, "UPDATE passage_log SET granted = 1 WHERE id = 2")
    result = runner.invoke(cli, ["journal", "verify", "-c", str(config)])
    assert result.exit_code == 1
    assert "BROKEN at passages id 2 (place 3 of the chain): its content" in result.output
    result = runner.invoke(cli, ["journal", "verify", "-c", str(config), "--json"])
    assert result.exit_code == 1 and '"first_break":{"table":"passages","id":2' in result.output
    # A forger who read chain.py recomputes every link from there on: the chain holds again,
    # but place 5 no longer has the link the platform was told.
    _relink(path)
    again = runner.invoke(cli, ["journal", "verify", "--at", "5", "-c", str(config), "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.output)["link_at"]["link"] != link_at_5["link"]


def _relink(path: Path) -> None:
    """Recompute every link and the head from the records as they read now."""
    from gate.journal import chain
    from gate.journal.verify import _alerts, _doors, _notes, _passages

    db = open_database(path)
    queries = JournalQueries(db)
    records = sorted([*_passages(queries), *_doors(queries), *_alerts(queries),
                      *_notes(queries)], key=lambda r: r[0])
    tables = {chain.Table.PASSAGES: "passage_log", chain.Table.DOORS: "door_log",
              chain.Table.ALERTS: "alerts", chain.Table.NOTES: "journal_notes"}
    prev = chain.GENESIS
    for seq, table, _, content, _ in records:
        prev = chain.link(prev, table, seq, content)
        db.execute(f"UPDATE {tables[table]} SET link = ? WHERE seq = ?", [prev, seq])
    db.execute("UPDATE journal_counters SET value = ? WHERE name = 'chain_link'", [prev])
    # ...and copies the passages into their time-ordered copy, which verify compares too.
    db.execute("DELETE FROM passage_recent")
    db.execute("INSERT INTO passage_recent SELECT * FROM passage_log")
    db.conn.commit()
    db.close()

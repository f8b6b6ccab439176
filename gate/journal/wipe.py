"""Wiping personal data from the journal: one person, or everything, each recorded as a chained
note that says a wipe happened and how many records went (never whose) and sent to the
platform as a `wipe` event (which does name the person, so the platform can prove it).

A person's granted yellow exits that their household's quota still counts (the other members'
decisions read them: gate.journal.queries.quota_need) are held back until the quota period
is over (`journal_wipes`); the daily prune finishes the wipe then (`finish_held`). Nothing
else of the person is any rule's input once they are gone: anti-passback concerns only them.
Deleted rows are overwritten in the file (secure_delete), not only unlinked.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from gate.events import JournalEvent
from gate.journal.codec import OUT, YELLOW, Kind, from_us, to_us, utc_text
from gate.journal.journal import new_event_id
from gate.journal.queries import quota_need
from gate.journal.removal import (
    ALERT_DEPENDENTS,
    Doomed,
    blank_names,
    link_at,
    names_changed,
    remove,
    write_note,
)
from gate.vocabulary import EventType

if TYPE_CHECKING:
    from gate.journal.journal import Journal
    from gate.policy import Policy

# Names that are vocabulary, not anybody's data: they survive a wipe of everything.
VOCABULARY = (Kind.GATE, Kind.READER, Kind.METHOD, Kind.RULE, Kind.DOOR, Kind.DOOR_KIND)


@dataclass
class WipeReport:
    """What a wipe removed; snapshot files are the caller's to delete."""

    removed: int = 0
    kept_for_rules: int = 0
    held_until: str | None = None
    snapshots: list[str] = field(default_factory=list)
    events: list[JournalEvent] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"removed": self.removed, "kept_for_rules": self.kept_for_rules,
                "held_until": self.held_until, "snapshots": len(self.snapshots)}


def _secure(journal: Journal) -> None:
    journal.db.conn.execute("PRAGMA secure_delete = ON")


def wipe_person(journal: Journal, person_id: str, policy: Policy, *, now: datetime,
                ) -> WipeReport:
    """Remove one person's passages (but those a rule still needs) and the alerts about them."""
    _secure(journal)
    report = WipeReport()
    needed_from = to_us(now - quota_need(policy))
    passes: set[int] = set()

    def needed(row: tuple[Any, ...]) -> bool:  # a granted yellow exit the quota still counts
        return bool(row[5] and row[8] == OUT and row[9] == YELLOW and row[4] >= needed_from)

    def pick(conn: sqlite3.Connection) -> Doomed:
        row = conn.execute("SELECT code FROM journal_names WHERE kind = ? AND name = ?",
                           [int(Kind.PERSON), person_id]).fetchone()
        rows = [] if row is None else conn.execute(
            "SELECT person, id, seq, link, at, granted, snapshot, pass, direction, colour "
            "FROM passage_log WHERE person = ?", [row[0]]).fetchall()
        kept = [r for r in rows if needed(r)]
        gone = [r for r in rows if not needed(r)]
        report.kept_for_rules = len(kept)
        report.snapshots = [r[6] for r in gone if r[6]]
        passes.update(r[7] for r in rows if r[7] is not None)
        if kept:
            until = max(r[4] for r in kept) + (to_us(now) - needed_from)
            report.held_until = utc_text(from_us(until))
            conn.execute("INSERT OR REPLACE INTO journal_wipes VALUES (?, ?)", [row[0], until])
        alerts = conn.execute("SELECT id, seq, link FROM alerts WHERE person_id = ?",
                              [person_id]).fetchall()
        return Doomed(passages=[r[:4] for r in gone], alerts=alerts)

    doomed, report.events = remove(
        journal, pick, action="wipe", detail={"scope": "person"}, event=EventType.WIPE,
        event_data={"scope": "person", "person_id": person_id})
    if report.events:
        report.events[0].row.update(kept_for_rules=report.kept_for_rules,
                                    held_until=report.held_until)
    report.removed = len(doomed)
    if not report.kept_for_rules:
        _forget(journal, person_id, passes)
    return report


def _forget(journal: Journal, person_id: str, passes: set[int]) -> None:
    code = journal.book.find(Kind.PERSON, person_id)
    blank_names(journal, Kind.PERSON, [code] if code is not None else [])
    blank_names(journal, Kind.PASS, passes)


def finish_held(journal: Journal, *, now: datetime) -> WipeReport:
    """Finish the wipes whose held passages no rule needs any more."""
    _secure(journal)
    report = WipeReport()
    for code, name in journal.db.conn.execute(
            "SELECT w.person, n.name FROM journal_wipes w LEFT JOIN journal_names n "
            "ON n.kind = ? AND n.code = w.person WHERE w.until <= ?",
            [int(Kind.PERSON), to_us(now)]).fetchall():
        passes: set[int] = set()

        def pick(conn: sqlite3.Connection, code: int = code,
                 passes: set[int] = passes) -> Doomed:
            rows = conn.execute("SELECT person, id, seq, link, snapshot, pass FROM passage_log "
                                "WHERE person = ?", [code]).fetchall()
            report.snapshots += [r[4] for r in rows if r[4]]
            passes.update(r[5] for r in rows if r[5] is not None)
            conn.execute("DELETE FROM journal_wipes WHERE person = ?", [code])
            return Doomed(passages=[r[:4] for r in rows])

        doomed, events = remove(journal, pick, action="wipe", detail={"scope": "person",
                                                                       "held": True},
                                event=EventType.WIPE,
                                event_data={"scope": "person", "person_id": name,
                                            "completed": True})
        report.removed += len(doomed)
        report.events += events
        if name is not None:
            _forget(journal, name, passes)
    return report


def wipe_all(journal: Journal) -> WipeReport:
    """Remove every passage, door event and alert and forget every name that is anybody's.
    The notes stay (they hold no personal data) and the chain goes on from its head."""
    _secure(journal)
    report = WipeReport()
    with journal._transaction() as events:
        conn = journal.db.conn
        report.snapshots = [ref for (ref,) in conn.execute(
            "SELECT snapshot FROM passage_log INDEXED BY passage_log_snapshots "
            "WHERE snapshot IS NOT NULL")]
        counts = {table: int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
                  for table in ("passage_log", "door_log", "alerts")}
        chained = int(conn.execute(
            "SELECT (SELECT count(*) FROM passage_log WHERE seq IS NOT NULL) + "
            "(SELECT count(*) FROM door_log) + (SELECT count(*) FROM alerts "
            "WHERE seq IS NOT NULL)").fetchone()[0])
        # Each note's predecessor and the head go: keep their links for the checks.
        notes = {seq for (seq,) in conn.execute("SELECT seq FROM journal_notes")}
        head = journal._counters["chain_seq"]
        ends = {seq - 1 for seq in notes if seq - 1 not in notes and seq > 1}
        if head not in notes and head > 0:
            ends.add(head)
        kept = dict(conn.execute("SELECT seq, link FROM journal_chain_gaps"))
        gaps = []
        for seq in sorted(ends):
            link = link_at(conn, seq)
            link = kept.get(seq) if link is None else link  # removed before, by a prune
            if link is not None:
                gaps.append((seq, link))
        conn.execute("DELETE FROM journal_chain_gaps")
        conn.executemany("INSERT INTO journal_chain_gaps VALUES (?, ?)", gaps)
        for table in ("passage_log", "passage_recent", "passage_last", "door_log",
                      *ALERT_DEPENDENTS, "alerts", "journal_wipes"):
            conn.execute(f"DELETE FROM {table}")
        conn.execute(f"UPDATE journal_names SET name = NULL WHERE kind NOT IN "
                     f"({', '.join(str(int(k)) for k in VOCABULARY)})")
        names_changed(journal)
        seq = write_note(journal, "wipe", {"scope": "all"}, chained)
        events.append(JournalEvent(new_event_id(), EventType.WIPE, {
            "scope": "all", "removed": sum(counts.values()), "removed_by_table": counts,
            "chain_seq": seq, "at": utc_text(journal.clock.now()), "gate_id": journal.gate_id}))
    journal.book.forget()
    report.removed = sum(counts.values())
    report.events = events
    return report

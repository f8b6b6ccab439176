"""Removing journal records on purpose (retention, wipes) without breaking the hash chain.

One `remove` is one write transaction: the rows go, the link of each removed record whose
successor stays is kept in `journal_chain_gaps` (so that successor can still be checked), the
latest passage of a person is forgotten with it, and a chained note says what was removed and
how many records. `journal verify` accepts exactly as many missing records as the notes count.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from gate.events import JournalEvent
from gate.journal import chain, recent
from gate.journal.codec import to_us
from gate.journal.journal import Journal, new_event_id
from gate.journal.queries import utc_text
from gate.vocabulary import EventType


@dataclass
class Doomed:
    """Rows to remove in one transaction."""

    passages: list[tuple[int, int, int | None, int | None]] = field(default_factory=list)
    # (person code, id, seq, link): seq and link None for a peer's passage (not chained)
    doors: list[tuple[int, int]] = field(default_factory=list)  # (seq, link)
    alerts: list[tuple[int, int | None, int | None]] = field(default_factory=list)
    # (id, seq, link)

    def __len__(self) -> int:
        return len(self.passages) + len(self.doors) + len(self.alerts)

    def chained(self) -> dict[int, int]:
        """seq -> link of the chained records among them."""
        out = {seq: link for _, _, seq, link in self.passages if seq is not None}
        out.update(self.doors)
        out.update({seq: link for _, seq, link in self.alerts if seq is not None})
        return {seq: link for seq, link in out.items() if link is not None}


# Rows kept beside an alert (its folded count, its escalation): they go before the alert.
ALERT_DEPENDENTS = ("alert_folds", "alert_escalations")


def link_at(conn: sqlite3.Connection, seq: int) -> int | None:
    """The link of the record at this place of the chain; None when it is not there."""
    for table in ("passage_log", "door_log", "alerts", "journal_notes"):
        row = conn.execute(f"SELECT link FROM {table} WHERE seq = ?", [seq]).fetchone()
        if row is not None:
            return int(row[0])
    return None


def remove(journal: Journal, pick: Callable[[sqlite3.Connection], Doomed], *, action: str,
           detail: dict[str, Any], event: EventType | None = None,
           event_data: dict[str, Any] | None = None) -> tuple[Doomed, list[JournalEvent]]:
    """Delete the rows `pick` chooses (inside the write transaction, so no other writer can
    remove them first) and write the note, in one transaction; with `event`, the note also
    goes out as that event (e.g. a wipe, for the platform) through the transaction hooks.
    Nothing is written when nothing is picked and no event is asked for."""
    with journal._transaction() as events:
        conn = journal.db.conn
        doomed = pick(conn)
        if not len(doomed) and event is None:
            return doomed, []
        chained = doomed.chained()
        head = journal._counters["chain_seq"]
        gaps = [(seq, link) for seq, link in sorted(chained.items())
                # The successor of this record stays: keep this record's link for its check.
                if seq + 1 not in chained and (seq == head or link_at(conn, seq + 1) is not None)]
        conn.executemany("DELETE FROM journal_chain_gaps WHERE seq = ?",
                         [(seq - 1,) for seq in chained])
        conn.executemany("INSERT OR REPLACE INTO journal_chain_gaps VALUES (?, ?)", gaps)
        keys = [(person, pid) for person, pid, _, _ in doomed.passages]
        recent.forget(conn, keys)
        conn.executemany("DELETE FROM passage_log WHERE person = ? AND id = ?", keys)
        conn.executemany("DELETE FROM passage_last WHERE person = ? AND id = ?", keys)
        conn.executemany("DELETE FROM door_log WHERE seq = ?", [(s,) for s, _ in doomed.doors])
        alert_ids = [(a,) for a, _, _ in doomed.alerts]
        for dependent in ALERT_DEPENDENTS:
            conn.executemany(f"DELETE FROM {dependent} WHERE alert_id = ?", alert_ids)
        conn.executemany("DELETE FROM alerts WHERE id = ?", alert_ids)
        seq = write_note(journal, action, detail, len(chained))
        if event is not None:
            data = {**(event_data or {}), "removed": len(doomed), "chain_seq": seq,
                    "at": utc_text(journal.clock.now()), "gate_id": journal.gate_id}
            events.append(JournalEvent(new_event_id(), event, data))
    return doomed, events


def write_note(journal: Journal, action: str, detail: dict[str, Any], removed: int) -> int:
    """The chained note of a removal (inside the open transaction); its place in the chain."""
    row: dict[str, Any] = {
        "at": to_us(journal.clock.now()), "action": action,
        "detail": json.dumps(detail, sort_keys=True, separators=(",", ":")), "removed": removed}
    seq, link = journal._chain(chain.Table.NOTES, chain.note_content(row))
    journal.db.conn.execute("INSERT INTO journal_notes VALUES (?, ?, ?, ?, ?, ?)",
                            [seq, row["at"], action, row["detail"], removed, link])
    return seq


def names_changed(journal: Journal) -> None:
    """Every writer forgets its cached codes before its next transaction (inside one)."""
    journal._counters["names_epoch"] = journal._counters.get("names_epoch", 0) + 1


def blank_names(journal: Journal, kind: int, codes: Iterable[int]) -> int:
    """Forget the names of these codes (a wiped person, their passes); the codes stay taken.
    Every writer's cache of codes is emptied (names_epoch) before its next transaction."""
    codes = list(codes)
    if not codes:
        return 0
    with journal._transaction():
        conn = journal.db.conn
        conn.executemany("UPDATE journal_names SET name = NULL WHERE kind = ? AND code = ?",
                         [(kind, c) for c in codes])
        names_changed(journal)
    journal.book.forget()
    return len(codes)

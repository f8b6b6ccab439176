"""`journal verify`: walk the hash chain (gate/journal/chain.py) and report its first broken link.

Records are read in chain order (four tables merged by seq) and each link is computed again
from the previous link and the record's content as it reads now. A record edited by hand no
longer matches its link; a record deleted by hand leaves a hole that no prune or wipe
accounts for; a record inserted by hand has no place in the chain (or a wrong link).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from gate.journal import chain, recent
from gate.journal.codec import STORED, decode_doors, decode_passages
from gate.journal.queries import JournalQueries

_CHUNK = 2000
Record = tuple[int, str, int, list[Any], int]  # seq, table, id, content, stored link


@dataclass(frozen=True)
class Break:
    """The first broken link: in which table, which row, what is wrong."""

    table: str
    id: int | None
    seq: int | None
    what: str


@dataclass
class Verdict:
    """What verification found."""

    records: int = 0
    removed: int = 0  # records the notes say prunes and wipes removed
    head_seq: int = 0
    head_link: str = ""
    broken: Break | None = None
    at: int | None = None  # a place whose link was asked for (to compare with the platform's)
    link_at: str | None = None  # that link, computed again from the records as they read now


    def as_dict(self) -> dict[str, Any]:
        out = {"ok": self.broken is None, "records": self.records, "removed": self.removed,
               "head": {"seq": self.head_seq, "link": self.head_link},
               "first_break": None if self.broken is None else self.broken.__dict__}
        if self.at is not None:
            out["link_at"] = {"seq": self.at, "link": self.link_at}
        return out


def _chunks(queries: JournalQueries, sql: str) -> Iterator[list[Any]]:
    cursor = queries.conn.execute(sql)
    while rows := cursor.fetchmany(_CHUNK):
        yield rows


_SEQ, _LINK = STORED.index("seq"), STORED.index("link")


def _passages(queries: JournalQueries) -> Iterator[Record]:
    sql = (f"SELECT {', '.join(STORED)} FROM passage_log INDEXED BY passage_log_seq "
           "WHERE seq IS NOT NULL ORDER BY seq")
    for raws in _chunks(queries, sql):
        for raw, row in zip(raws, decode_passages(queries.book, raws), strict=True):
            yield (raw[_SEQ], chain.Table.PASSAGES, row["id"], chain.passage_content(row),
                   raw[_LINK])


def _doors(queries: JournalQueries) -> Iterator[Record]:
    for raws in _chunks(queries, "SELECT * FROM door_log ORDER BY seq"):
        for raw, row in zip(raws, decode_doors(queries.book, raws), strict=True):
            yield raw[0], chain.Table.DOORS, raw[0], chain.door_content(row), raw[-1]


def _alerts(queries: JournalQueries) -> Iterator[Record]:
    cursor = queries.conn.execute("SELECT * FROM alerts ORDER BY seq")
    names = [d[0] for d in cursor.description]
    while raws := cursor.fetchmany(_CHUNK):
        for raw in raws:
            row = dict(zip(names, raw, strict=True))
            yield (row["seq"] if row["seq"] is not None else -1, chain.Table.ALERTS, row["id"],
                   chain.alert_content(row), row["link"])


def _notes(queries: JournalQueries) -> Iterator[Record]:
    cursor = queries.conn.execute("SELECT * FROM journal_notes ORDER BY seq")
    names = [d[0] for d in cursor.description]
    for raw in cursor.fetchall():
        row = dict(zip(names, raw, strict=True))
        yield row["seq"], chain.Table.NOTES, row["seq"], chain.note_content(row), row["link"]


def _hex(link: int) -> str:
    return link.to_bytes(8, "big", signed=True).hex()


def verify(queries: JournalQueries, *, at: int | None = None) -> Verdict:
    """Check every link; stop at the first broken one. With `at`, also give the link of that
    place as computed now (None when its record was pruned, or the chain broke before)."""
    conn = queries.conn
    verdict = Verdict(at=at)
    counters = dict(conn.execute("SELECT name, value FROM journal_counters"))
    verdict.head_seq, head_link = counters.get("chain_seq", 0), counters.get("chain_link", 0)
    verdict.head_link = _hex(head_link)
    verdict.removed = int(conn.execute(
        "SELECT coalesce(sum(removed), 0) FROM journal_notes").fetchone()[0])
    unchained = conn.execute("SELECT id FROM passage_log WHERE seq IS NULL AND "
                             "received_lag IS NULL LIMIT 1").fetchone()
    if unchained is not None:
        verdict.broken = Break(chain.Table.PASSAGES, unchained[0], None,
                               "a passage of this gate with no place in the chain "
                               "(inserted by hand?)")
        return verdict
    gaps = dict(conn.execute("SELECT seq, link FROM journal_chain_gaps"))
    prev_seq, prev_link, missing = 0, chain.GENESIS, 0
    for seq, table, ident, content, stored in heapq.merge(
            _passages(queries), _doors(queries), _alerts(queries), _notes(queries),
            key=lambda record: record[0]):
        where = (table, ident, seq)
        if seq < 1 or stored is None:
            verdict.broken = Break(*where[:2], None, "no place in the chain (inserted by hand?)")
            return verdict
        if seq <= prev_seq:
            verdict.broken = Break(*where, f"a second record at place {seq} of the chain")
            return verdict
        if seq > prev_seq + 1:
            missing += seq - prev_seq - 1
            if seq - 1 not in gaps:
                # Records up to the last kept link went by a prune or wipe; the rest did not.
                first = max((k for k in gaps if prev_seq < k < seq - 1), default=prev_seq) + 1
                places = f"place {first}" if first == seq - 1 else f"places {first}..{seq - 1}"
                verdict.broken = Break(*where, f"the record(s) at {places} before it were "
                                       "deleted, and no prune or wipe did it")
                return verdict
            prev_link = gaps[seq - 1]
        if chain.link(prev_link, table, seq, content) != stored:
            verdict.broken = Break(*where, "its content does not match its link: changed "
                                   "after it was written")
            return verdict
        prev_seq, prev_link = seq, stored
        verdict.records += 1
        if seq == at:
            verdict.link_at = _hex(stored)
    if at is not None and at == verdict.head_seq == prev_seq:
        verdict.link_at = _hex(prev_link)
    if verdict.head_seq > prev_seq:
        missing += verdict.head_seq - prev_seq
        if gaps.get(verdict.head_seq) != head_link:
            verdict.broken = Break("chain", None, verdict.head_seq, f"the newest records, "
                                   f"places {prev_seq + 1}..{verdict.head_seq}, were deleted")
            return verdict
    elif verdict.head_seq < prev_seq or head_link != prev_link:
        verdict.broken = Break("chain", None, prev_seq, "the chain's head does not match its "
                               "newest record")
        return verdict
    if missing != verdict.removed:
        verdict.broken = Break("chain", None, None, (
            f"{missing - verdict.removed} records are missing that no prune or wipe removed"
            if missing > verdict.removed else
            f"prunes and wipes removed {verdict.removed - missing} records that are still "
            "there, or the notes were changed"))
    elif differing := recent.differences(conn):
        # Contacts and time spans read the copy: it must say what the chained rows say.
        verdict.broken = Break("passage_recent", None, None, (
            f"{differing} of the recent passages in time order differ from the chained "
            "passages (changed by hand?)"))
    return verdict

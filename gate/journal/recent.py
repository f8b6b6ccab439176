"""The last month of passages once more, in time order (`passage_recent`).

`passage_log` is clustered by person, so a trajectory is a few neighbouring pages. A question
about a span of time (contacts, an hour's passages) then reads one page per person in it, each
a random read once the page cache is cold (after a reboot): contacts over 14 days at ten
million passages read about 1,500 such pages, 150 ms on the development machine's disk and
seconds on a Pi's SD card. This copy holds the same rows from `recent_from` on, clustered by
time, so those questions read a few neighbouring pages. It costs about 2 % of the journal at
ten million passages over three years (31 of 1,096 days); a gate that keeps only the default 30
days keeps each passage twice, about 25 MB at 9,000 passages a day.

It is written in each passage's own transaction, trimmed at most once an hour (one short
delete of the oldest rows, at most TRIM_ROWS), and loses a passage whenever `passage_log` does
(retention, wipes). `recent_from` only grows: every passage from it on is in the copy, which is
all a query needs to know to use it. `journal verify` checks the copy still equals
`passage_log`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, MutableMapping
from datetime import timedelta
from typing import Any

from gate.journal.codec import STORED

# A month and a day: the default retention of granted passages (30 days), and so every span
# a grid worker asks about (contacts over the panel's 14 days, an hour, a week).
RECENT = timedelta(days=31)
COUNTER = "recent_from"
_RECENT_US = RECENT // timedelta(microseconds=1)
_TRIM_STEP_US = 3600 * 10**6
TRIM_ROWS = 2000
_AT = STORED.index("at")
_COLUMNS = ", ".join(STORED)
_INSERT = f"INSERT INTO passage_recent ({_COLUMNS}) VALUES ({', '.join('?' * len(STORED))})"
SELECT = f"SELECT {_COLUMNS} FROM passage_recent"
# A removed passage's time comes from passage_log: call before its row there goes.
_FORGET = ("DELETE FROM passage_recent WHERE at = (SELECT at FROM passage_log WHERE "
           "person = ?1 AND id = ?2) AND person = ?1 AND id = ?2")


def create(conn: sqlite3.Connection, columns: str) -> None:
    """The copy's table (`columns`: passage_log's) and its start, filled from passage_log."""
    conn.execute(f"CREATE TABLE passage_recent ({columns}, PRIMARY KEY (at, person, id))"
                 " WITHOUT ROWID")
    newest = conn.execute("SELECT max(at) FROM passage_log").fetchone()[0]
    start = 0 if newest is None else int(newest) - _RECENT_US
    conn.execute("INSERT INTO journal_counters VALUES (?, ?)", [COUNTER, start])
    conn.execute(f"INSERT INTO passage_recent ({_COLUMNS}) SELECT {_COLUMNS} FROM passage_log "
                 "INDEXED BY passage_log_at WHERE at >= ?", [start])


def keep(conn: sqlite3.Connection, values: tuple[Any, ...], counters: MutableMapping[str, int],
         *, now_us: int) -> None:
    """Copy a passage just stored in passage_log (inside its transaction; `counters` are the
    journal's for it), first trimming what has grown older than RECENT."""
    start = now_us - _RECENT_US
    if start >= counters[COUNTER] + _TRIM_STEP_US:
        # At most TRIM_ROWS a passage: after days switched off, the first passages trim the
        # backlog a bit each instead of one of them holding the write lock for all of it.
        row = conn.execute("SELECT at FROM passage_recent WHERE at < ? ORDER BY at LIMIT 1 "
                           "OFFSET ?", [start, TRIM_ROWS - 1]).fetchone()
        upto = start if row is None else int(row[0]) + 1
        conn.execute("DELETE FROM passage_recent WHERE at < ?", [upto])
        counters[COUNTER] = upto
    if values[_AT] >= counters[COUNTER]:
        conn.execute(_INSERT, values)


def forget(conn: sqlite3.Connection, keys: Iterable[tuple[int, int]]) -> None:
    """Remove the copies of these passages (person code, id), before passage_log's rows go."""
    conn.executemany(_FORGET, keys)


def covered_from(conn: sqlite3.Connection) -> int | None:
    """From when (UTC microseconds) every passage is in the copy; None without one."""
    try:
        row = conn.execute("SELECT value FROM journal_counters WHERE name = ?",
                           [COUNTER]).fetchone()
    except sqlite3.OperationalError:  # a journal from before the compact tables
        return None
    return None if row is None else int(row[0])


def differences(conn: sqlite3.Connection) -> int:
    """Passages that the copy and passage_log hold differently from `recent_from` on: changed,
    missing or extra in the copy (0: it is whole). Counted again when a trim committed while
    counting (the gate writes on)."""
    count = 0
    for _ in range(3):
        start = covered_from(conn)
        if start is None:
            return 0
        log = f"SELECT {_COLUMNS} FROM passage_log INDEXED BY passage_log_at WHERE at >= ?1"
        count = int(conn.execute(
            f"SELECT count(*) FROM (SELECT person, id FROM ({SELECT} EXCEPT {log}) UNION "
            f"SELECT person, id FROM ({log} EXCEPT {SELECT}))", [start]).fetchone()[0])
        if covered_from(conn) == start:
            break
    return count

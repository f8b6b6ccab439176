"""Retention: the journal forgets each class of record when its time is up, in small
transactions, and never a passage a rule still needs.

The rules look back at granted passages: a yellow household's quota over its period
(`yellow.period_days`, read as `period_days + 1` days by the decision), anti-passback over
`anti_passback.reset_hours`, and the peer link's catch-up (sync.peer_messages.lookback) over the
larger of both. Granted passages are therefore kept for at least `rules_need(policy)`, whatever
the configuration says; denied attempts, door events and alerts are no rule's input.
Each batch is one write transaction of at most `batch` records with its chained note
(gate/journal/removal.py); between batches the writer lock is free for the gate's own records.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from gate.journal.codec import Kind, to_us, utc_text
from gate.journal.queries import quota_need
from gate.journal.removal import Doomed, blank_names, remove

if TYPE_CHECKING:
    from gate.journal.journal import Journal
    from gate.policy import Policy

BATCH = 200  # records per transaction: a few milliseconds of the writer lock


@dataclass(frozen=True)
class Retention:
    """How long each class of journal record is kept, in days."""

    passages_days: int
    denied_days: int
    alerts_days: int
    door_events_days: int


def rules_need(policy: Policy) -> timedelta:
    """How far back the rules read granted passages (quota period, anti-passback, catch-up)."""
    return max(quota_need(policy), timedelta(hours=policy.anti_passback.reset_hours))


@dataclass
class PruneReport:
    """What a prune removed (or, dry, would remove), and how long it held the writer lock."""

    dry_run: bool
    cutoffs: dict[str, str]
    removed: dict[str, int] = field(default_factory=dict)
    kept_for_rules: bool = False  # passages_days was shorter than the rules need
    batches: int = 0
    lock_ms: list[float] = field(default_factory=list)
    names_forgotten: int = 0
    complete: bool = True  # False when max_batches stopped it early

    def as_dict(self) -> dict[str, Any]:
        locks = sorted(self.lock_ms)
        return {"dry_run": self.dry_run, "cutoffs": self.cutoffs, "removed": self.removed,
                "kept_for_rules": self.kept_for_rules, "batches": self.batches,
                "lock_max_ms": round(locks[-1], 2) if locks else 0.0,
                "lock_p50_ms": round(locks[len(locks) // 2], 2) if locks else 0.0,
                "names_forgotten": self.names_forgotten, "complete": self.complete}


def _passages(conn: sqlite3.Connection, cutoff: int, granted: int, limit: int) -> Doomed:
    return Doomed(passages=conn.execute(
        "SELECT person, id, seq, link FROM passage_log INDEXED BY passage_log_at "
        "WHERE at < ? AND granted = ? ORDER BY at LIMIT ?", [cutoff, granted, limit]).fetchall())


def _doors(conn: sqlite3.Connection, cutoff: int, limit: int) -> Doomed:
    # Door events are written in time order: the oldest come first, stop at the first young one.
    rows = conn.execute("SELECT seq, link, at FROM door_log ORDER BY seq LIMIT ?",
                        [limit]).fetchall()
    old = []
    for seq, link, at in rows:
        if at >= cutoff:
            break
        old.append((seq, link))
    return Doomed(doors=old)


def _alerts(conn: sqlite3.Connection, cutoff: str, limit: int) -> Doomed:
    return Doomed(alerts=conn.execute(
        "SELECT id, seq, link FROM alerts WHERE at < ? ORDER BY id LIMIT ?",
        [cutoff, limit]).fetchall())


def _count(conn: sqlite3.Connection, name: str, cutoff: int | str) -> int:
    sql = {
        "passages": "SELECT count(*) FROM passage_log INDEXED BY passage_log_at "
                    "WHERE at < ? AND granted = 1",
        "denied": "SELECT count(*) FROM passage_log INDEXED BY passage_log_at "
                  "WHERE at < ? AND granted = 0",
        "door_events": "SELECT count(*) FROM door_log WHERE at < ?",
        "alerts": "SELECT count(*) FROM alerts WHERE at < ?",
    }[name]
    return int(conn.execute(sql, [cutoff]).fetchone()[0])


def prune(journal: Journal, retention: Retention, policy: Policy, *, now: datetime,
          dry_run: bool = False, batch: int = BATCH, max_batches: int | None = None,
          ) -> PruneReport:
    """Remove what retention lets go, oldest first (or count it, dry)."""
    passages_for = max(timedelta(days=retention.passages_days), rules_need(policy))
    cutoffs = {"passages": now - passages_for,
               "denied": now - timedelta(days=retention.denied_days),
               "door_events": now - timedelta(days=retention.door_events_days),
               "alerts": now - timedelta(days=retention.alerts_days)}
    report = PruneReport(dry_run, {k: utc_text(v) for k, v in cutoffs.items()},
                         kept_for_rules=passages_for > timedelta(days=retention.passages_days))
    # Journal times: microseconds for passages and door events, text for alerts.
    limits: dict[str, Any] = {k: to_us(v) for k, v in cutoffs.items()}
    limits["alerts"] = report.cutoffs["alerts"]
    if dry_run:
        report.removed = {name: _count(journal.db.conn, name, limit)
                          for name, limit in limits.items()}
        return report
    # Overwrite what is deleted where that costs no extra writes: gone means gone from the file.
    journal.db.conn.execute("PRAGMA secure_delete = FAST")
    picks: dict[str, Callable[[sqlite3.Connection], Doomed]] = {
        "passages": lambda conn: _passages(conn, limits["passages"], 1, batch),
        "denied": lambda conn: _passages(conn, limits["denied"], 0, batch),
        "door_events": lambda conn: _doors(conn, limits["door_events"], batch),
        "alerts": lambda conn: _alerts(conn, limits["alerts"], batch),
    }
    for name, pick in picks.items():
        report.removed[name] = 0
        while True:
            if max_batches is not None and report.batches >= max_batches:
                report.complete = False
                return report
            started = time.perf_counter()
            doomed, _ = remove(journal, pick, action="prune",
                               detail={"class": name, "before": report.cutoffs[name]})
            if not len(doomed):
                break
            report.lock_ms.append((time.perf_counter() - started) * 1000)
            report.batches += 1
            report.removed[name] += len(doomed)
    report.names_forgotten = forget_persons(journal)
    return report


def forget_persons(journal: Journal) -> int:
    """Blank the names of persons none of whose passages is left (data minimisation)."""
    conn = journal.db.conn
    gone = [code for (code,) in conn.execute(
        "SELECT n.code FROM journal_names n WHERE n.kind = ? AND n.name IS NOT NULL AND "
        "NOT EXISTS (SELECT 1 FROM passage_log p WHERE p.person = n.code) AND "
        "NOT EXISTS (SELECT 1 FROM journal_wipes w WHERE w.person = n.code)",
        [int(Kind.PERSON)]).fetchall()]
    return blank_names(journal, Kind.PERSON, gone)

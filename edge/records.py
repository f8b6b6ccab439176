"""The gate's records over time: the daily prune of every data class, and wipes.

The journal's part lives in gate/journal (retention.py, wipe.py); this module adds what only
the whole gate knows: the snapshot files of each kind, face encodings, the panel's sessions,
visitors and accounts, the roster and the outbox. docs/journal.md says what each setting keeps
and why.
"""

from __future__ import annotations

import logging
import re
import shutil
import sqlite3
import threading
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from edge.settings import Settings
from gate.clock import Clock
from gate.journal import Journal
from gate.journal.codec import Kind, utc_text
from gate.journal.retention import Retention, prune
from gate.journal.wipe import WipeReport, finish_held, wipe_all, wipe_person

log = logging.getLogger(__name__)
EVERY = timedelta(days=1)
ORPHAN_DAYS = 1  # a snapshot is saved a moment before the record that refers to it
_REF = re.compile(r"snapshots/\d{4}-\d{2}-\d{2}/[0-9a-f]{32}\.jpg")

# Every table of the gate's database, by what a wipe of everything does with it. A table
# missing here fails tests/edge/test_records.py: whoever adds one says whether it is personal.
PERSONAL_TABLES = (
    "persons", "permits", "households", "grids", "revoked_passes", "face_encodings",
    "face_gallery", "face_snapshots", "outbox", "outbox_dead", "panel_users", "panel_sessions",
    "panel_visitors", "audit")  # the journal's own tables: gate.journal.wipe.wipe_all
KEPT_TABLES = {
    "versions": "document versions; the bodies of roster, permits and revocations are emptied",
    "face_gallery_version": "a counter",
    "sync_counters": "counters",
    "sync_nonces": "command nonces, no person",
    "journal_counters": "counters and the chain's head",
    "journal_notes": "what prunes and wipes removed, never whose",
    "journal_names": "names of persons and all else personal are blanked; gates, rules stay",
    "journal_chain_gaps": "links (hashes) of removed records",
    "journal_peer_seq": "the peer gates' sequence numbers",
    "peer_states": "the peer gates' connection numbers",
    "peer_epochs": "the peer gates' journal epochs and sequence numbers",
    "compound_epoch": "this journal's epoch id",
    "_sqlite_migrations": "schema versions",
    "sqlite_sequence": "SQLite's counters",
    **dict.fromkeys(("passage_log", "passage_recent", "passage_last", "door_log", "alerts",
                     "journal_wipes", "alert_folds", "alert_escalations"),
                    "emptied by gate.journal.wipe.wipe_all"),
}


def retention_of(settings: Settings) -> Retention:
    """The journal's part of the retention settings."""
    r = settings.retention
    return Retention(passages_days=r.passages_days, denied_days=r.denied_days,
                     alerts_days=r.alerts_days, door_events_days=r.door_events_days)


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {name for (name,) in conn.execute(
        "SELECT name FROM sqlite_schema WHERE type = 'table'")}


def _snapshot_kinds(journal: Journal) -> dict[str, str]:
    """Each snapshot the journal or the face snapshots table refers to, by kind."""
    conn = journal.db.conn
    kinds = {ref: "override" if method == "override" else "pass_shared"
             for ref, method in conn.execute(
                 "SELECT p.snapshot, m.name FROM passage_log p INDEXED BY passage_log_snapshots "
                 "JOIN journal_names m ON m.kind = ? AND m.code = p.method "
                 "WHERE p.snapshot IS NOT NULL", [int(Kind.METHOD)])}
    for (text,) in conn.execute("SELECT name FROM journal_names WHERE kind = ? AND name LIKE "
                                "'%[snapshot %'", [int(Kind.DETAIL)]):
        kinds.update(dict.fromkeys(_REF.findall(text), "override"))
    if "face_snapshots" in _tables(conn):
        kinds.update({ref: "unknown_face" for (ref,) in conn.execute(
            "SELECT ref FROM face_snapshots")})
    return kinds


def prune_snapshots(settings: Settings, journal: Journal, now: datetime, *,
                    dry_run: bool = False) -> dict[str, int]:
    """Remove snapshot files whose kind's days are over (by the day folder they are in). A
    file no record refers to any more (its passage was pruned) goes after a day: a snapshot
    never outlives the record it is evidence for."""
    root = settings.storage.state_dir / "snapshots"
    kinds = _snapshot_kinds(journal)
    days = {"override": settings.retention.override_snapshot_days,
            "pass_shared": settings.storage.snapshot_days,
            "unknown_face": settings.faces.unknown_snapshot_days, "orphan": ORPHAN_DAYS}
    today = now.date()
    removed = dict.fromkeys(days, 0)
    for folder in sorted(root.glob("????-??-??")) if root.is_dir() else []:
        try:
            taken = date.fromisoformat(folder.name)
        except ValueError:
            continue
        for path in folder.glob("*.jpg"):
            kind = kinds.get(f"snapshots/{folder.name}/{path.name}", "orphan")
            if today - taken < timedelta(days=days[kind]):
                continue
            removed[kind] += 1
            if not dry_run:
                path.unlink(missing_ok=True)
        if not dry_run and not any(folder.iterdir()):
            folder.rmdir()
    if not dry_run and "face_snapshots" in _tables(journal.db.conn):
        with journal.transaction() as conn:
            conn.execute("DELETE FROM face_snapshots WHERE taken_at < ?", [
                (now - timedelta(days=days["unknown_face"])).isoformat()])
    return removed


def prune_sessions(settings: Settings, journal: Journal, now: datetime, *,
                   dry_run: bool = False) -> int:
    """Panel sessions ended more than panel_sessions_days ago."""
    conn = journal.db.conn
    if "panel_sessions" not in _tables(conn):
        return 0
    cutoff = now - timedelta(days=settings.retention.panel_sessions_days)
    idle = timedelta(minutes=settings.panel.idle_minutes)
    where = "expires_at <= ? OR last_seen_at <= ?"
    params = [utc_text(cutoff), utc_text(cutoff - idle)]
    if dry_run:
        return int(conn.execute(f"SELECT count(*) FROM panel_sessions WHERE {where}",
                                params).fetchone()[0])
    with journal.transaction():
        return conn.execute(f"DELETE FROM panel_sessions WHERE {where}", params).rowcount


def prune_all(settings: Settings, journal: Journal, now: datetime, *, dry_run: bool = False,
              max_batches: int | None = None) -> dict[str, Any]:
    """Every data class past its days: journal records, held wipes, snapshots, sessions."""
    report = prune(journal, retention_of(settings), settings.policy, now=now, dry_run=dry_run,
                   max_batches=max_batches).as_dict()
    if not dry_run:
        held = finish_held(journal, now=now)
        report["removed"]["wiped_held"] = held.removed
        _delete_snapshots(settings, held.snapshots)
    report["snapshots"] = prune_snapshots(settings, journal, now, dry_run=dry_run)
    report["panel_sessions"] = prune_sessions(settings, journal, now, dry_run=dry_run)
    return report


def _delete_snapshots(settings: Settings, refs: list[str]) -> int:
    removed = 0
    for ref in refs:
        if _REF.fullmatch(ref):
            path = settings.storage.state_dir / ref
            removed += path.exists()
            path.unlink(missing_ok=True)
    return removed


class Pruner:
    """The gate's daily prune, on a connection of its own: soon after start, then daily."""

    def __init__(self, settings: Settings, journal: Journal, clock: Clock, *,
                 first_after_s: float = 60.0) -> None:
        self.settings, self.journal, self.clock = settings, journal, clock
        self.first_after_s = first_after_s
        self.last: dict[str, Any] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="journal-prune", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def _run(self) -> None:
        wait = self.first_after_s
        while not self._stop.wait(wait):
            wait = EVERY.total_seconds()
            try:
                self.last = prune_all(self.settings, self.journal, self.clock.now())
                log.info("prune: %s", self.last)
            except Exception:  # a failed prune is retried tomorrow; the gate goes on
                log.exception("the daily prune failed")


@dataclass(frozen=True)
class Wiped:
    """What a wipe did, for the CLI."""

    journal: WipeReport
    faces: int
    snapshots: int
    other_rows: int

    def as_dict(self) -> dict[str, Any]:
        return {**self.journal.as_dict(), "face_encodings": self.faces,
                "snapshot_files": self.snapshots, "other_rows": self.other_rows}


def wipe_one(settings: Settings, journal: Journal, person_id: str) -> Wiped:
    """One person: journal records (but what a rule still needs), face encodings, snapshots,
    visitor records."""
    report = wipe_person(journal, person_id, settings.policy, now=journal.clock.now())
    conn = journal.db.conn
    tables = _tables(conn)
    faces = other = 0
    with journal.transaction():
        conn.execute("PRAGMA secure_delete = ON")
        for table in ("face_gallery", "face_encodings"):
            if table in tables:
                faces += conn.execute(f"DELETE FROM {table} WHERE person_id = ?",
                                      [person_id]).rowcount
        if "face_gallery_version" in tables and faces:
            conn.execute("UPDATE face_gallery_version SET version = version + 1")
        if "panel_visitors" in tables:
            other += conn.execute("DELETE FROM panel_visitors WHERE person_id = ?",
                                  [person_id]).rowcount
    snapshots = _delete_snapshots(settings, report.snapshots)
    _flush(journal)
    return Wiped(report, faces, snapshots, other)


def wipe_everything(settings: Settings, journal: Journal) -> Wiped:
    """Every piece of personal data on the gate; the wipe event stays in the outbox."""
    report = wipe_all(journal)
    conn = journal.db.conn
    tables = _tables(conn)
    keep = {e.event_id for e in report.events}
    rows = faces = 0
    with journal.transaction():
        for table in PERSONAL_TABLES:
            if table not in tables:
                continue
            where, params = "", []
            if table == "outbox" and keep:  # the wipe's own event must reach the platform
                where, params = f"WHERE event_id NOT IN ({','.join('?' * len(keep))})", [*keep]
            count = conn.execute(f"DELETE FROM {table} {where}", params).rowcount
            faces += count if table in ("face_gallery", "face_encodings") else 0
            rows += count
        if "versions" in tables:
            conn.execute("UPDATE versions SET body = NULL WHERE document IN ('roster', "
                         "'permits', 'revocations')")
    snapshots = 0
    root = settings.storage.state_dir / "snapshots"
    if root.is_dir():
        snapshots = sum(1 for _ in root.rglob("*.jpg"))
        shutil.rmtree(root)
    journal.db.conn.execute("VACUUM")  # erased pages leave the file, not only the tables
    _flush(journal)
    return Wiped(report, faces, snapshots, rows - faces)


def _flush(journal: Journal) -> None:
    """Move the WAL into the file and empty it: old page images there hold erased rows."""
    journal.db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

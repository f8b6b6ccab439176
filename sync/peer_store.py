"""What the peer link keeps beside the passages (sync/schema.py, 0002_compound_epochs_states):
this journal's epoch and connection number, how far each peer's passages are held per epoch,
and each peer's newest signed state."""

from __future__ import annotations

import logging
import sqlite3
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from gate.journal.queries import JournalQueries
from gate.store import immediate
from sync.schema import migrate

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Mark:
    """How far a peer's passages are held: the newest seq of one epoch of its journal."""

    epoch: str
    seq: int


class PeerStore:
    """The peer link's records on one connection, shared by its threads under `lock`."""

    def __init__(self, db: Database, lock: threading.RLock, gate_id: str) -> None:
        self.db = db
        self.lock = lock
        self.gate_id = gate_id
        with lock:
            migrate(db)
            self.epoch = str(db.execute("SELECT epoch FROM compound_epoch").fetchone()[0])

    def marks(self) -> dict[str, Mark]:
        """For each peer gate, its latest epoch heard of and the newest seq held of it."""
        with self.lock:
            rows = self.db.execute(
                "SELECT gate_id, epoch, high_water FROM peer_epochs p WHERE id = "
                "(SELECT MAX(id) FROM peer_epochs q WHERE q.gate_id = p.gate_id)").fetchall()
        return {gate: Mark(epoch, int(seq)) for gate, epoch, seq in rows}

    def own_passages(self, *, after: int | None, since: str, limit: int,
                     ) -> list[dict[str, Any]]:
        """This gate's own passages after seq `after` (or, without it, from `since` on)."""
        with self.lock:
            return JournalQueries(self.db).own_passages(
                after_id=after, since=None if after is not None else datetime.fromisoformat(since),
                limit=limit)

    def hold(self, gate_id: str, epoch: str, seq: int) -> None:
        """A passage of `gate_id`'s epoch `epoch` with `seq` is held (recorded after it)."""
        with self.lock, immediate(self.db):
            self.db.execute(
                "INSERT INTO peer_epochs (gate_id, epoch, high_water) VALUES (?, ?, ?) "
                "ON CONFLICT (gate_id, epoch) DO UPDATE SET "
                "high_water = max(high_water, excluded.high_water)", [gate_id, epoch, seq])

    def next_connection(self, now_ms: int) -> int:
        """A number for this gate's next connection, higher than every earlier one: the time in
        milliseconds, or one more than the last (a clock set back). Its states carry it, so a
        peer refuses an older state replayed (even after this database was made anew)."""
        with self.lock:
            last = int(self.db.execute("SELECT connection FROM compound_epoch").fetchone()[0])
            number = max(last + 1, now_ms)
            try:
                with immediate(self.db):
                    self.db.execute("UPDATE compound_epoch SET connection = ?", [number])
            except sqlite3.Error as exc:  # a full disk: the clock alone still orders them
                log.warning("cannot keep this gate's connection number: %s", exc)
        return number

    def newer_state(self, gate_id: str, connection: int, online: bool, heard_at: str) -> bool:
        """True (and kept) when this state of `gate_id` is not older than the newest held: a
        later connection, or the same one going offline (its Last Will, a clean stop)."""
        rank = (connection, 0 if online else 1)
        with self.lock:
            held = self.db.execute("SELECT connection, online FROM peer_states WHERE gate_id = ?",
                                   [gate_id]).fetchone()
            if held is not None and (int(held[0]), 0 if held[1] else 1) > rank:
                return False
            with immediate(self.db):
                self.db.execute(
                    "INSERT INTO peer_states (gate_id, connection, online, heard_at) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (gate_id) DO UPDATE SET "
                    "connection = excluded.connection, online = excluded.online, "
                    "heard_at = excluded.heard_at", [gate_id, connection, int(online), heard_at])
        return True


def renew_epoch(conn: sqlite3.Connection, created_at: str) -> str | None:
    """Start a new epoch in this database: a restored journal goes on from an older seq, so
    the seqs it sends next name passages other than the ones its peers hold under the old
    epoch. The new epoch, or None when the peer link never ran on this database (it makes
    one when it first does)."""
    exists = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' "
                          "AND name = 'compound_epoch'").fetchone()
    if exists is None:
        return None
    epoch = uuid.uuid4().hex  # the same form as the migration's lower(hex(randomblob(16)))
    with conn:
        conn.execute("UPDATE compound_epoch SET epoch = ?, created_at = ?", [epoch, created_at])
    return epoch

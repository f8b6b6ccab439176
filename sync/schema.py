"""Tables of the platform link as small named migrations, in the gate's database."""

from __future__ import annotations

import sqlite3

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from gate.errors import JournalError

migrations = Migrations("gridgate.sync")

MQTT_SINK = "mqtt"
PEER_SINK = "peer"  # this gate's passages for the other gates of the compound (sync/peers.py)


@migrations(name="0001_outbox_counters_nonces")
def _create_tables(db: Database) -> None:
    db.execute(
        """
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT,  -- sending order within a sink
            sink TEXT NOT NULL,                    -- 'mqtt' or 'webhook:<name>'
            seq INTEGER NOT NULL,                  -- the event's per-gate sequence number
            event_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            routine INTEGER NOT NULL DEFAULT 0,    -- 1: may be dropped when storage is full
            topic TEXT NOT NULL DEFAULT '',
            payload TEXT NOT NULL,
            created_at TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt REAL NOT NULL DEFAULT 0,  -- unix seconds; webhook backoff
            last_error TEXT
        )
        """
    )
    db.execute("CREATE INDEX outbox_sink ON outbox (sink, id)")
    db.execute("CREATE INDEX outbox_routine ON outbox (id) WHERE routine = 1")
    # Messages a sink refused for good (e.g. a webhook answering 400): kept, counted, alerted.
    db.execute(
        """
        CREATE TABLE outbox_dead (
            id INTEGER PRIMARY KEY, sink TEXT NOT NULL, seq INTEGER NOT NULL,
            event_id TEXT NOT NULL, kind TEXT NOT NULL, topic TEXT NOT NULL, payload TEXT NOT NULL,
            created_at TEXT NOT NULL, failed_at TEXT NOT NULL, error TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE TABLE sync_counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)")
    db.execute("INSERT INTO sync_counters VALUES ('seq', 0), ('outbox_rows', 0), "
               "('dropped_routine', 0)")
    # Counting rows on every insert would cost O(n); triggers keep an exact count instead.
    db.execute("CREATE TRIGGER outbox_count_insert AFTER INSERT ON outbox BEGIN "
               "UPDATE sync_counters SET value = value + 1 WHERE name = 'outbox_rows'; END")
    db.execute("CREATE TRIGGER outbox_count_delete AFTER DELETE ON outbox BEGIN "
               "UPDATE sync_counters SET value = value - 1 WHERE name = 'outbox_rows'; END")
    db.execute(
        "CREATE TABLE sync_nonces (nonce TEXT PRIMARY KEY, command_id TEXT NOT NULL, "
        "expires_at TEXT NOT NULL, seen_at TEXT NOT NULL)"
    )


@migrations(name="0002_compound_epochs_states")
def _compound_epochs_states(db: Database) -> None:
    # The peer link's own records (sync/peer_store.py). A journal's passage ids start again at 1
    # when its database is made anew, so a peer's sequence numbers mean something only within
    # one epoch: a random id made with the database. What a gate holds of a peer is counted per
    # (gate, epoch); the latest epoch heard of a gate (highest id) is the one it speaks now.
    db.execute("CREATE TABLE compound_epoch (id INTEGER PRIMARY KEY CHECK (id = 1), "
               "epoch TEXT NOT NULL, created_at TEXT NOT NULL, "
               "connection INTEGER NOT NULL DEFAULT 0)")  # this gate's last connection number
    db.execute("INSERT INTO compound_epoch (id, epoch, created_at) VALUES "
               "(1, lower(hex(randomblob(16))), strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'))")
    db.execute("CREATE TABLE peer_epochs (id INTEGER PRIMARY KEY AUTOINCREMENT, "
               "gate_id TEXT NOT NULL, epoch TEXT NOT NULL, high_water INTEGER NOT NULL, "
               "UNIQUE (gate_id, epoch))")
    # The newest signed state heard of each peer: an older one (a replay) is refused.
    db.execute("CREATE TABLE peer_states (gate_id TEXT PRIMARY KEY, connection INTEGER NOT NULL, "
               "online INTEGER NOT NULL, heard_at TEXT NOT NULL)")


def migrate(db: Database) -> None:
    """Bring the sync tables up to date."""
    try:
        migrations.apply(db)
    except sqlite3.Error as exc:
        raise JournalError(f"cannot prepare the sync tables: {exc}") from exc


def counter(db: Database, name: str) -> int:
    """Current value of a sync counter."""
    row = db.execute("SELECT value FROM sync_counters WHERE name = ?", [name]).fetchone()
    return int(row[0]) if row else 0

"""Journal tables as small named migrations (sqlite-utils Migrations), applied at start."""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("gridgate.journal")


@migrations(name="0001_passages_alerts_door_events")
def _create_tables(db: Database) -> None:
    db.execute(
        """
        CREATE TABLE passages (
            id INTEGER PRIMARY KEY AUTOINCREMENT,  -- order of recording; wall clocks may step back
            event_id TEXT NOT NULL UNIQUE,
            at TEXT NOT NULL,                      -- UTC, ISO 8601 with microseconds
            gate_id TEXT NOT NULL,
            reader_id TEXT NOT NULL,
            direction TEXT NOT NULL,
            person_id TEXT,
            household_id TEXT,
            grid_id TEXT,
            pass_id TEXT,
            method TEXT NOT NULL,
            colour TEXT,
            granted INTEGER NOT NULL,
            rule TEXT NOT NULL,
            reason_zh TEXT NOT NULL,
            reason_en TEXT NOT NULL,
            face_distance REAL,
            faces_in_view INTEGER NOT NULL DEFAULT 0,
            snapshot TEXT,
            actor TEXT                             -- the guard, for overrides
        )
        """
    )
    db.execute("CREATE INDEX passages_person ON passages (person_id, id)")
    db.execute("CREATE INDEX passages_household ON passages (household_id, granted, direction, at)")
    db.execute("CREATE INDEX passages_exits ON passages (gate_id, granted, direction, at)")
    db.execute(
        """
        CREATE TABLE alerts (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            event_id TEXT NOT NULL UNIQUE,
            at TEXT NOT NULL,
            gate_id TEXT NOT NULL,
            reader_id TEXT,
            kind TEXT NOT NULL,
            severity TEXT NOT NULL,
            person_id TEXT,
            household_id TEXT,
            grid_id TEXT,
            passage_id INTEGER REFERENCES passages (id),
            message_zh TEXT NOT NULL,
            message_en TEXT NOT NULL,
            acknowledged_at TEXT,
            acknowledged_by TEXT,
            ack_comment TEXT
        )
        """
    )
    db.execute("CREATE INDEX alerts_open ON alerts (acknowledged_at, id)")
    db.execute(
        """
        CREATE TABLE door_events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            event_id TEXT NOT NULL UNIQUE,
            at TEXT NOT NULL,
            gate_id TEXT NOT NULL,
            door TEXT NOT NULL,                    -- e.g. 'relay17'
            kind TEXT NOT NULL,  -- released, locked, opened, closed, forced, held_open, mode
            detail TEXT NOT NULL DEFAULT '',
            actor TEXT
        )
        """
    )


@migrations(name="0002_peer_passages")
def _peer_passages(db: Database) -> None:
    # The compound's history: other gates' passages are kept beside this gate's own, in the same
    # table (gate_id says whose). Passages are immutable facts with unique event ids, so the
    # union is the same whatever order they arrive in; rules order them by `order_at`, not by
    # `id` (arrival). `order_at` is `at`, except that a gate never orders a passage before one
    # it recorded earlier (a clock stepped back by NTP keeps each gate's recording order).
    db.execute("ALTER TABLE passages ADD COLUMN origin_seq INTEGER")  # the peer's event seq
    db.execute("ALTER TABLE passages ADD COLUMN received_at TEXT")  # NULL: decided here
    db.execute("ALTER TABLE passages ADD COLUMN order_at TEXT")
    db.execute("UPDATE passages SET order_at = (SELECT MAX(q.at) FROM passages q "
               "WHERE q.id <= passages.id)")
    db.execute("CREATE INDEX passages_person_order ON passages (person_id, order_at)")
    db.execute("CREATE INDEX passages_gate_at ON passages (gate_id, at)")
    db.execute("CREATE INDEX passages_at ON passages (at)")


@migrations(name="0003_alerts_folds_escalations_audit")
def _alerts_loop(db: Database) -> None:
    # Kept beside the alerts, not in them: an alert row is written once (its hash covers it);
    # what grows later (a folded count, an escalation) lives here, keyed by the alert's id.
    db.execute(
        """
        CREATE TABLE alert_folds (
            alert_id INTEGER PRIMARY KEY REFERENCES alerts (id),
            fold_key TEXT NOT NULL,               -- kind, reader and person; or the pattern
            count INTEGER NOT NULL DEFAULT 1,     -- occurrences folded into the alert
            first_at TEXT NOT NULL,
            last_at TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX alert_folds_key ON alert_folds (fold_key, alert_id)")
    db.execute(
        """
        CREATE TABLE alert_escalations (
            alert_id INTEGER PRIMARY KEY REFERENCES alerts (id),  -- once per alert
            event_id TEXT NOT NULL UNIQUE,        -- the escalated copy sent again
            at TEXT NOT NULL,
            audience TEXT NOT NULL                -- street_office, grid:ID or webhook:NAME
        )
        """
    )
    db.execute("CREATE INDEX alerts_urgent_open ON alerts (severity, acknowledged_at, at)")
    db.execute(
        """
        CREATE TABLE audit (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            event_id TEXT NOT NULL UNIQUE,
            at TEXT NOT NULL,
            gate_id TEXT NOT NULL,
            kind TEXT NOT NULL,                   -- an AuditKind
            actor TEXT,                           -- the account (or the name typed)
            address TEXT,                         -- the client's address, for panel actions
            target TEXT,                          -- the account, file or reader acted on
            detail TEXT NOT NULL DEFAULT ''
        )
        """
    )
    db.execute("CREATE INDEX audit_at ON audit (at)")


def migrate(db: Database) -> None:
    """Bring the journal tables up to date."""
    migrations.apply(db)

"""The panel's tables (users, sessions, visitors) as named migrations on the gate database."""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("gridgate.panel")


@migrations(name="0001_users")
def _users(db: Database) -> None:
    db.execute(
        """
        CREATE TABLE panel_users (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL UNIQUE COLLATE NOCASE,
            role TEXT NOT NULL CHECK (role IN ('guard', 'admin')),
            password_hash TEXT NOT NULL,           -- Argon2id, PHC string
            created_at TEXT NOT NULL,
            password_changed_at TEXT NOT NULL
        )
        """
    )


@migrations(name="0002_sessions")
def _sessions(db: Database) -> None:
    db.execute(
        """
        CREATE TABLE panel_sessions (
            token_hash TEXT PRIMARY KEY,           -- sha256 of the cookie value; never the value
            user_id INTEGER NOT NULL REFERENCES panel_users (id) ON DELETE CASCADE,
            csrf_token TEXT NOT NULL,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            last_seen_at TEXT NOT NULL,
            address TEXT NOT NULL DEFAULT ''
        )
        """
    )
    db.execute("CREATE INDEX panel_sessions_user ON panel_sessions (user_id)")


@migrations(name="0003_visitors")
def _visitors(db: Database) -> None:
    db.execute(
        """
        CREATE TABLE panel_visitors (
            pass_id TEXT PRIMARY KEY,
            person_id TEXT NOT NULL,
            name TEXT NOT NULL,
            host_household_id TEXT NOT NULL,
            grid_id TEXT,
            valid_from TEXT NOT NULL,
            valid_until TEXT NOT NULL,
            key_id TEXT NOT NULL,
            pass_text TEXT NOT NULL,               -- the signed pass, to print it again
            created_by TEXT NOT NULL,
            created_at TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX panel_visitors_person ON panel_visitors (person_id)")


def migrate(db: Database) -> None:
    """Bring the panel's tables up to date."""
    migrations.apply(db)

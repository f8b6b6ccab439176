"""Shared CLI plumbing: the --config option and read-only access to the gate's state."""

from __future__ import annotations

import os
from pathlib import Path

import click

from edge.settings import Settings, load_settings
from gate.journal.queries import JournalQueries
from gate.store import database_path, open_database, open_reader

DEFAULT_CONFIG = Path(os.environ.get("GRIDGATE_CONFIG", "/etc/gridgate/gridgate.toml"))

config_option = click.option(
    "--config", "-c", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_CONFIG,
    show_default=True, help="The gate's TOML configuration ($GRIDGATE_CONFIG).",
)


def open_settings(config: Path) -> Settings:
    """Load and validate the configuration (raises SettingsError with key-by-key problems)."""
    return load_settings(config)


def open_queries(config: Path) -> JournalQueries:
    """Read access to the journal of the gate that `config` describes."""
    return queries_of(open_settings(config))


def queries_of(settings: Settings) -> JournalQueries:
    """Read access to the journal of the gate these settings describe."""
    path = database_path(settings.storage.state_dir)
    if not (path.exists() and JournalQueries.readable(reader := open_reader(path))):
        # A gate that never ran has an empty journal, not a missing one; an older one's
        # journal is brought up to date (what the gate itself does when it starts).
        from gate.journal import schema

        db = open_database(path)
        schema.migrate(db)
        db.close()
        reader = open_reader(path)
    return JournalQueries(reader)

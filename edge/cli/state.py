"""Shared CLI plumbing: the --config option and read-only access to the gate's state."""

from __future__ import annotations

import os
from pathlib import Path

import click

from edge.settings import Settings, load_settings
from gate.journal import JournalQueries, schema
from gate.store import database_path, open_database

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
    db = open_database(database_path(settings.storage.state_dir))
    schema.migrate(db)  # a gate that never ran has an empty journal, not a missing one
    return JournalQueries(db)

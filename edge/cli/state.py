"""Shared CLI plumbing: the --config option and read-only access to the gate's state."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from edge.settings import Settings, load_settings
from gate.journal.queries import JournalQueries
from gate.store import database_path, open_database, open_reader

if TYPE_CHECKING:
    from gate.journal import Journal

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


def open_journal(settings: Settings) -> Journal:
    """The gate's journal on a connection of this command, with the outbox hooked in: what a
    command records (a wipe, an account change) goes out like the gate's own events."""
    from gate.clock import SystemClock
    from gate.journal import Journal

    journal = Journal(open_database(database_path(settings.storage.state_dir)),
                      gate_id=settings.gate.gate_id, clock=SystemClock())
    mqtt = settings.mqtt
    if mqtt.enabled:
        from sync.outbox import Outbox
        from sync.topics import Topics

        topics = Topics(mqtt.prefix, settings.gate.compound_id, settings.gate.gate_id)
        routes = [w.route for w in mqtt.webhook_targets(settings.policy.timezone)]
        Outbox(topics, clock=journal.clock, routes=routes).attach(journal)
    return journal

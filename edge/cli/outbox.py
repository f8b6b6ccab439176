"""`gridgate outbox`: what waits to reach the platform, and sending dead rows again."""

from __future__ import annotations

from pathlib import Path

import click

from edge.cli.output import emit_json, friendly_errors, json_option
from edge.cli.state import config_option, open_settings
from gate.store import database_path, open_database
from sync.outbox import requeue_dead
from sync.schema import migrate


def _database(config: Path, database: Path | None) -> Path:
    path = database or database_path(open_settings(config).storage.state_dir)
    if not path.is_file():
        raise click.ClickException(f"no gate database at {path}; has the gate run yet?")
    return path


database_option = click.option(
    "--database", type=click.Path(dir_okay=False, path_type=Path),
    help="The gate's SQLite file, instead of the one the configuration names.")


@click.group()
def outbox() -> None:
    """The store-and-forward outbox of events, alerts and webhooks."""


@outbox.command()
@config_option
@database_option
@json_option
@friendly_errors
def status(config: Path, database: Path | None, as_json: bool) -> None:
    """Rows waiting to be sent and rows set aside (dead), per sink."""
    db = open_database(_database(config, database))
    try:
        migrate(db)
        counts = {table: dict(db.execute(f"SELECT sink, count(*) FROM {table} GROUP BY sink")
                              .fetchall()) for table in ("outbox", "outbox_dead")}
    finally:
        db.close()
    if as_json:
        emit_json({"waiting": counts["outbox"], "dead": counts["outbox_dead"]})
        return
    for sink in sorted(set(counts["outbox"]) | set(counts["outbox_dead"])) or ["-"]:
        click.echo(f"{sink:<16} waiting {counts['outbox'].get(sink, 0):>7}   "
                   f"dead {counts['outbox_dead'].get(sink, 0):>5}")


@outbox.command()
@click.argument("event_ids", nargs=-1)
@config_option
@database_option
@json_option
@friendly_errors
def requeue(event_ids: tuple[str, ...], config: Path, database: Path | None,
            as_json: bool) -> None:
    """Send dead rows again (all, or these EVENT_IDS) once their cause is fixed; safe while
    the gate runs."""
    db = open_database(_database(config, database))
    try:
        migrate(db)
        moved = requeue_dead(db, list(event_ids) or None)
    finally:
        db.close()
    if as_json:
        emit_json({"moved": moved})
    else:
        click.echo(f"{moved} row(s) moved from outbox_dead back to the outbox")

"""`gridgate trajectory` and `gridgate who-is-out`: reading the journal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from edge.cli.output import emit_json, friendly_errors, json_option
from edge.cli.state import config_option, open_queries


def _line(row: dict[str, Any]) -> str:
    verdict = "granted" if row["granted"] else "DENIED "
    return (f"{row['at'][:19]}  {row['direction']:<3}  {row['reader_id']:<10}  {verdict}  "
            f"{row['method']:<9}  {row['person_id'] or '-':<10}  {row['rule']}: {row['reason_en']}")


@click.command()
@click.argument("person")
@config_option
@click.option("--limit", type=click.IntRange(1), help="Only the last N passages.")
@json_option
@friendly_errors
def trajectory(person: str, config: Path, limit: int | None, as_json: bool) -> None:
    """Print PERSON's passages in order (denied attempts included)."""
    rows = open_queries(config).trajectory(person, limit)
    if as_json:
        emit_json({"person_id": person, "passages": rows})
        return
    if not rows:
        click.echo(f"no passages recorded for {person}")
    for row in rows:
        click.echo(_line(row))


@click.command("who-is-out")
@config_option
@json_option
@friendly_errors
def who_is_out(config: Path, as_json: bool) -> None:
    """List persons whose last granted passage was an exit."""
    rows = open_queries(config).who_is_out()
    if as_json:
        emit_json({"out": rows, "count": len(rows)})
        return
    if not rows:
        click.echo("nobody is out")
    for row in rows:
        click.echo(f"{row['person_id']:<12} household {row['household_id'] or '-':<10} "
                   f"out since {row['at'][:19]} via {row['reader_id']}")

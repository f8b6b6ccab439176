"""`gridgate prune` and `gridgate wipe`: retention now, and erasing personal data.

Both work on the gate's database while the gate runs (each step is its own short
transaction). What they record goes through the outbox like the gate's own events, when the
platform link is configured: the wipe event is the platform's proof of deletion.
"""

from __future__ import annotations

from pathlib import Path

import click

from edge.cli.output import emit_json, friendly_errors, json_option
from edge.cli.state import config_option, open_journal, open_settings


@click.command()
@click.option("--dry-run", is_flag=True, help="Count what would be removed; remove nothing.")
@config_option
@json_option
@friendly_errors
def prune(dry_run: bool, config: Path, as_json: bool) -> None:
    """Remove what the [retention] settings no longer keep (the gate does it daily): granted
    passages (never those a rule still needs), denied attempts, alerts, door events, snapshot
    files of each kind, ended panel sessions."""
    from edge.records import prune_all

    settings = open_settings(config)
    journal = open_journal(settings)
    report = prune_all(settings, journal, journal.clock.now(), dry_run=dry_run)
    if as_json:
        emit_json(report)
        return
    verb = "would remove" if dry_run else "removed"
    removed = report["removed"]
    click.echo(f"{verb}: " + ", ".join(f"{n} {name.replace('_', ' ')}"
                                       for name, n in removed.items()))
    click.echo(f"{verb} snapshot files: " + ", ".join(
        f"{n} {kind.replace('_', ' ')}" for kind, n in report["snapshots"].items())
        + f"; panel sessions: {report['panel_sessions']}")
    if report["kept_for_rules"]:
        click.echo(f"granted passages are kept from {report['cutoffs']['passages']}: the rules "
                   "(yellow quota period, anti-passback) need them longer than "
                   "retention.passages_days")
    if not dry_run:
        click.echo(f"{report['batches']} transactions, the longest held the journal "
                   f"{report['lock_max_ms']} ms")


@click.command()
@click.argument("person", required=False)
@click.option("--all", "everything", is_flag=True,
              help="Erase every piece of personal data on this gate (decommissioning).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (scripts).")
@config_option
@json_option
@friendly_errors
def wipe(person: str | None, everything: bool, yes: bool, config: Path, as_json: bool) -> None:
    """Erase PERSON's data on this gate: passages (but those a rule still needs, erased as soon
    as it is done with them), alerts about them, face encodings, snapshots, visitor records.
    With --all, erase everyone's, the roster and the panel's accounts too. A note in the
    journal's chain records that a wipe happened (not whose); a `wipe` event tells the
    platform, which can prove the deletion."""
    from edge.records import wipe_everything, wipe_one

    if everything == (person is not None):
        raise click.UsageError("name one PERSON, or give --all")
    settings = open_settings(config)
    what = "EVERY piece of personal data on this gate" if everything else f"all data of {person}"
    if not yes:
        click.confirm(f"Erase {what}? This cannot be undone", abort=True)
    journal = open_journal(settings)
    done = wipe_everything(settings, journal) if everything else wipe_one(
        settings, journal, str(person))
    result = {"scope": "all" if everything else "person", "person_id": person, **done.as_dict()}
    if as_json:
        emit_json(result)
        return
    click.echo(f"erased {what}: {done.journal.removed} journal records, {done.faces} face "
               f"encodings, {done.snapshots} snapshot files, {done.other_rows} other records")
    if done.journal.kept_for_rules:
        click.echo(f"kept {done.journal.kept_for_rules} passages a rule still needs; they are "
                   f"erased after {done.journal.held_until} by the daily prune")

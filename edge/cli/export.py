"""`gridgate export passages|alerts`: the journal for the grid office, as CSV or JSON lines.

The export holds who came and went: a file written with --out is readable by its owner only
from its first byte (created 0600, never through an existing file; --force replaces it). CSV
cells that a spreadsheet would take for a formula (=, +, -, @, tab, carriage return first) are
written with a leading apostrophe, so a name or reason typed at the gate cannot run as one.
"""

from __future__ import annotations

import csv
import json
import os
import sqlite3
import sys
from collections.abc import Callable, Iterator
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

import click

from edge.cli.output import friendly_errors
from edge.cli.state import config_option, open_settings
from gate.errors import GridgateError
from gate.journal.queries import utc_text
from gate.store import database_path

TABLES = {"passages": "passages", "alerts": "alerts"}
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # OWASP: CSV injection


class ExportError(GridgateError, ValueError):
    """The export cannot be made (no journal, bad times)."""


def parse_time(text: str, zone: ZoneInfo, option: str) -> datetime:
    """'2026-11-23', '2026-11-23 08:00' or '2026-11-23T08:00:00+08:00'; without an offset the
    time is the compound's local time (policy.timezone)."""
    try:
        if len(text.strip()) == 10:
            when = datetime.combine(date.fromisoformat(text.strip()), time())
        else:
            when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a date or time; write 2026-11-23 or "
                                 "'2026-11-23 08:00' (local time) or an ISO 8601 time with "
                                 "its offset", param_hint=option) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=zone)


def rows(db_path: Path, table: str, since: datetime, until: datetime | None
         ) -> tuple[list[str], Iterator[tuple[Any, ...]]]:
    """The table's columns and its rows in the window, oldest first, read without a lock the
    running gate would wait for (a read-only connection; WAL lets it write meanwhile)."""
    if not db_path.exists():
        raise ExportError(f"no journal at {db_path}: the gate has not run with this "
                          "configuration (storage.state_dir)")
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10.0)
    query = f"SELECT * FROM {TABLES[table]} WHERE at >= ?"  # a fixed name: not user input
    args = [utc_text(since)]
    if until is not None:
        query += " AND at < ?"
        args.append(utc_text(until))
    try:
        cursor = conn.execute(query + " ORDER BY at, id", args)
    except sqlite3.Error as exc:
        conn.close()
        raise ExportError(f"cannot read {table} from {db_path}: {exc}") from None
    columns = [d[0] for d in cursor.description]

    def each() -> Iterator[tuple[Any, ...]]:
        try:
            yield from cursor
        finally:
            conn.close()

    return columns, each()


def csv_cell(value: Any) -> Any:
    """A value as a CSV cell: empty for None, text that would start a formula escaped."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def write(out: TextIO, columns: list[str], records: Iterator[tuple[Any, ...]],
          form: str) -> int:
    """Write every record; returns how many."""
    count = 0
    if form == "csv":
        writer = csv.writer(out)
        writer.writerow(columns)
        for record in records:
            writer.writerow([csv_cell(v) for v in record])
            count += 1
    else:
        for record in records:
            out.write(json.dumps(dict(zip(columns, record, strict=True)), ensure_ascii=False)
                      + "\n")
            count += 1
    return count


def write_private(out: Path, fill: Callable[[TextIO], int]) -> int:
    """Fill a new file only its owner can read, then put it in place of `out` (the old one
    stays until the new one is whole); what `fill` returns."""
    partial = out.with_name(f".{out.name}.partial")
    partial.unlink(missing_ok=True)
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise ExportError(f"cannot write {out}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            count = fill(handle)
        os.replace(partial, out)
    except OSError as exc:
        raise ExportError(f"cannot write {out}: {exc.strerror}; nothing was replaced") from None
    finally:
        partial.unlink(missing_ok=True)
    return count


@click.command()
@click.argument("what", type=click.Choice(list(TABLES)))
@click.option("--since", required=True, metavar="TIME",
              help="From this time on (a date, 'YYYY-MM-DD HH:MM' local, or ISO 8601).")
@click.option("--until", metavar="TIME", help="Up to (not including) this time.")
@click.option("--format", "form", type=click.Choice(["csv", "jsonl"]), default="csv",
              show_default=True, help="CSV with a header line, or one JSON object per line.")
@click.option("--out", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file, readable by its owner only (default: standard output).")
@click.option("--force", is_flag=True, help="Replace the --out file if it exists.")
@config_option
@friendly_errors
def export(what: str, since: str, until: str | None, form: str, out: Path | None,
           force: bool, config: Path) -> None:
    """Export the journal's passages or alerts between two times, for the grid office.

    Every column of the journal, times in UTC (as stored); safe while the gate runs.
    """
    settings = open_settings(config)
    zone = settings.policy.zone
    start = parse_time(since, zone, "--since")
    end = parse_time(until, zone, "--until") if until else None
    if end is not None and end <= start:
        raise click.BadParameter("--until must come after --since", param_hint="--until")
    if out is not None and out.exists() and not force:
        raise ExportError(f"{out} exists; pass --force to replace it")
    columns, records = rows(database_path(settings.storage.state_dir), what, start, end)
    if out is None:
        count = write(sys.stdout, columns, records, form)
    else:
        count = write_private(out, lambda handle: write(handle, columns, records, form))
    click.echo(f"exported {count} {what} from {start:%Y-%m-%d %H:%M %Z}"
               + (f" to {end:%Y-%m-%d %H:%M %Z}" if end else "") + (f" to {out}" if out else ""),
               err=True)

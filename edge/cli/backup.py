"""`gridgate backup FILE` / `gridgate restore FILE`: the gate's database through SQLite's
online backup API, page by page, consistent while the gate runs and writes."""

from __future__ import annotations

import os
import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from edge.cli.output import emit_json, friendly_errors, json_option
from edge.cli.state import config_option, open_settings
from gate.errors import GridgateError
from gate.journal.queries import utc_text
from gate.state_lock import StateBusy, StateLock
from gate.store import database_path
from sync.peer_store import renew_epoch

PAGES_PER_STEP = 256  # between steps the gate's writers get the database back


class BackupError(GridgateError, OSError):
    """A backup or restore that cannot be made; nothing was changed."""


def copy_database(source: sqlite3.Connection, target: sqlite3.Connection, label: str) -> None:
    """The online backup, with a progress bar on stderr."""
    total = 0
    with click.progressbar(length=1, label=label, file=sys.stderr) as bar:
        def progress(status: int, remaining: int, pages: int) -> None:
            nonlocal total
            if pages != total:
                bar.length, total = pages, pages
            bar.update(pages - remaining - bar.pos)

        source.backup(target, pages=PAGES_PER_STEP, progress=progress)


def check_journal(path: Path) -> int:
    """A file that is an intact gridgate database; returns its passages' count."""
    if not path.is_file():
        raise BackupError(f"{path} is not a file")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            verdict = conn.execute("PRAGMA quick_check").fetchone()[0]
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master "
                                                 "WHERE type IN ('table', 'view')")}
            count = (conn.execute("SELECT count(*) FROM passages").fetchone()[0]
                     if "passages" in tables else 0)
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} is not a gridgate backup: {exc}") from None
    if verdict != "ok":
        raise BackupError(f"{path} is damaged: {verdict}")
    if not {"passages", "alerts", "_sqlite_migrations"} <= tables:
        raise BackupError(f"{path} is an SQLite file but not a gridgate journal (no passages, "
                          "alerts or migrations table)")
    return int(count)


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace FILE if it exists.")
@config_option
@json_option
@friendly_errors
def backup(file: Path, force: bool, config: Path, as_json: bool) -> None:
    """Copy the gate's database (journal, roster, outbox, accounts) to FILE, safely while the
    gate runs. Keys (state_dir/keys) and snapshots are files: copy them as they are."""
    settings = open_settings(config)
    source_path = database_path(settings.storage.state_dir)
    if not source_path.exists():
        raise BackupError(f"no database at {source_path} (storage.state_dir)")
    if file.exists() and not force:
        raise BackupError(f"{file} exists; pass --force to replace it")
    partial = file.with_name(f".{file.name}.partial")
    partial.unlink(missing_ok=True)
    # It holds who came and went: readable by its owner only, from its first byte.
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True, timeout=10.0)
        target = sqlite3.connect(partial)
        try:
            copy_database(source, target, f"backing up {source_path}")
        finally:
            target.close()
            source.close()
        count = check_journal(partial)
        os.replace(partial, file)
    except sqlite3.Error as exc:
        raise BackupError(f"cannot back up {source_path}: {exc}") from None
    finally:
        partial.unlink(missing_ok=True)
    result = {"file": str(file), "bytes": file.stat().st_size, "passages": count}
    if as_json:
        emit_json(result)
    else:
        click.echo(f"backed up {source_path} to {file} ({result['bytes']} bytes, {count} "
                   "passages)")


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@config_option
@json_option
@friendly_errors
def restore(file: Path, yes: bool, config: Path, as_json: bool) -> None:
    """Replace the gate's database with the backup FILE. The gate must be stopped first (sudo
    systemctl stop gridgate): a running gate is refused. The current database is kept beside
    it, so nothing is lost; the restored journal starts a new epoch for the other gates."""
    settings = open_settings(config)
    count = check_journal(file)
    state_dir = settings.storage.state_dir
    target_path = database_path(state_dir)
    target_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # Held until the restore is done: no gate starts on a half-restored database either.
        lock = StateLock.take(state_dir, "gridgate restore")
    except StateBusy as exc:
        raise BackupError(f"the gate is running: {exc}; stop it first (sudo systemctl stop "
                          "gridgate), then restore. Nothing was changed") from None
    with lock:
        if not yes:
            click.confirm(f"replace {target_path} with {file} ({count} passages)?", abort=True)
        kept, epoch = _replace(file, target_path)
    result = {"file": str(file), "database": str(target_path), "passages": count,
              "kept": str(kept) if kept else None, "epoch": epoch}
    if as_json:
        emit_json(result)
    else:
        click.echo(f"restored {file} into {target_path} ({count} passages)"
                   + (f"; the previous database is kept as {kept}" if kept else ""))


def _replace(file: Path, target_path: Path) -> tuple[Path | None, str | None]:
    """Keep the current database aside, copy the backup over it and give it a new epoch;
    the copy kept and the new epoch (None: the peer link never ran on it)."""
    kept = None
    try:
        if target_path.exists():
            kept = target_path.with_name(
                f"{target_path.name}.before-restore-{datetime.now(UTC):%Y%m%dT%H%M%SZ}")
            current = sqlite3.connect(f"file:{target_path}?mode=ro", uri=True, timeout=10.0)
            saved = sqlite3.connect(kept)
            try:
                copy_database(current, saved, f"keeping the current database as {kept.name}")
            finally:
                saved.close()
                current.close()
            os.chmod(kept, 0o600)
        source = sqlite3.connect(f"file:{file}?mode=ro", uri=True)
        target = sqlite3.connect(target_path, timeout=10.0)
        try:
            copy_database(source, target, f"restoring {file}")
            # The journal goes on from the backup's last passage: the seqs it sends next were
            # sent before, naming other passages; peers must hear them as a new history.
            epoch = renew_epoch(target, utc_text(datetime.now(UTC)))
        finally:
            target.close()
            source.close()
    except sqlite3.Error as exc:
        raise BackupError(f"cannot restore {file} into {target_path}: {exc}"
                          + (f"; the previous database is kept as {kept}" if kept else "")
                          ) from None
    return kept, epoch

"""The installer's CLI on a real gate database: account changes are audited like the panel's (and
go out as events), and `gridgate export --out` writes personal data for its owner only, with
CSV cells that cannot run as spreadsheet formulas."""

from __future__ import annotations

import csv
import io
import os
import pwd
import sqlite3
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import tomli_w
from gpiozero.pins.mock import MockFactory

from edge.app import GateApp
from edge.cli.export import FORMULA_START, csv_cell
from edge.cli.user import cli_actor
from edge.settings import load_settings
from gate.passes import write_key_pair
from tests.edge.test_cli_export_backup import config_for, gridgate, leave

PASSWORD = "correct horse battery\n"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A gate that ran once, with the platform link configured (its outbox takes events; no
    broker is needed for that)."""
    keys = tmp_path / "keys"
    write_key_pair(keys)
    path = config_for(tmp_path, keys, "gate-a")
    text = path.read_text() + tomli_w.dumps({"mqtt": {"enabled": True, "host": "127.0.0.1"}})
    path.write_text(text)
    with GateApp(load_settings(path), pin_factory=MockFactory()) as app:
        leave(app, keys, "p-1")
    return path


@pytest.fixture
def umask() -> Iterator[None]:
    old = os.umask(0o022)  # a typical installer's shell
    yield
    os.umask(old)


def database(config: Path) -> sqlite3.Connection:
    return sqlite3.connect(config.parent / "gate-a" / "state" / "gridgate.db")


def test_account_changes_made_with_the_cli_are_audited_and_sent(config: Path) -> None:
    me = pwd.getpwuid(os.geteuid()).pw_name
    assert cli_actor() == f"cli:{me}"
    steps = [("user", "add", "chief", "--role", "admin", "--password-stdin"),
             ("user", "add", "li", "--password-stdin"),
             ("user", "passwd", "li", "--password-stdin"),
             ("user", "remove", "li", "--yes")]
    for step in steps:
        result = gridgate(*step, "-c", config, input=PASSWORD)
        assert result.exit_code == 0, result.output
    refused = gridgate("user", "remove", "chief", "--yes", "-c", config)  # the last admin
    assert refused.exit_code == 2 and "last admin" in refused.output
    with database(config) as db:
        audit = db.execute("SELECT kind, actor, target, detail, address FROM audit "
                           "ORDER BY id").fetchall()
        sent = db.execute("SELECT payload FROM outbox WHERE kind = 'audit' AND sink = 'mqtt' "
                          "ORDER BY id").fetchall()
    actor = f"cli:{me}"
    assert audit == [("account_added", actor, "chief", "role admin", None),
                     ("account_added", actor, "li", "role guard", None),
                     ("password_set", actor, "li", "", None),
                     ("account_removed", actor, "li", "role guard", None)]
    assert len(sent) == 4 and all('"cli:' in payload for (payload,) in sent)
    assert "correct horse" not in "".join(p for (p,) in sent), "never a password"


def test_through_sudo_the_person_is_named(config: Path) -> None:
    if os.geteuid() != 0:
        # SUDO_USER means something only to root: anyone else may set it.
        os.environ["SUDO_USER"] = "mallory"
        try:
            assert cli_actor() == f"cli:{pwd.getpwuid(os.geteuid()).pw_name}"
        finally:
            del os.environ["SUDO_USER"]
        return
    from click.testing import CliRunner

    from edge.cli.main import cli

    result = CliRunner(env={"SUDO_USER": "alice"}).invoke(
        cli, ["user", "add", "wang", "--password-stdin", "-c", str(config)], input=PASSWORD)
    assert result.exit_code == 0, result.output
    with database(config) as db:
        assert db.execute("SELECT actor FROM audit").fetchall() == [("cli:alice",)]


def test_export_to_a_file_is_private_and_replaced_only_with_force(
        config: Path, tmp_path: Path, umask: None) -> None:
    since = str(datetime.now(UTC).date() - timedelta(days=1))
    out = tmp_path / "passages.csv"
    result = gridgate("export", "passages", "--since", since, "--out", out, "-c", config)
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    first = out.read_text()
    assert "p-1" in first
    again = gridgate("export", "passages", "--since", since, "--out", out, "-c", config)
    assert again.exit_code == 2 and "exists; pass --force" in again.output
    assert out.read_text() == first
    out.chmod(0o644)  # an older export, readable by all: replaced by a private one
    replaced = gridgate("export", "alerts", "--since", since, "--out", out, "--force",
                        "-c", config)
    assert replaced.exit_code == 0, replaced.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600 and out.read_text() != first
    # A link planted where the export goes is replaced, never written through.
    target = tmp_path / "elsewhere.txt"
    target.write_text("untouched")
    link = tmp_path / "linked.csv"
    link.symlink_to(target)
    assert gridgate("export", "passages", "--since", since, "-o", link, "-c",
                    config).exit_code == 2
    assert gridgate("export", "passages", "--since", since, "-o", link, "--force", "-c",
                    config).exit_code == 0
    assert target.read_text() == "untouched" and not link.is_symlink()
    assert stat.S_IMODE(link.stat().st_mode) == 0o600
    nowhere = tmp_path / "no-such-folder" / "x.csv"
    failed = gridgate("export", "passages", "--since", since, "-o", nowhere, "-c", config)
    assert failed.exit_code == 2 and "cannot write" in failed.output
    assert not list(tmp_path.glob(".*.partial"))


def number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_csv_cells_cannot_run_as_formulas(config: Path) -> None:
    settings = load_settings(config)
    with GateApp(settings, pin_factory=MockFactory()) as app:
        app.controls.open_once("out-cam", actor='=HYPERLINK("http://x.example","open")',
                               reason="-2+3")
        app.controls.open_once("out-cam", actor="@SUM(A1)", reason="\tnote")
    since = str(datetime.now(UTC).date() - timedelta(days=1))
    cells: list[str] = []
    for what in ("passages", "alerts"):
        result = gridgate("export", what, "--since", since, "-c", config)
        assert result.exit_code == 0, result.output
        cells += [c for row in csv.reader(io.StringIO(result.stdout)) for c in row]
    risky = [c for c in cells if c.startswith(FORMULA_START) and not number(c)]
    assert risky == [], risky
    assert "'=HYPERLINK(\"http://x.example\",\"open\")" in cells and "'@SUM(A1)" in cells
    assert any(c.startswith("'=HYPERLINK") and c.endswith("-2+3") for c in cells)
    # Numbers stay numbers, plain text stays as it was; JSON lines are left alone.
    assert (csv_cell(-5), csv_cell("p-1"), csv_cell(None), csv_cell("+86 138")) == (
        -5, "p-1", "", "'+86 138")
    jsonl = gridgate("export", "passages", "--since", since, "--format", "jsonl", "-c", config)
    assert '"actor": "@SUM(A1)"' in jsonl.stdout

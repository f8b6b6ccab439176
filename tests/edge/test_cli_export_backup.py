"""`gridgate export`, `backup` and `restore`: the grid office's export, and a backup taken while
the gate runs that, restored on another gate, makes it decide the same."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import tomli_w
from click.testing import CliRunner, Result
from gpiozero.pins.mock import MockFactory

from edge.app import GateApp
from edge.cli.main import cli
from edge.settings import load_settings
from gate.model import Colour, Method, Permit, Person
from gate.observation import Observation
from gate.passes import PassClaims, encode_pass, write_key_pair
from gate.passes.keys import load_signing_key

COMPOUND = "wenjiang-01"


def config_for(root: Path, keys: Path, name: str) -> Path:
    path = root / f"{name}.toml"
    path.write_text(tomli_w.dumps({
        "gate": {"gate_id": name, "compound_id": COMPOUND},
        "readers": [{"reader_id": "out-cam", "direction": "out", "camera": "0",
                     "relay_pin": 18}],
        "storage": {"state_dir": str(root / name / "state")},
        "passes": {"trust_list": str(keys / "signing.pub")},
        "policy": {"timezone": "Asia/Shanghai"},
    }))
    return path


def leave(app: GateApp, keys: Path, person: str) -> str:
    """A yellow household member shows their pass at the way out; the rule that decided."""
    now = datetime.now(UTC)
    claims = PassClaims(pass_id=f"pass-{person}", person_id=person, household_id="h-1",
                        compound_id=COMPOUND, colour=Colour.YELLOW,
                        issued_at=now - timedelta(days=1), not_before=now - timedelta(days=1),
                        expires_at=now + timedelta(days=9), grid_id="grid-7")
    text = encode_pass(claims, load_signing_key(keys / "signing.key"))
    observation = Observation(reader=app.readers["out-cam"], method=Method.PASS, seen_at=now,
                              pass_check=app.checkpoint.check_pass(text, now))
    return app.checkpoint.handle(observation).decision.rule.value


def gridgate(*args: str | Path, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], input=input)


def test_a_backup_taken_while_the_gate_runs_restores_a_gate_that_decides_the_same(
        tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    write_key_pair(keys)
    east = config_for(tmp_path, keys, "gate-east")
    backup = tmp_path / "east.backup"
    with GateApp(load_settings(east), pin_factory=MockFactory()) as app:
        app.registry.put_persons([Person("p-101", "h-1"), Person("p-102", "h-1")])
        app.registry.put_permits([Permit("p-101", Colour.YELLOW),
                                  Permit("p-102", Colour.YELLOW)])
        assert leave(app, keys, "p-101") == "yellow.exit"
        result = gridgate("backup", backup, "-c", east, "--json")  # the gate is running
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["passages"] == 1
        assert oct(backup.stat().st_mode & 0o777) == "0o600"
        east_says = leave(app, keys, "p-102")
    assert east_says == "yellow.household_quota"  # one exit per household and period

    # A new gate without the history would let p-102 out; restored, it refuses as east does.
    fresh = config_for(tmp_path, keys, "gate-fresh")
    with GateApp(load_settings(fresh), pin_factory=MockFactory()) as app:
        app.registry.put_persons([Person("p-102", "h-1")])
        app.registry.put_permits([Permit("p-102", Colour.YELLOW)])
        assert leave(app, keys, "p-102") == "yellow.exit"
    west = config_for(tmp_path, keys, "gate-west")
    with GateApp(load_settings(west), pin_factory=MockFactory()) as app:
        pass  # it ran before: the restore keeps its database aside, nothing is lost
    result = gridgate("restore", backup, "-c", west, "--yes", "--json")
    assert result.exit_code == 0, result.output
    restored = json.loads(result.stdout)
    assert restored["passages"] == 1 and Path(restored["kept"]).exists()
    with GateApp(load_settings(west), pin_factory=MockFactory()) as app:
        assert leave(app, keys, "p-102") == east_says


def test_export_passages_and_alerts_for_the_grid_office(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    write_key_pair(keys)
    east = config_for(tmp_path, keys, "gate-east")
    with GateApp(load_settings(east), pin_factory=MockFactory()) as app:
        app.registry.put_persons([Person("p-101", "h-1"), Person("p-102", "h-1")])
        app.registry.put_permits([Permit("p-101", Colour.YELLOW), Permit("p-102", Colour.RED)])
        leave(app, keys, "p-101")
        leave(app, keys, "p-102")  # red: denied, an urgent alert
    today = datetime.now(UTC).date()
    result = gridgate("export", "passages", "--since", today - timedelta(days=1), "-c", east)
    assert result.exit_code == 0, result.output
    table = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["person_id"], r["rule"], r["granted"]) for r in table] == [
        ("p-101", "yellow.exit", "1"), ("p-102", "red.exit_denied", "0")]
    assert table[0]["at"].endswith("+00:00")  # UTC, as stored
    assert "exported 2 passages" in result.stderr
    result = gridgate("export", "alerts", "--since", f"{today - timedelta(days=1)} 00:00",
                      "--format", "jsonl", "-c", east, "-o", tmp_path / "alerts.jsonl")
    assert result.exit_code == 0, result.output
    [alert] = [json.loads(line) for line in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    assert alert["kind"] == "red_exit_attempt" and alert["person_id"] == "p-102"
    # --until excludes: a window that ends before today holds nothing.
    result = gridgate("export", "passages", "--since", "2020-01-01", "--until", "2020-02-01",
                      "--format", "jsonl", "-c", east)
    assert result.exit_code == 0 and result.stdout == ""
    # Bad input: a clear error, no traceback.
    for args, words in ((["--since", "yesterday"], "is not a date or time"),
                        (["--since", "2026-02-02", "--until", "2026-02-01"],
                         "--until must come after --since")):
        result = gridgate("export", "passages", *args, "-c", east)
        assert result.exit_code == 2 and words in result.output, result.output
    nowhere = config_for(tmp_path, keys, "gate-never-ran")
    result = gridgate("export", "passages", "--since", "2020-01-01", "-c", nowhere)
    assert result.exit_code == 2 and "the gate has not run" in result.output


def test_bad_backups_are_refused_and_change_nothing(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    write_key_pair(keys)
    east = config_for(tmp_path, keys, "gate-east")
    with GateApp(load_settings(east), pin_factory=MockFactory()):
        pass
    db = tmp_path / "gate-east" / "state" / "gridgate.db"
    before = db.read_bytes()
    text = tmp_path / "notes.txt"
    text.write_text("not a database")
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    damaged = tmp_path / "damaged.backup"
    assert gridgate("backup", damaged, "-c", east).exit_code == 0
    data = bytearray(damaged.read_bytes())
    data[4096:8192] = b"\xff" * 4096  # a page of garbage
    damaged.write_bytes(bytes(data))
    for bad, words in ((text, "is not a gridgate backup"), (other, "not a gridgate journal"),
                       (tmp_path / "missing.backup", "is not a file"),
                       (damaged, "damaged")):
        result = gridgate("restore", bad, "-c", east, "--yes")
        assert result.exit_code == 2 and words in result.output, (bad, result.output)
    assert db.read_bytes() == before
    result = gridgate("backup", damaged, "-c", east)
    assert result.exit_code == 2 and "pass --force" in result.output
    good = tmp_path / "good.backup"
    assert gridgate("backup", good, "-c", east).exit_code == 0
    result = gridgate("restore", good, "-c", east, input="n\n")  # asked, and said no
    assert result.exit_code == 1 and "Aborted" in result.output
    assert db.read_bytes() == before

"""`gridgate prune` and `gridgate wipe` on a real gate database and state directory: each
kind of record and snapshot goes when its days are over, a person's data goes on request with
an event for the platform, and `wipe --all` leaves no person's id anywhere in the file."""

from __future__ import annotations

import json
import tomllib
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tomli_w
from click.testing import CliRunner, Result

from edge.cli.main import cli
from edge.panel import schema as panel_schema
from edge.records import KEPT_TABLES, PERSONAL_TABLES, Pruner
from edge.settings import parse_settings
from gate.clock import ManualClock, SystemClock
from gate.faces import schema as face_schema
from gate.faces.gallery import FaceGallery
from gate.journal import Journal
from gate.journal.verify import verify
from gate.model import Colour, Person
from gate.registry import Registry
from gate.store import open_database
from gate.vocabulary import Rule
from sync import schema as sync_schema
from sync.messages import EventMessage, WipeData
from tests.edge.panel.conftest import gate_config
from tests.gate.journal_support import IN, OUT, record, red_alert

ALICE, BOB = Person("alice-7731", "h-1", grid_id="grid-7"), Person("bob-5520", "h-2")


def snapshot(state: Path, days_ago: int, now: Any) -> str:
    day = (now - timedelta(days=days_ago)).date().isoformat()
    ref = f"snapshots/{day}/{uuid.uuid4().hex}.jpg"
    (state / ref).parent.mkdir(parents=True, exist_ok=True)
    (state / ref).write_bytes(b"\xff\xd8 a jpeg of somebody")
    return ref


@pytest.fixture
def gate(tmp_path: Path) -> dict[str, Any]:
    """A gate that ran for 40 days: passages of two residents at its gate, the guards'
    evidence, a pass shown by a stranger, unknown faces, face encodings, a visitor, a guard's
    account and session, the outbox of a platform link."""
    config = gate_config(tmp_path) | {"mqtt": {"enabled": True, "host": "127.0.0.1",
                                                "port": 1, "prefix": "gg"}}
    path = tmp_path / "gridgate.toml"
    path.write_text(tomli_w.dumps(config))
    settings = parse_settings(config)
    state = settings.storage.state_dir
    now = SystemClock().now()
    db = open_database(state / "gridgate.db")
    journal = Journal(db, gate_id="gate-east", clock=ManualClock(now - timedelta(days=40)))
    for name in (face_schema, sync_schema, panel_schema):
        (name.prepare if name is face_schema else name.migrate)(db)
    refs: dict[str, list[str]] = {"override": [], "pass_shared": [], "unknown_face": []}
    for day in range(40, -1, -1):
        at = now - timedelta(days=day, hours=1)
        record(journal, ALICE, OUT, at)
        record(journal, ALICE, IN, at + timedelta(minutes=30), face_distance=0.31)
        record(journal, BOB, OUT, at + timedelta(minutes=5), granted=False, colour=Colour.RED,
               alerts=(red_alert(BOB),))
        if day % 10 == 0:
            refs["override"].append(ref := snapshot(state, day, now))
            record(journal, None, IN, at + timedelta(minutes=7), rule=Rule.OVERRIDE_OPEN_ONCE,
                   snapshot=ref, actor="guard-li")
            refs["pass_shared"].append(ref := snapshot(state, day, now))
            record(journal, ALICE, OUT, at + timedelta(minutes=8), granted=False,
                   rule=Rule.FACE_MISMATCH, snapshot=ref)
            refs["unknown_face"].append(ref := snapshot(state, day, now))
            db.execute("INSERT INTO face_snapshots VALUES (?, ?)",
                       [ref, (now - timedelta(days=day)).isoformat()])
    FaceGallery(db).replace_person(ALICE.person_id, [np.full(128, 0.1)])
    Registry(db).set_face_encodings(ALICE.person_id, [[0.1] * 128])
    db.execute("INSERT INTO panel_users (name, role, password_hash, created_at, "
               "password_changed_at) VALUES ('guard-li', 'admin', 'x', '2026', '2026')")
    db.execute("INSERT INTO panel_visitors VALUES ('pass-v', 'visitor-881', 'Zhang San', 'h-1', "
               "NULL, '2026', '2026', 'k', 'GG1:...', 'guard-li', '2026')")
    db.conn.commit()
    db.close()
    return {"config": path, "state": state, "refs": refs, "now": now}


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def test_prune_removes_each_kind_when_its_days_are_over(gate: dict[str, Any]) -> None:
    dry = run("prune", "--dry-run", "--json", "-c", str(gate["config"]))
    assert dry.exit_code == 0, dry.output
    counted = json.loads(dry.output)
    assert counted["dry_run"] is True and counted["removed"]["passages"] > 0
    files = sorted(p for p in (gate["state"] / "snapshots").rglob("*.jpg"))
    done = run("prune", "--json", "-c", str(gate["config"]))
    assert done.exit_code == 0, done.output
    report = json.loads(done.output)
    for name in ("passages", "denied", "door_events", "alerts"):
        assert report["removed"][name] == counted["removed"][name], name
    # Defaults: override evidence 30 days, a pass shown by someone else 7, unknown faces 7.
    kept = {ref for refs in gate["refs"].values() for ref in refs
            if (gate["state"] / ref).exists()}
    assert kept == {*gate["refs"]["override"][-3:], *gate["refs"]["pass_shared"][-1:],
                    *gate["refs"]["unknown_face"][-1:]}
    assert sum(report["snapshots"].values()) == len(files) - len(kept) == 10
    assert report["snapshots"]["orphan"] > 0  # their passages were pruned before them
    db = open_database(gate["state"] / "gridgate.db")
    ages = [r[0] for r in db.execute("SELECT min(at) FROM passages WHERE granted = 1")]
    assert ages[0] > (gate["now"] - timedelta(days=31)).isoformat()
    assert verify(Journal(db, gate_id="gate-east", clock=SystemClock())).broken is None
    human = run("prune", "-c", str(gate["config"]))
    assert human.exit_code == 0 and "removed: 0 passages" in human.output


def test_wipe_of_a_person_erases_their_data_and_tells_the_platform(gate: dict[str, Any]
                                                                   ) -> None:
    result = run("wipe", ALICE.person_id, "--yes", "--json", "-c", str(gate["config"]))
    assert result.exit_code == 0, result.output
    done = json.loads(result.output)
    assert done["face_encodings"] == 2 and done["removed"] > 80
    assert done["kept_for_rules"] == 0  # a green resident: no rule holds anything back
    db = open_database(gate["state"] / "gridgate.db")
    journal = Journal(db, gate_id="gate-east", clock=SystemClock())
    assert journal.trajectory(ALICE.person_id) == [] and journal.trajectory(BOB.person_id)
    assert not [ref for ref in gate["refs"]["pass_shared"] if (gate["state"] / ref).exists()]
    assert all((gate["state"] / ref).exists() for ref in gate["refs"]["override"])
    assert db.execute("SELECT count(*) FROM face_gallery").fetchone()[0] == 0
    rows = db.execute("SELECT payload FROM outbox WHERE kind = 'wipe' AND sink = 'mqtt'"
                      ).fetchall()
    event = EventMessage.received(rows[0][0])
    data = WipeData.model_validate(event.data)
    assert data.scope == "person" and data.person_id == ALICE.person_id
    notes = db.execute("SELECT detail FROM journal_notes WHERE action = 'wipe'").fetchall()
    assert notes == [('{"scope":"person"}',)]  # the gate's own record: that, not whom
    assert verify(journal).broken is None


def test_wipe_asks_first_and_needs_a_person_or_all(gate: dict[str, Any]) -> None:
    refused = CliRunner().invoke(cli, ["wipe", "--all", "-c", str(gate["config"])], input="n\n")
    assert refused.exit_code == 1 and "Aborted" in refused.output
    both = run("wipe", ALICE.person_id, "--all", "--yes", "-c", str(gate["config"]))
    assert both.exit_code == 2 and "name one PERSON, or give --all" in both.output
    neither = run("wipe", "--yes", "-c", str(gate["config"]))
    assert neither.exit_code == 2


def test_wipe_all_leaves_no_personal_data_in_the_file(gate: dict[str, Any]) -> None:
    db = open_database(gate["state"] / "gridgate.db")
    tables = {name for (name,) in db.execute("SELECT name FROM sqlite_schema WHERE "
                                             "type = 'table'")}
    db.close()
    unclassified = tables - set(PERSONAL_TABLES) - set(KEPT_TABLES)
    assert not unclassified, f"say whether these hold personal data: {unclassified}"
    result = CliRunner().invoke(cli, ["wipe", "--all", "-c", str(gate["config"])], input="y\n")
    assert result.exit_code == 0, result.output
    assert not (gate["state"] / "snapshots").exists()
    raw = b"".join(p.read_bytes() for p in gate["state"].glob("gridgate.db*"))
    for secret in (ALICE.person_id, BOB.person_id, "visitor-881", "Zhang San", "guard-li",
                   "h-1", "pass-alice"):
        assert secret.encode() not in raw, secret
    db = open_database(gate["state"] / "gridgate.db")
    journal = Journal(db, gate_id="gate-east", clock=SystemClock())
    assert verify(journal).broken is None and journal.recent_passages() == []
    [payload] = [r[0] for r in db.execute("SELECT payload FROM outbox WHERE sink = 'mqtt'")]
    assert WipeData.model_validate(EventMessage.received(payload).data).scope == "all"


def test_the_gate_prunes_soon_after_start(gate: dict[str, Any]) -> None:
    settings = parse_settings(tomllib.loads(gate["config"].read_text()))
    db = open_database(gate["state"] / "gridgate.db")
    pruner = Pruner(settings, Journal(db, gate_id="gate-east", clock=SystemClock()),
                    SystemClock(), first_after_s=0.01)
    pruner.start()
    try:
        for _ in range(500):
            if pruner.last is not None:
                break
            pruner._stop.wait(0.02)
    finally:
        pruner.stop()
    assert pruner.last is not None and pruner.last["removed"]["passages"] > 0

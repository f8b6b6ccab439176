"""A gate restored from a backup goes on from the backup's last passage: the seqs it numbers next
were sent before, naming other passages. `gridgate restore` gives the restored journal a new
epoch, so a peer that holds the old epoch's seqs is answered with the new passages (real
broker, real SQLite files, the restore through the real command)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import tomli_w
from click.testing import CliRunner

from edge.cli.main import cli
from edge.settings import Settings, load_settings
from gate.store import database_path
from sync.peer_store import Mark
from tests.fixtures.broker import Broker
from tests.sync.peer_gate import holds, passage_id, peer_settings, peers, running, scan, sent_all
from tests.sync.support import COMPOUND, PREFIX, wait_until

pytestmark = pytest.mark.broker


def config_file(root: Path, gate: str, broker: Broker) -> Path:
    """gate-b's settings as the installer's file (the restore command reads it); the same
    gate as peer_settings makes, with its key and trust list in place."""
    peer_settings(root, gate, broker)  # writes the gate's key and the compound's trust list
    home = root / gate
    path = root / f"{gate}.toml"
    path.write_text(tomli_w.dumps({
        "gate": {"gate_id": gate, "compound_id": COMPOUND},
        "readers": [{"reader_id": "in-cam", "direction": "in", "camera": "0", "relay_pin": 17},
                    {"reader_id": "out-cam", "direction": "out", "camera": "0",
                     "relay_pin": 18}],
        "passes": {"trust_list": str(home / "trust.json")},
        "storage": {"state_dir": str(home / "state")},
        "mqtt": {"enabled": True, "host": "127.0.0.1", "port": broker.port, "prefix": PREFIX,
                 "client_id": f"peer-{gate}-restored", "reconnect_min_s": 0.05,
                 "reconnect_max_s": 0.3, "keepalive_s": 5},
    }))
    return path


def test_a_restored_gate_speaks_a_new_epoch_and_its_peer_gets_the_new_passages(
        module_broker: Broker, tmp_path: Path) -> None:
    config_b = config_file(tmp_path, "gate-b", module_broker)
    settings_b: Settings = load_settings(config_b)
    # gate-a gets a new client id (a new broker session) at each start: it must ask.
    settings_a = lambda: peer_settings(tmp_path, "gate-a", module_broker)  # noqa: E731
    backup = tmp_path / "gate-b.backup"
    with running(settings_b) as b, running(settings_a()) as a:
        wait_until(lambda: a.sync.connected and b.sync.connected, what="both connected")  # type: ignore[union-attr]
        time.sleep(0.3)  # both catch-up rounds of the start are over
        first = passage_id(scan(b, "p-0", household="h-0"))
        result = CliRunner().invoke(cli, ["backup", str(backup), "-c", str(config_b)])
        assert result.exit_code == 0, result.output
        later = [passage_id(scan(b, f"p-{i}", household=f"h-{i}")) for i in (1, 2)]
        wait_until(lambda: all(holds(a, e) for e in [first, *later]), what="gate-b's passages")
        old_epoch = peers(b).epoch
        assert peers(a).high_water()["gate-b"] == Mark(old_epoch, 3)
    # gate-a is away; gate-b is stopped and restored from the backup (one passage, seq 1).
    result = CliRunner().invoke(cli, ["restore", str(backup), "--yes", "--json",
                                      "-c", str(config_b)])
    assert result.exit_code == 0, result.output
    restored = json.loads(result.stdout)
    assert restored["epoch"] is not None and restored["epoch"] != old_epoch
    with running(settings_b) as b:
        assert peers(b).epoch == restored["epoch"]
        new = passage_id(scan(b, "q-0", household="q-0"))  # seq 2 again: a new passage
        assert [r[0] for r in b.db.execute("SELECT id FROM passages ORDER BY id")] == [1, 2]
        wait_until(lambda: sent_all(b), what="gate-b's new passage at the broker")
        with running(settings_a()) as a:
            # gate-a holds seq 3 of the old epoch; "after 3" would never send seq 2 again. The
            # request names an epoch that is not gate-b's now: answered from the look-back.
            wait_until(lambda: holds(a, new), what="the restored gate's new passage")
            assert all(holds(a, e) for e in [first, *later]), "nothing held is lost"
            assert peers(a).high_water()["gate-b"] == Mark(restored["epoch"], 2)
    assert database_path(settings_b.storage.state_dir).exists()

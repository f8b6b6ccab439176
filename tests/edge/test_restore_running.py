"""`gridgate restore` never replaces the database under a running gate: the gate holds its state
directory (an flock on state_dir/gridgate.lock) for as long as it runs, in the real process
(`gridgate run`) as in GateApp, and the lock goes with the process however it ends."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from edge.app import GateApp
from edge.settings import load_settings
from gate.passes import write_key_pair
from gate.state_lock import StateBusy, StateLock, lock_path
from tests.edge.test_cli_export_backup import config_for, gridgate, leave
from tests.edge.test_run_process import _gate, _gridgate


def _count(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM passages").fetchone()[0])


def test_restore_is_refused_while_the_gate_process_runs_and_works_once_it_is_gone(
        tmp_path: Path) -> None:
    config = _gate(tmp_path, loop=True, people=2)
    state = tmp_path / "state"
    backup = tmp_path / "gate.backup"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    gate = subprocess.Popen(_gridgate("run", "--config", str(config), "--mock-gpio", "--json"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert gate.stdout is not None
    try:
        json.loads(gate.stdout.readline())  # the gate decides: it runs
        done = subprocess.run(_gridgate("backup", str(backup), "-c", str(config)),
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr  # a backup is safe while it runs
        done = subprocess.run(_gridgate("restore", str(backup), "--yes", "-c", str(config)),
                              capture_output=True, text=True, timeout=60)
        print("restore under the running gate:", done.returncode, done.stderr.strip())
        assert done.returncode == 2
        assert "the gate is running" in done.stderr and "stop it first" in done.stderr
        assert f"pid {gate.pid}" in done.stderr, "the message names the process holding it"
        assert not list(state.glob("*.before-restore-*")), "nothing was touched"
        # The gate goes on deciding on its own database: the second resident's passage.
        assert json.loads(gate.stdout.readline())["person"] == "p-1"
        deadline = time.monotonic() + 10
        while _count(state / "gridgate.db") < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _count(state / "gridgate.db") == 2
    finally:
        gate.kill()  # a power cut: no clean stop, no unlock of its own
        gate.wait(10)
    done = subprocess.run(_gridgate("restore", str(backup), "--yes", "--json", "-c",
                                    str(config)), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    restored = json.loads(done.stdout)
    assert Path(restored["kept"]).exists() and restored["passages"] >= 1


def test_a_second_gate_on_the_same_state_directory_is_refused(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    write_key_pair(keys)
    config = config_for(tmp_path, keys, "gate-a")
    settings = load_settings(config)
    backup = tmp_path / "a.backup"
    factory = MockFactory()
    try:
        with GateApp(settings, pin_factory=factory) as app:
            leave(app, keys, "p-1")
            with pytest.raises(StateBusy, match="in use by a running gate"):
                GateApp(settings, pin_factory=MockFactory())
            assert gridgate("backup", backup, "-c", config).exit_code == 0
            leave(app, keys, "p-2")
            refused = gridgate("restore", backup, "--yes", "-c", config)
            assert refused.exit_code == 2 and "the gate is running" in refused.output
            assert "Nothing was changed" in refused.output
            # The running gate still sees what it recorded.
            assert app.db.execute("SELECT count(*) FROM passages").fetchone()[0] == 2
        StateLock.take(tmp_path / "gate-a" / "state", "test").release()  # let go at close
        done = gridgate("restore", backup, "--yes", "-c", config)
        assert done.exit_code == 0, done.output
    finally:
        factory.reset()


def test_the_lock_names_its_holder_and_is_let_go(tmp_path: Path) -> None:
    with StateLock.take(tmp_path, "gridgate restore") as held:
        assert held.held
        assert "gridgate restore (pid" in lock_path(tmp_path).read_text()
        with pytest.raises(StateBusy, match=rf"in use by gridgate restore \(pid {os.getpid()}\)"):
            StateLock.take(tmp_path, "a running gate")
    assert not held.held and lock_path(tmp_path).read_text() == ""
    StateLock.take(tmp_path, "again").release()
    # A state directory that cannot hold the lock: a clear error, not a traceback.
    not_a_dir = tmp_path / "a-file"
    not_a_dir.write_text("")
    with pytest.raises(StateBusy, match="check that storage.state_dir is writable"):
        StateLock.take(not_a_dir, "a running gate")


def test_a_lock_file_left_behind_blocks_nobody(tmp_path: Path) -> None:
    # Only the flock counts, which the kernel drops with its process: the file's line may stay.
    lock_path(tmp_path).write_text("a running gate (pid 1)\n")
    with StateLock.take(tmp_path, "gridgate restore") as held:
        assert held.held and "gridgate restore" in lock_path(tmp_path).read_text()

"""A full disk delays records and never loses them: the whole gate on a real, small tmpfs state
directory (mock GPIO, SQLite), filled to the last byte while passes are decided and the door
moves."""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from edge.app import GateApp
from edge.settings import parse_settings
from gate.ballast import BALLAST_NAME
from gate.clock import SystemClock
from gate.model import Colour, Method
from gate.observation import Observation
from gate.passes import encode_pass, load_signing_key
from gate.passes.claims import PassClaims
from gate.vocabulary import AlertKind
from tests.edge.panel.conftest import gate_config

COMPOUND = "wenjiang-01"
DISK_MB = 40  # the reserve (16 MB) and the database fit, with room to fill


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of DISK_MB mounted for the gate's state directory (needs root, as CI runs)."""
    state = tmp_path / "state"
    state.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_MB}m", "tmpfs",
                              str(state)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs at {state} (needs root): {mounted.stderr.strip()}")
    try:
        yield state
    finally:
        subprocess.run(["umount", "-l", str(state)], check=False)


def fill(folder: Path) -> Path:
    """Write a file until the disk refuses another byte; returns it."""
    filler = folder / "filler.bin"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 20, 1 << 16, 1 << 12, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass  # no room for another piece this size: try a smaller one
    finally:
        os.close(fd)
    return filler


def pass_through(app: GateApp, key_path: Path, n: int) -> bool:
    now = SystemClock().now()
    claims = PassClaims(pass_id=f"pass-{n}", person_id=f"p-{n}", household_id=f"h-{n}",
                        compound_id=COMPOUND, colour=Colour.GREEN,
                        issued_at=now - timedelta(days=1), not_before=now - timedelta(days=1),
                        expires_at=now + timedelta(days=9))
    check = app.checkpoint.check_pass(encode_pass(claims, load_signing_key(key_path)), now)
    observation = Observation(reader=app.readers["in-cam"], method=Method.PASS, seen_at=now,
                              pass_check=check)
    return app.checkpoint.handle(observation).decision.granted


def count(app: GateApp, table: str, where: str = "1 = 1") -> int:
    return int(app.db.execute(f"SELECT count(*) FROM {table} WHERE {where}").fetchone()[0])


@pytest.fixture
def gate(small_disk: Path) -> Iterator[tuple[GateApp, Path]]:
    root = small_disk.parent
    config = gate_config(root)
    config["door"] = {"open_seconds": 0.01}
    app = GateApp(parse_settings(config), pin_factory=MockFactory())
    yield app, root / "keys" / "signing.key"
    app.close()


def test_the_reserve_lets_every_record_and_the_disk_full_alert_through(
        gate: tuple[GateApp, Path], small_disk: Path) -> None:
    app, key = gate
    assert (small_disk / BALLAST_NAME).stat().st_size == 16 * 2**20  # laid at start
    assert pass_through(app, key, 0)
    filler = fill(small_disk)
    granted = [pass_through(app, key, n) for n in range(1, 41)]  # 40 passages, 80 door events
    assert all(granted)  # the doors never waited for the disk
    assert not (small_disk / BALLAST_NAME).exists()  # freed at the first refused write
    app.keeper.retry()
    assert app.checkpoint.pending_records == 0
    assert count(app, "passages") == 41
    assert count(app, "door_events", "kind = 'released'") == 41
    assert count(app, "alerts", f"kind = '{AlertKind.DISK_FULL}'") == 1
    filler.unlink()
    assert app.keeper.retry() == 0 and (small_disk / BALLAST_NAME).exists()  # laid again


def test_records_wait_in_order_and_reach_the_disk_once_it_has_room(
        gate: tuple[GateApp, Path], small_disk: Path) -> None:
    app, key = gate
    (small_disk / BALLAST_NAME).unlink()  # no reserve left: the disk is simply full
    filler = fill(small_disk)
    assert all(pass_through(app, key, n) for n in range(30))
    waiting = app.checkpoint.pending_records
    assert waiting >= 30  # passages and door events, none dropped
    assert count(app, "passages") == 0
    filler.unlink()
    assert app.keeper.retry() == 0
    rows = app.db.execute("SELECT person_id FROM passages ORDER BY id").fetchall()
    assert [r[0] for r in rows] == [f"p-{n}" for n in range(30)]  # in the order decided
    assert count(app, "door_events", "kind = 'released'") == 30


def test_stopping_on_a_full_disk_says_what_is_lost(
        small_disk: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = small_disk.parent
    config = gate_config(root)
    config["door"] = {"open_seconds": 0.01}
    app = GateApp(parse_settings(config), pin_factory=MockFactory())
    key = root / "keys" / "signing.key"
    (small_disk / BALLAST_NAME).unlink()
    fill(small_disk)
    for n in range(12):
        pass_through(app, key, n)
    waiting = app.checkpoint.pending_records
    assert waiting >= 12
    with caplog.at_level(logging.CRITICAL):
        app.close()
    [line] = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert f"stopping with {waiting} records" in line.getMessage()
    assert "12 passage" in line.getMessage()

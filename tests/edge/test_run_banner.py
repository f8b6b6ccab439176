"""`gridgate run` as a person reads it: a start banner, local times with their zone, and a
word when a file camera has ended; with --json, stdout stays JSON (UTC) and the rest goes to
stderr."""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from pathlib import Path

import tomli_w
from click.testing import CliRunner

from edge.cli.main import cli
from tests.edge.test_run_process import _gate, _gridgate


def _in_shanghai(config: Path) -> None:
    data = tomllib.loads(config.read_text())
    data["policy"] = {"timezone": "Asia/Shanghai"}
    config.write_text(tomli_w.dumps(data))


def test_banner_local_times_and_the_end_of_a_file_camera(tmp_path: Path) -> None:
    config = _gate(tmp_path, loop=False, people=2)
    _in_shanghai(config)
    done = subprocess.run(_gridgate("run", "--config", str(config), "--mock-gpio"),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    print(out)
    assert re.search(r"gridgate gate-test of wenjiang-01: started \d{4}-\d\d-\d\d "
                     r"\d\d:\d\d:\d\d CST \(Asia/Shanghai\)", out)
    assert "reader out-cam (out): camera " in out and "(folder of images), relay GPIO 18" in out
    assert "broker: none" in out and "panel: off" in out
    decisions = [line for line in out.splitlines() if "GRANTED" in line]
    assert len(decisions) == 2
    assert all(re.match(r"\d\d:\d\d:\d\d CST out-cam", line) for line in decisions)
    assert "reader out-cam: the camera" in out and "has ended" in out

    done = subprocess.run(_gridgate("run", "--config", str(config), "--mock-gpio", "--json"),
                          capture_output=True, text=True, timeout=60)
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert records and all(r["at"].endswith("+00:00") for r in records)  # JSON keeps UTC
    assert "started" in done.stderr and "has ended" in done.stderr


def test_user_list_shows_local_time(tmp_path: Path) -> None:
    config = _gate(tmp_path, loop=False, people=1)
    _in_shanghai(config)
    runner = CliRunner()
    added = runner.invoke(cli, ["user", "add", "wang", "--password-stdin", "-c", str(config)],
                          input="a long enough password\n")
    assert added.exit_code == 0, added.output
    listed = runner.invoke(cli, ["user", "list", "-c", str(config)])
    assert re.search(r"wang\s+guard\s+password set \d{4}-\d\d-\d\d \d\d:\d\d CST",
                     listed.output), listed.output

"""`gridgate demo` end to end: scenario video, mock GPIO, a local Mosquitto, the panel."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.fixtures.broker import mosquitto_binary


def test_demo_decides_as_expected_and_the_platform_hears_it(tmp_path: Path) -> None:
    mosquitto_binary()  # skips with a message when mosquitto is not installed
    done = subprocess.run(
        [sys.executable, "-m", "edge.cli.main", "demo", "--fast", "--json", "--dir",
         str(tmp_path / "demo"), "--panel-port", "0"],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    summary = lines[-1]
    assert summary["expected"] == summary["as_expected"] == 10
    assert summary["extra_decisions"] == 0
    decisions = lines[:-1]
    assert len(decisions) == 10
    # Three alerts (red entry, red exit attempt, forged pass) reached the platform over MQTT,
    # and at least every passage did.
    assert summary["platform_received"]["alerts"] == 3
    assert summary["platform_received"]["events"] >= 10
    assert "guard panel: http://127.0.0.1:" in done.stderr and "password" in done.stderr
    assert "gate display of out-cam: http://127.0.0.1:" in done.stderr

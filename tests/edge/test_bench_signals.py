"""`gridgate bench signals` plays the scenario once and prints every figure as JSON."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from edge.bench.signals import CHROMIUM
from edge.cli.main import cli

pytestmark = pytest.mark.slow


def test_bench_signals_prints_lamp_and_screen_figures() -> None:
    result = CliRunner().invoke(cli, ["bench", "signals", "--rounds", "1", "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    print(f"\n{figures}")
    lamp = figures["decision_to_lamp"]
    assert lamp["n"] == 10, "every outcome of the scenario lit its lamp"
    assert 0 <= lamp["p50_ms"] <= lamp["p95_ms"] < 100
    assert len(figures["load_average"]) == 3 and figures["rounds"] == 1
    if not CHROMIUM.exists():
        assert figures["decision_to_screen"]["n"] == 0 and "absent" in figures["browser"]
        return
    screen = figures["decision_to_screen"]
    assert screen["n"] == 10 and 0 <= screen["p50_ms"] <= screen["p95_ms"] < 300
    assert figures["camera_to_screen"]["n"] >= 8

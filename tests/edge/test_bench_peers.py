"""`gridgate bench peers`: two gates of a compound through the real command line, on a real
Mosquitto; propagation figures, and (slow) when a lost link is noticed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.broker import mosquitto_binary

pytestmark = pytest.mark.broker
REPO = Path(__file__).resolve().parents[2]


def bench(*args: str) -> dict[str, Any]:
    mosquitto_binary()  # skips without Mosquitto
    result = subprocess.run([sys.executable, "-m", "edge.cli.main", "bench", "peers", *args,
                             "--json"], cwd=REPO, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    figures: dict[str, Any] = json.loads(result.stdout.splitlines()[-1])
    return figures


def test_propagation_figures_as_json() -> None:
    figures = bench("--passages", "30", "--no-stale")
    propagation = figures["propagation"]
    print(f"\npeer propagation: {propagation}, load {figures['load_average']}")
    assert propagation["passages"] == 30
    assert 0 < propagation["p50_ms"] <= propagation["p95_ms"] <= propagation["max_ms"] < 10_000
    assert "stale" not in figures


@pytest.mark.slow
def test_a_lost_link_is_noticed_at_once_or_by_the_keep_alive() -> None:
    figures = bench("--passages", "20", "--keepalive-s", "5")
    stale = figures["stale"]
    print(f"\nstale detection: {stale}")
    stopped = stale["broker_stopped_noticed"]
    assert 0 < stopped["gate_a_s"] < 5 and 0 < stopped["gate_b_s"] < 5  # the socket closes
    silent = stale["silent_cut_of_gate_a_noticed"]
    assert 5 <= silent["gate_a_s"] <= 2 * 5 + 3  # its own keep-alive
    assert 2 <= silent["gate_b_s"] <= 3 * 5 + 3  # gate-a's Last Will (1.5 keep-alives)
    assert stale["stale_after_silent_cut_s"]["gate_a_s"] == pytest.approx(
        silent["gate_a_s"] + stale["stale_after_s"])

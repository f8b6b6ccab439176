"""`gridgate bench fleet`: a small fleet through the real command line, on a real Mosquitto."""

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


def fleet(*args: str) -> dict[str, Any]:
    mosquitto_binary()  # skips without Mosquitto
    result = subprocess.run(
        [sys.executable, "-m", "edge.cli.main", "bench", "fleet", *args, "--timeout-s", "60",
         "--json"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    figures: dict[str, Any] = json.loads(result.stdout.splitlines()[-1])
    return figures


def test_five_gates_two_consumers_every_event_exactly_once() -> None:
    figures = fleet("--gates", "5", "--consumers", "2", "--events-per-gate", "50")
    assert figures["gates"] == 5 and figures["consumers"] == 2
    assert figures["events"] == 250
    assert figures["exactly_once"] is True and not figures["timed_out"]
    assert figures["missing"] == 0 and figures["unexpected"] == 0
    assert figures["received"] == 250 + figures["duplicates"]
    assert figures["events_per_s"] > 0
    assert 0 < figures["latency_p50_ms"] <= figures["latency_p95_ms"] <= figures[
        "latency_max_ms"] < 60_000
    cpu = figures["cpu"]
    assert cpu["gates"]["processes"] == figures["limits"]["gate_processes"] >= 1
    assert cpu["consumers"]["processes"] == 2 and cpu["broker"]["processes"] == 1
    assert cpu["gates"]["cpu_s"] > 0 and cpu["consumers"]["cpu_s"] > 0
    assert cpu["machine"]["cores"] >= 1
    assert set(figures["saturation"]) == {"bottleneck", "why"}
    assert figures["limits"]["gate_highest_fd"] < figures["limits"]["select_fd_limit"]


def test_paced_gates_through_the_whole_journal() -> None:
    figures = fleet("--gates", "3", "--consumers", "1", "--events-per-gate", "20",
                    "--rate", "40", "--record", "journal")
    assert figures["exactly_once"] is True and figures["events"] == 60
    assert figures["record"] == "journal" and figures["rate_per_gate"] == 40
    # 20 events at 40/s: about half a second of recording, not a burst.
    assert figures["duration_s"] >= 0.45
    assert figures["latency_p95_ms"] < 5_000


def test_backlogs_drained_when_the_fleet_connects() -> None:
    figures = fleet("--gates", "4", "--consumers", "2", "--events-per-gate", "30", "--backlog")
    assert figures["backlog"] is True and figures["events"] == 120
    assert figures["exactly_once"] is True and figures["missing"] == 0
    assert figures["connect_s"] > 0  # the gates connected after the start, with backlogs

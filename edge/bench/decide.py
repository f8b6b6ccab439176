"""`gridgate bench decide`: frame arrival to relay command over the scenario video."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import click
import numpy as np
from gpiozero.pins.mock import MockFactory

from edge.app import GateApp
from edge.cli.output import emit_json
from edge.demo.scenario import build_scenario
from edge.settings import load_settings
from gate.clock import SystemClock
from vision.facts import Frame
from vision.sources import open_source

RESOLUTIONS = ((640, 480), (1280, 720))


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50_ms": float("nan"), "p95_ms": float("nan")}
    array = np.array(values) * 1000
    return {"p50_ms": round(float(np.percentile(array, 50)), 2),
            "p95_ms": round(float(np.percentile(array, 95)), 2)}


def measure(width: int, height: int, rounds: int, workdir: Path) -> dict[str, Any]:
    """Play the scenario `rounds` times through one gate; time every frame and every decision."""
    scenario = build_scenario(workdir / f"{width}x{height}", width=width, height=height)
    settings = load_settings(scenario.config_path)
    clock = SystemClock()
    latencies: list[float] = []
    frame_times: list[float] = []
    decisions = 0
    started = time.perf_counter()
    for _ in range(rounds):
        # A fresh journal each round, so the same residents get the same decisions again.
        for f in Path(settings.storage.state_dir).glob("gridgate.db*"):
            f.unlink()
        with GateApp(settings, clock=clock, pin_factory=MockFactory()) as app:
            for reader in settings.readers:
                pipeline = app.pipelines[reader.reader_id]
                with open_source(reader.camera, width=width, height=height, fps=reader.fps,
                                 realtime=False) as source:
                    for frame in source:
                        # The frame "arrives" now: decoding of the file is not camera latency.
                        arrived = clock.monotonic()
                        frame = Frame(frame.image, frame.seq, arrived)
                        outcomes = pipeline.process(frame)
                        frame_times.append(clock.monotonic() - arrived)
                        for outcome in outcomes:
                            latencies.append(outcome.acted_at - arrived)
                            decisions += 1
    elapsed = time.perf_counter() - started
    return {**_percentiles(latencies), "fps": round(len(frame_times) / sum(frame_times), 1),
            "frame_p50_ms": _percentiles(frame_times)["p50_ms"],
            "frame_p95_ms": _percentiles(frame_times)["p95_ms"],
            "decisions": decisions, "frames": len(frame_times),
            "wall_s": round(elapsed, 1)}


@click.command("decide")
@click.option("--rounds", type=click.IntRange(1, 50), default=3, show_default=True,
              help="How many times to play the scenario per resolution.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (the default output anyway).")
def bench_decide(rounds: int, as_json: bool) -> None:
    """Time from frame arrival to relay command (p50, p95) and sustained frames per second."""
    with tempfile.TemporaryDirectory(prefix="gridgate-bench-") as tmp:
        result = {f"{w}x{h}": measure(w, h, rounds, Path(tmp)) for w, h in RESOLUTIONS}
    emit_json(result)

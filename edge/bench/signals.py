"""`gridgate bench signals`: how soon the person at the door is answered.

The scenario videos play in real time into a gate on gpiozero's MockFactory with lamps on both
readers and a gate display for each, open in a real headless Chromium. For every outcome:

- decision to lamp: from the door being commanded (the outcome's `acted_at`) to the lamp's
  pin changing (MockPin records each change with its time);
- decision to screen: from the same moment to the browser's page showing the outcome (a
  MutationObserver on the page notes Date.now());
- camera to screen: from the first camera frame in which the pass was decoded to the page
  showing its outcome: what the person in front of the camera feels, but for the camera's own
  latency.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import click
import numpy as np
from gpiozero.pins.mock import MockFactory

from edge.app import GateApp
from edge.cli.output import emit_json
from edge.demo.scenario import CAST, build_scenario, write_config
from edge.display.server import start_displays
from edge.settings import load_settings
from gate.checkpoint import Outcome

CHROMIUM = Path("/usr/bin/chromium")
LAMPS = {"out-cam": {"green_pin": 5, "red_pin": 6, "amber_pin": 13, "buzzer_pin": 19},
         "in-cam": {"green_pin": 20, "red_pin": 21, "amber_pin": 22, "buzzer_pin": 26}}
RECORD = """() => {
    window.__shown = [];
    new MutationObserver(() => window.__shown.push({state: document.body.dataset.state,
                                                    at: Date.now()}))
        .observe(document.body, {attributes: true, attributeFilter: ["data-key"]});
}"""


def percentiles(values: list[float]) -> dict[str, Any]:
    """p50 and p95 in milliseconds, and how many."""
    if not values:
        return {"p50_ms": None, "p95_ms": None, "n": 0}
    ms = np.array(values) * 1000
    return {"p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p95_ms": round(float(np.percentile(ms, 95)), 2), "n": len(values)}


def _rising_edges(factory: MockFactory, pin: int, cleared: float) -> list[float]:
    """Monotonic times at which a pin went high since it was cleared."""
    t, edges = cleared, []
    for state in factory.pin(pin).states[1:]:
        t += state.timestamp
        if state.state:
            edges.append(t)
    return edges


class Round:
    """One play of the scenario through a fresh gate."""

    def __init__(self, config: Path, browser: Any, passes: dict[str, str]) -> None:
        self.passes = passes  # pass id -> the text its card shows
        self.factory = MockFactory()
        self.app = GateApp(load_settings(config), pin_factory=self.factory)
        self.browser = browser
        self.outcomes: list[Outcome] = []
        self.first_seen: dict[str, float] = {}  # pass text -> monotonic arrival
        self.app.add_outcome_listener(self.outcomes.append)
        for pipeline in self.app.pipelines.values():
            pipeline.add_frame_listener(self._frame)

    def _frame(self, frame: Any, codes: Any, faces: Any) -> None:
        for code in codes:
            self.first_seen.setdefault(code.text, frame.arrived)

    def play(self) -> dict[str, list[float]]:
        """Run the videos; the delays measured."""
        offset = time.time() - time.monotonic()  # monotonic -> the browser's wall clock
        try:
            server = start_displays(self.app)
        except BaseException:
            self.app.close()
            self.factory.reset()
            raise
        assert server is not None  # the config has screens
        pages = {}
        try:
            if self.browser is not None:
                for reader_id, url in server.urls.items():
                    page = self.browser.new_page(viewport={"width": 1280, "height": 720})
                    page.goto(url)
                    page.evaluate(RECORD)
                    pages[reader_id] = page
            cleared = {}
            for lamps in LAMPS.values():
                for pin in lamps.values():
                    self.factory.pin(pin).clear_states()
                    cleared[pin] = time.monotonic()
            self.app.start_readers(realtime=True)
            self.app.wait(timeout=120)
            time.sleep(0.3)  # the last screens reach the browser
            shown = {r: p.evaluate("() => window.__shown") for r, p in pages.items()}
        finally:
            for page in pages.values():
                page.close()
            server.stop()
            self.app.close()  # the pins keep what they recorded until the factory resets
        try:
            return self._delays(cleared, shown, offset)
        finally:
            self.factory.reset()

    def _delays(self, cleared: dict[int, float], shown: dict[str, list[dict[str, Any]]],
                offset: float) -> dict[str, list[float]]:
        lamp, screen, camera = [], [], []
        for outcome in self.outcomes:
            reader_id = outcome.observation.reader.reader_id
            pins = LAMPS[reader_id]
            pin = pins["green_pin"] if outcome.decision.granted else pins["red_pin"]
            edges = [t for t in _rising_edges(self.factory, pin, cleared[pin])
                     if t >= outcome.acted_at - 0.001]
            if edges:
                lamp.append(edges[0] - outcome.acted_at)
            if reader_id not in shown:
                continue
            state = "granted" if outcome.decision.granted else "denied"
            decided = outcome.acted_at + offset
            seen = [s["at"] / 1000 for s in shown[reader_id]
                    if s["state"] == state and s["at"] / 1000 >= decided - 0.005]
            if not seen:
                continue
            screen.append(seen[0] - decided)
            arrived = self._arrival(outcome)
            if arrived is not None:
                camera.append(seen[0] - (arrived + offset))
        return {"lamp": lamp, "screen": screen, "camera": camera}

    def _arrival(self, outcome: Outcome) -> float | None:
        """When the camera first showed the pass of this outcome (authentic passes only)."""
        check = outcome.observation.pass_check
        if check is None or check.claims is None or check.claims.pass_id not in self.passes:
            return None
        return self.first_seen.get(self.passes[check.claims.pass_id])


def measure(rounds: int, workdir: Path) -> dict[str, Any]:
    """Play the scenario `rounds` times; the delays of every outcome."""
    scenario = build_scenario(workdir / "scenario")
    # The scenario numbers each actor's pass by its place in the cast.
    passes = {f"pass-{CAST.index(a.actor):03d}": a.pass_text for a in scenario.appearances}
    sections = {
        "signals": {"denied": {"seconds": 0.5},  # a denial ends before the next person
                    "readers": [{"reader_id": r, **pins} for r, pins in LAMPS.items()]},
        "display": {"voice": [], "screens": [{"reader_id": "out-cam", "port": 0},
                                             {"reader_id": "in-cam", "port": 0}]},
    }
    write_config(scenario, sections=sections)
    state = Path(load_settings(scenario.config_path).storage.state_dir)
    delays: dict[str, list[float]] = {"lamp": [], "screen": [], "camera": []}
    browser_note = "chromium"
    with _browser() as browser:
        if browser is None:
            browser_note = f"absent: {CHROMIUM} (install Debian's chromium for screen figures)"
        for _ in range(rounds):
            for f in state.glob("gridgate.db*"):  # the same residents, the same decisions
                f.unlink()
            for kind, values in Round(scenario.config_path, browser, passes).play().items():
                delays[kind] += values
    return {"decision_to_lamp": percentiles(delays["lamp"]),
            "decision_to_screen": percentiles(delays["screen"]),
            "camera_to_screen": percentiles(delays["camera"]),
            "rounds": rounds, "browser": browser_note,
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "cpus": os.cpu_count()}


class _browser:
    """A headless Chromium (Debian's) through Playwright, or None without it."""

    def __enter__(self) -> Any:
        self._playwright: Any = None
        self._chromium: Any = None
        if not CHROMIUM.exists():
            return None
        try:
            from playwright.sync_api import sync_playwright
        except ImportError:
            return None
        self._playwright = sync_playwright().start()
        self._chromium = self._playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--no-first-run", "--autoplay-policy=no-user-gesture-required"])
        return self._chromium

    def __exit__(self, *exc: object) -> None:
        if self._chromium is not None:
            self._chromium.close()
        if self._playwright is not None:
            self._playwright.stop()


@click.command("signals")
@click.option("--rounds", type=click.IntRange(1, 20), default=2, show_default=True,
              help="How many times to play the scenario (about 20 s each).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (the default output anyway).")
def bench_signals(rounds: int, as_json: bool) -> None:
    """Decision to lamp on and decision to screen updated (p50, p95), with the load average."""
    with tempfile.TemporaryDirectory(prefix="gridgate-bench-") as tmp:
        emit_json(measure(rounds, Path(tmp)))

"""`gridgate demo`: a simulated gate end to end, from a scenario video to relay and journal."""

from __future__ import annotations

import threading
from pathlib import Path

import click

from edge.app import GateApp
from edge.cli.output import emit_json, friendly_errors, json_option
from edge.cli.run import mock_pin_factory, serve
from edge.demo.check import compare, extra_outcomes
from edge.demo.scenario import build_scenario
from edge.settings import load_settings
from gate.checkpoint import Outcome


@click.command()
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path),
              default=Path("var/demo"), show_default=True,
              help="Where the scenario (keys, videos, config, journal) is written.")
@click.option("--width", type=click.IntRange(320, 1920), default=640, show_default=True)
@click.option("--height", type=click.IntRange(240, 1080), default=480, show_default=True)
@click.option("--fast", is_flag=True, help="Process frames as fast as possible, not in real time.")
@json_option
@friendly_errors
def demo(directory: Path, width: int, height: int, fast: bool, as_json: bool) -> None:
    """Build a scenario (residents showing pass cards of every colour, a forged and an expired
    pass), run the gate on it with mock GPIO, print each decision and a summary."""
    click.echo(f"building the scenario in {directory} ...", err=True)
    scenario = build_scenario(directory.resolve(), width=width, height=height)
    db = directory / "state" / "gridgate.db"
    for suffix in ("", "-wal", "-shm"):  # each demo run starts with an empty journal
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    settings = load_settings(scenario.config_path)
    app = GateApp(settings, pin_factory=mock_pin_factory())
    outcomes: list[Outcome] = []
    app.checkpoint.add_listener(outcomes.append)
    serve(app, as_json=as_json, realtime=not fast, stop=threading.Event())
    verdicts = compare(scenario.appearances, outcomes)
    extra = extra_outcomes(scenario.appearances, outcomes)
    passed = sum(v.ok for v in verdicts)
    if as_json:
        emit_json({"expected": len(verdicts), "as_expected": passed, "extra_decisions": extra})
    else:
        click.echo("")
        for v in verdicts:
            got = (f"{'granted' if v.outcome.decision.granted else 'denied'} "
                   f"{v.outcome.decision.rule}" if v.outcome else "no decision")
            mark = click.style("ok  ", fg="green") if v.ok else click.style("FAIL", fg="red")
            click.echo(f"{mark} {v.appearance.actor.label:<40} {got}")
        click.echo(f"\n{passed}/{len(verdicts)} as expected, {extra} extra decisions; "
                   f"journal: {db}; try `gridgate trajectory p-101 -c {scenario.config_path}`")
    if passed != len(verdicts) or extra:
        raise SystemExit(1)

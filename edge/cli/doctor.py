"""`gridgate doctor`: check the installation; every problem comes with its fix."""

from __future__ import annotations

from pathlib import Path

import click

from edge.cli.output import emit_json, json_option
from edge.cli.run import default_last_good, mock_pin_factory
from edge.cli.state import config_option
from edge.doctor import FAMILIES, DoctorContext, Finding, Report, Status, run_doctor

_MARKS = {Status.OK: ("ok  ", "green"), Status.WARN: ("WARN", "yellow"),
          Status.FAIL: ("FAIL", "red")}


def finish(report: Report, as_json: bool) -> None:
    """Print the report (JSON or text) and exit 1 when any check failed."""
    if as_json:
        emit_json({"config": report.config, "passed": report.passed,
                   "findings": [f.model_dump(mode="json") for f in report.findings]})
    else:
        print_report(report)
    if not report.passed:
        raise SystemExit(1)


CHECK_WIDTH = 22  # findings are printed as they come: a fixed column, not the longest


def print_finding(finding: Finding, width: int = CHECK_WIDTH) -> None:
    """One finding: mark, check, message, and its fix indented below."""
    mark, colour = _MARKS[finding.status]
    click.echo(f"{click.style(mark, fg=colour)}  {finding.check:<{width}}  {finding.message}")
    if finding.fix:
        click.echo(f"      {'':<{width}}  fix: {finding.fix}")


def print_summary(report: Report) -> None:
    click.echo(f"\n{report.count(Status.OK)} ok, {report.count(Status.WARN)} warning(s), "
               f"{report.count(Status.FAIL)} failure(s)")


def print_report(report: Report) -> None:
    """One line per finding, its fix indented below, and a count at the end."""
    click.echo(f"gridgate doctor: {report.config}")
    width = max((len(f.check) for f in report.findings), default=0)
    for finding in report.findings:
        print_finding(finding, width)
    print_summary(report)


@click.command()
@config_option
@json_option
@click.option("--mock-gpio", is_flag=True, help="Use gpiozero's mock pins (no relay is driven).")
@click.option("--no-relay-test", is_flag=True, help="Do not pulse the door relays.")
@click.option("--pulse-seconds", type=click.FloatRange(0.1, 10), default=1.0, show_default=True,
              help="How long the relay self-test releases each lock.")
@click.option("--camera-seconds", type=click.FloatRange(0.5, 30), default=2.0,
              show_default=True, help="How long to read each camera.")
@click.option("--timeout", type=click.FloatRange(0.5, 60), default=5.0, show_default=True,
              help="Seconds to wait for the broker at each step.")
@click.option("--only", multiple=True, type=click.Choice(list(FAMILIES)),
              help="Run only this family of checks (repeatable).")
@click.option("--skip", multiple=True, type=click.Choice(list(FAMILIES)),
              help="Leave out this family of checks (repeatable).")
@click.option("--last-good", type=click.Path(dir_okay=False, path_type=Path),
              default=lambda: default_last_good() or Path("/var/lib/gridgate/last-good.toml"),
              show_default="/var/lib/gridgate/last-good.toml",
              help="The service's copy of the last configuration that started.")
def doctor(config: Path, as_json: bool, mock_gpio: bool, no_relay_test: bool,
           pulse_seconds: float, camera_seconds: float, timeout: float, only: tuple[str, ...],
           skip: tuple[str, ...], last_good: Path) -> None:
    """Check config, camera, QR and face models, GPIO pins, relay wiring, broker, clock,
    trust list, disk and memory. Exits 1 when anything fails.

    The relay self-test pulses each door relay: close the door first; with a door contact,
    push the door when the lock clicks to verify the wiring (or use `gridgate relay test`).
    Stop the service first (sudo systemctl stop gridgate): it holds the camera and the pins.
    """
    def notice(text: str) -> None:  # before a step that takes time; never on stdout in JSON
        click.echo(click.style(f"... {text}", dim=True), err=as_json)

    context = DoctorContext.load(
        config, pin_factory=mock_pin_factory() if mock_gpio else None,
        relay_test=not no_relay_test, pulse_seconds=pulse_seconds,
        camera_seconds=camera_seconds, broker_timeout=timeout, last_good=last_good,
        notice=notice,
    )
    if as_json:
        finish(run_doctor(context, only=only, skip=skip), as_json)
        return
    # Each result as soon as its check finishes: the relay and camera checks take seconds.
    click.echo(f"gridgate doctor: {config}")
    report = run_doctor(context, only=only, skip=skip, on_finding=print_finding)
    print_summary(report)
    if not report.passed:
        raise SystemExit(1)

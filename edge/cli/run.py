"""`gridgate run`: the gate service."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType

import click

from edge.app import GateApp
from edge.cli.live import print_outcome
from edge.cli.output import friendly_errors, json_option
from edge.cli.state import config_option, open_settings


def mock_pin_factory() -> object:
    """gpiozero's own mock pins, for machines without GPIO (development, CI, demo)."""
    from gpiozero.pins.mock import MockFactory

    return MockFactory()


def serve(app: GateApp, *, as_json: bool, realtime: bool = True,
          stop: threading.Event | None = None) -> None:
    """Run the readers until they end or SIGINT/SIGTERM arrives; doors lock on the way out."""
    stop = stop or threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    app.checkpoint.add_listener(lambda outcome: print_outcome(outcome, as_json))
    try:
        app.start_readers(realtime=realtime)
        while not stop.is_set():
            if app.wait(timeout=0.2):
                break
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        app.close()


@click.command()
@config_option
@click.option("--mock-gpio", is_flag=True, help="Use gpiozero's mock pins (no relay is driven).")
@json_option
@friendly_errors
def run(config: Path, mock_gpio: bool, as_json: bool) -> None:
    """Run the gate: cameras -> decode -> verify -> decide -> relay + journal."""
    settings = open_settings(config)
    app = GateApp(settings, pin_factory=mock_pin_factory() if mock_gpio else None)
    serve(app, as_json=as_json)

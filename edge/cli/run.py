"""`gridgate run`: the gate service."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from types import FrameType

import click

from edge.app import GateApp
from edge.cli.live import print_outcome
from edge.cli.output import friendly_errors, json_option
from edge.cli.state import config_option
from edge.config_guard import LAST_GOOD_NAME, load_for_run, remember_good
from edge.notify import STALL_SECONDS, FrameWatchdog, Notifier
from edge.settings import SettingsError


def mock_pin_factory() -> object:
    """gpiozero's own mock pins, for machines without GPIO (development, CI, demo)."""
    from gpiozero.pins.mock import MockFactory

    return MockFactory()


def serve(app: GateApp, *, as_json: bool, realtime: bool = True,
          stop: threading.Event | None = None, notifier: Notifier | None = None,
          stall_seconds: float = STALL_SECONDS, config: Path | None = None) -> None:
    """Run the readers (and the panel when enabled) until they end or SIGINT/SIGTERM arrives;
    doors lock on the way out."""
    stop = stop or threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    app.checkpoint.add_listener(lambda outcome: print_outcome(outcome, as_json))
    watchdog: FrameWatchdog | None = None
    try:
        if app.settings.panel.enabled:  # same process: it sees every decision at once
            from edge.panel.errors import PanelError

            try:
                app.start_panel(config_path=config)  # admins may edit that file in the panel
            except PanelError as exc:  # residents still pass: the doors matter more
                click.echo(f"error: the panel is not served: {exc}", err=True)
                if notifier is not None:
                    notifier.status(f"panel not served: {exc}")
        app.start_readers(realtime=realtime)
        # systemd hears READY=1 with the first frames and WATCHDOG=1 only while they flow.
        watchdog = (FrameWatchdog(notifier, app.pipelines, stall_seconds=stall_seconds).start()
                    if notifier is not None and notifier.enabled else None)
        while not stop.is_set():
            if app.wait(timeout=0.2):
                break
    finally:
        if notifier is not None:
            if watchdog is not None:
                watchdog.stop()
            notifier.stopping("stopping; doors locked")
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        app.close()


def default_last_good() -> Path | None:
    """Under systemd, StateDirectory= sets $STATE_DIRECTORY: the last good copy lives there."""
    state = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    return Path(state) / LAST_GOOD_NAME if state else None


@click.command()
@config_option
@click.option("--mock-gpio", is_flag=True, help="Use gpiozero's mock pins (no relay is driven).")
@click.option("--last-good", type=click.Path(dir_okay=False, path_type=Path),
              default=default_last_good, show_default="$STATE_DIRECTORY/last-good.toml",
              help="Copy of the last configuration that started; used when the file is bad.")
@click.option("--stall-seconds", type=click.FloatRange(min=0.1), default=STALL_SECONDS,
              show_default=True,
              help="A reader without a processed frame this long stops the systemd watchdog.")
@json_option
@friendly_errors
def run(config: Path, mock_gpio: bool, last_good: Path | None, stall_seconds: float,
        as_json: bool) -> None:
    """Run the gate: cameras -> decode -> verify -> decide -> relay + journal."""
    notifier = Notifier.from_env()
    try:
        settings, fallback = load_for_run(config, last_good)
    except SettingsError as exc:
        notifier.status(f"configuration error, not started: {exc.problems[0]}")
        raise
    # Building the app drives every relay locked before anything else can fail.
    app = GateApp(settings, pin_factory=mock_pin_factory() if mock_gpio else None)
    if fallback:
        notifier.status(f"running on the last good configuration; fix {config}")
    elif last_good is not None:
        remember_good(settings, last_good, base=config.parent.resolve())
    serve(app, as_json=as_json, notifier=notifier, stall_seconds=stall_seconds, config=config)

"""`gridgate run`: the gate service."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import click

from edge.app import GateApp
from edge.cli.live import print_outcome
from edge.cli.localtime import local_datetime
from edge.cli.output import friendly_errors, json_option
from edge.cli.state import config_option
from edge.config_guard import LAST_GOOD_NAME, load_for_run, remember_good
from edge.notify import STALL_SECONDS, FrameWatchdog, Notifier
from edge.settings import SettingsError

if TYPE_CHECKING:
    from edge.display.server import DisplayServer
    from edge.panel.server import PanelServer


def mock_pin_factory() -> object:
    """gpiozero's own mock pins, for machines without GPIO (development, CI, demo)."""
    from gpiozero.pins.mock import MockFactory

    return MockFactory()


def serve_panel(app: GateApp, *, config: Path | None,
                notifier: Notifier | None = None) -> PanelServer | None:
    """Serve the guards' panel beside the gate when enabled; None when off or it cannot start
    (residents still pass: the doors matter more). Admins may edit `config` in the panel."""
    if not app.settings.panel.enabled:
        return None
    from edge.panel.errors import PanelError
    from edge.panel.server import start_panel
    from edge.panel.services import SyncStatus

    try:
        # Same process: the panel sees every decision at once.
        return start_panel(app, app.settings.panel, sync=SyncStatus.of(app.sync),
                           config_path=config)
    except PanelError as exc:
        click.echo(f"error: the panel is not served: {exc}", err=True)
        if notifier is not None:
            notifier.status(f"panel not served: {exc}")
        return None


def banner(app: GateApp, panel: PanelServer | None,
           displays: DisplayServer | None = None) -> list[str]:
    """What the gate runs with, in a few lines: gate, readers, broker, panel, screens, metrics."""
    s = app.settings
    gate = f"{s.gate.name} ({s.gate.gate_id})" if s.gate.name else s.gate.gate_id
    lines = [f"gridgate {gate} of {s.gate.compound_id}: started "
             f"{local_datetime(app.clock.now(), s.policy.zone)} ({s.policy.timezone})"]
    for r in s.readers:
        kind = ("folder of images" if Path(r.camera).is_dir() else "file" if Path(
            r.camera).is_file() else "device" if r.camera.isdigit() else "stream")
        ending = ", loops" if r.loop and kind in ("file", "folder of images") else ""
        lines.append(f"  reader {r.reader_id} ({r.direction.value}): camera {r.camera} "
                     f"({kind}{ending}), relay GPIO {r.relay_pin}")
    m = s.mqtt
    if m.enabled:
        extras = [x for x, on in (("TLS", m.tls), ("availability topic", m.availability),
                                  ("Home Assistant discovery", m.home_assistant.enabled)) if on]
        lines.append(f"  broker: {m.host}:{m.effective_port}, topics {m.prefix}/v1/"
                     f"{s.gate.compound_id}/{s.gate.gate_id}/..."
                     + (f" ({', '.join(extras)})" if extras else ""))
    else:
        lines.append("  broker: none (mqtt.enabled = false): decisions are only journaled")
    lines.append(f"  panel: {panel.url}/" if panel is not None else "  panel: off")
    for reader_id, url in (displays.urls if displays is not None else {}).items():
        lines.append(f"  gate display of {reader_id}: {url}")
    if app.metrics_port is not None:
        lines.append(f"  metrics: http://{s.metrics.host}:{app.metrics_port}/metrics")
    lines.append("  Ctrl-C or SIGTERM stops the gate; the doors lock.")
    return lines


def serve_displays(app: GateApp, *, notifier: Notifier | None = None) -> DisplayServer | None:
    """Serve the gate displays beside the gate; None when none is configured or they cannot
    start (the doors matter more)."""
    if not app.settings.display.screens:
        return None
    from edge.display.server import DisplayError, start_displays

    try:
        return start_displays(app)
    except DisplayError as exc:
        click.echo(f"error: the gate display is not served: {exc}", err=True)
        if notifier is not None:
            notifier.status(f"display not served: {exc}")
        return None


def serve(app: GateApp, *, as_json: bool, realtime: bool = True,
          stop: threading.Event | None = None, notifier: Notifier | None = None,
          stall_seconds: float = STALL_SECONDS, config: Path | None = None,
          on_panel: Callable[[PanelServer], None] | None = None) -> None:
    """Run the readers (and the panel when enabled) until they end or SIGINT/SIGTERM arrives;
    the panel stops first, then the doors lock."""
    stop = stop or threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    zone = app.settings.policy.zone
    app.add_outcome_listener(lambda outcome: print_outcome(outcome, as_json, zone))

    def ended(reader_id: str) -> None:  # JSON consumers read stdout: people's lines go to stderr
        reader = next(r for r in app.settings.readers if r.reader_id == reader_id)
        click.echo(f"reader {reader_id}: the camera {reader.camera} has ended (a file that "
                   "does not loop; readers[].loop = true replays it)", err=as_json)

    watchdog: FrameWatchdog | None = None
    panel: PanelServer | None = None
    displays: DisplayServer | None = None
    try:
        displays = serve_displays(app, notifier=notifier)
        panel = serve_panel(app, config=config, notifier=notifier)
        if panel is not None and on_panel is not None:
            on_panel(panel)
        click.echo("\n".join(banner(app, panel, displays)), err=as_json)
        app.start_readers(realtime=realtime, on_ended=ended)
        app.start_watch()  # escalation, two-person overrides, the rules' age, the clock
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
        app.stop()  # no reader decides while the panel winds down
        try:
            if displays is not None:
                displays.stop()
            if panel is not None:  # first: it reads the doors and the database
                panel.stop()
        finally:
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

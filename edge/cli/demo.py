"""`gridgate demo`: a simulated gate end to end: scenario video -> decisions -> mock relay ->
journal -> a local broker -> a platform listener, with the guards' panel served meanwhile."""

from __future__ import annotations

import contextlib
import dataclasses
import secrets
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from edge.app import GateApp
from edge.cli.output import emit_json, friendly_errors, json_option
from edge.cli.run import mock_pin_factory, serve
from edge.demo.broker import Broker, BrokerUnavailable, free_port
from edge.demo.check import compare, extra_outcomes
from edge.demo.scenario import Scenario, build_scenario, write_config
from edge.settings import Settings, load_settings
from gate.checkpoint import Outcome
from gate.model import Method

if TYPE_CHECKING:
    from edge.panel.server import PanelServer

DEMO_GUARD = "demo-admin"


class PlatformTally:
    """What the platform side of the demo received over MQTT, deduplicated by event id."""

    def __init__(self, echo: bool) -> None:
        self.echo = echo
        self.events: set[str] = set()
        self.alerts: set[str] = set()
        self._lock = threading.Lock()

    def on_message(self, topic: str, payload: bytes) -> None:
        """Count one message; print alerts as a grid worker's phone would show them."""
        from sync.platform import parse_json

        data = parse_json(payload)
        if not isinstance(data, dict) or "event_id" not in data:
            return
        with self._lock:
            kind = self.alerts if data.get("type") == "alert" else self.events
            new = data["event_id"] not in kind
            kind.add(data["event_id"])
        if new and self.echo and data.get("type") == "alert":
            body = data.get("data") or {}
            click.echo(click.style(f"         platform <- {topic.split('/', 3)[-1]}: "
                                   f"{body.get('message_en', body.get('kind', ''))}", fg="yellow"))


@contextlib.contextmanager
def local_broker(directory: Path, enabled: bool) -> Iterator[Broker | None]:
    """A Mosquitto on a free loopback port for the demo, or None when unwanted or missing."""
    if not enabled:
        yield None
        return
    broker = Broker(directory)
    try:
        broker.start()
    except BrokerUnavailable as exc:
        click.echo(f"no local broker ({exc}); running without MQTT", err=True)
        yield None
        return
    try:
        yield broker
    finally:
        broker.stop()


def _sections(broker: Broker | None, panel_port: int | None) -> dict[str, Any]:
    sections: dict[str, Any] = {}
    if broker is not None:
        sections["mqtt"] = {"enabled": True, "host": broker.host, "port": broker.port,
                            "protocol": "5"}
    if panel_port is not None:
        sections["panel"] = {"enabled": True, "host": "127.0.0.1", "port": panel_port}
        # A gate screen for each reader, as the residents would see it (docs/display.md).
        sections["display"] = {"voice": ["zh", "en"], "screens": [
            {"reader_id": reader, "port": free_port()} for reader in ("out-cam", "in-cam")]}
    return sections


def _panel_port(wanted: int) -> int:
    """`wanted` when it is free on loopback, else any free port (8080 is often taken)."""
    if wanted:
        with contextlib.suppress(OSError), socket.socket() as probe:
            probe.bind(("127.0.0.1", wanted))
            return wanted
    return free_port()


def _demo_admin(settings: Settings) -> str:
    """A fresh admin password for this demo run (no default password, even in a demo)."""
    from edge.panel.db import PanelDatabase
    from edge.panel.users import Role, UserStore
    from gate.store import database_path

    store = UserStore(PanelDatabase(database_path(settings.storage.state_dir)))
    password = secrets.token_urlsafe(12)
    if store.get(DEMO_GUARD) is None:
        store.add(DEMO_GUARD, Role.ADMIN, password)
    else:
        store.set_password(DEMO_GUARD, password)
    return password


@contextlib.contextmanager
def platform_listener(settings: Settings, tally: PlatformTally) -> Iterator[None]:
    """Subscribe as the platform would (shared subscription) before the gate starts."""
    if not settings.mqtt.enabled:
        yield
        return
    from sync.platform import Listener
    from sync.topics import compound_filters

    options = settings.mqtt.broker_options(compound_id=settings.gate.compound_id,
                                           gate_id="demo-platform")
    options = dataclasses.replace(options, client_id="gridgate-demo-platform")
    filters = compound_filters(settings.mqtt.prefix, settings.gate.compound_id)
    with Listener(options, shared=filters, plain=[], group="demo", on_message=tally.on_message):
        yield


def _reset_journal(directory: Path) -> Path:
    db = directory / "state" / "gridgate.db"
    for suffix in ("", "-wal", "-shm"):  # each demo run starts with an empty journal
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    return db


@click.command()
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path),
              default=Path("var/demo"), show_default=True,
              help="Where the scenario (keys, videos, config, journal) is written.")
@click.option("--width", type=click.IntRange(320, 1920), default=640, show_default=True)
@click.option("--height", type=click.IntRange(240, 1080), default=480, show_default=True)
@click.option("--fast", is_flag=True, help="Process frames as fast as possible, not in real time.")
@click.option("--broker/--no-broker", default=True, show_default=True,
              help="Start a local Mosquitto and publish events and alerts to it.")
@click.option("--panel-port", type=click.IntRange(0, 65535), default=8080, show_default=True,
              help="Serve the guards' panel on 127.0.0.1 at this port (0: a free port).")
@click.option("--no-panel", is_flag=True, help="Do not serve the panel.")
@click.option("--stay", is_flag=True,
              help="Loop the videos and keep gate, broker and panel running until Ctrl-C.")
@json_option
@friendly_errors
def demo(directory: Path, width: int, height: int, fast: bool, broker: bool, panel_port: int,
         no_panel: bool, stay: bool, as_json: bool) -> None:
    """Build a scenario (residents showing pass cards of every colour, a forged and an expired
    pass), run the gate on it with mock GPIO, a local broker and the panel; print each decision,
    the alerts the platform receives, and a summary."""
    directory = directory.resolve()
    click.echo(f"building the scenario in {directory} ...", err=True)
    scenario = build_scenario(directory, width=width, height=height)
    db = _reset_journal(directory)
    with local_broker(directory / "broker", broker) as mosquitto:
        port = None if no_panel else _panel_port(panel_port)
        write_config(scenario, loop=stay, sections=_sections(mosquitto, port))
        settings = load_settings(scenario.config_path)
        tally = PlatformTally(echo=not as_json)
        with platform_listener(settings, tally):
            outcomes = _play(scenario, settings, fast=fast and not stay, as_json=as_json)
        _summary(scenario, outcomes, tally, settings, db, as_json, judge=not stay)


def _play(scenario: Scenario, settings: Settings, *, fast: bool, as_json: bool) -> list[Outcome]:
    # A demo runs on any computer, synchronised or not: its clock is not what it shows.
    app = GateApp(settings, pin_factory=mock_pin_factory(), time_synchronised=lambda: None)
    outcomes: list[Outcome] = []

    def decided(outcome: Outcome) -> None:
        # Judged against the scenario: a guard trying the panel's "open once" is no decision.
        if outcome.observation.method is not Method.OVERRIDE:
            outcomes.append(outcome)

    app.add_outcome_listener(decided)
    password = _demo_admin(settings) if settings.panel.enabled else ""

    def announce(panel: PanelServer) -> None:
        click.echo(f"guard panel: {panel.url}  (user {DEMO_GUARD}, password {password})",
                   err=True)

    for screen in settings.display.screens:
        click.echo(f"gate display of {screen.reader_id}: http://{screen.host}:{screen.port}/",
                   err=True)
    if settings.mqtt.enabled:
        click.echo(f"broker: mqtt://{settings.mqtt.host}:{settings.mqtt.effective_port} "
                   f"(try `gridgate platform listen -c {scenario.config_path}`)", err=True)
    serve(app, as_json=as_json, realtime=not fast, stop=threading.Event(),
          config=scenario.config_path, on_panel=announce)
    return outcomes


def _summary(scenario: Scenario, outcomes: list[Outcome], tally: PlatformTally,
             settings: Settings, db: Path, as_json: bool, judge: bool) -> None:
    verdicts = compare(scenario.appearances, outcomes)
    extra = extra_outcomes(scenario.appearances, outcomes)
    passed = sum(v.ok for v in verdicts)
    received = {"events": len(tally.events), "alerts": len(tally.alerts)}
    if as_json:
        emit_json({"expected": len(verdicts), "as_expected": passed, "extra_decisions": extra,
                   **({"platform_received": received} if settings.mqtt.enabled else {})})
    else:
        click.echo("")
        for v in verdicts:
            got = (f"{'granted' if v.outcome.decision.granted else 'denied'} "
                   f"{v.outcome.decision.rule}" if v.outcome else "no decision")
            mark = click.style("ok  ", fg="green") if v.ok else click.style("FAIL", fg="red")
            click.echo(f"{mark} {v.appearance.actor.label:<40} {got}")
        if settings.mqtt.enabled:
            click.echo(f"\nthe platform received {received['events']} events and "
                       f"{received['alerts']} alerts over MQTT")
        click.echo(f"\n{passed}/{len(verdicts)} as expected, {extra} extra decisions; "
                   f"journal: {db}; try `gridgate trajectory p-101 -c {scenario.config_path}`")
    # With --stay the videos looped: later rounds meet quotas and anti-passback, as they should.
    if judge and (passed != len(verdicts) or extra):
        raise SystemExit(1)

"""`gridgate platform ...`: do what the grid platform does, for installers and tests.

`publish` signs and pushes a roster, permits, revocations, trust list or policy document, or a
remote door command; `listen` watches a compound's events and alerts through an MQTT 5 shared
subscription, dropping duplicates by event id and reporting sequence gaps.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click

from edge.cli.localtime import local_datetime
from edge.cli.output import emit_json, friendly_errors, json_option
from edge.settings import load_settings
from gate.passes import load_signing_key
from gate.vocabulary import EventType
from sync.commands import Action
from sync.connection import BrokerOptions
from sync.consumer import Deduper
from sync.messages import EventMessage
from sync.platform import Listener, parse_json, publish, signed_command, signed_document
from sync.topics import VERSION, DocumentKind, Topics, compound_filters

_DEFAULT_CONFIG = os.environ.get("GRIDGATE_CONFIG")


def broker_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """The broker and compound options shared by every platform command."""
    options = [
        click.option("--config", "-c", type=click.Path(dir_okay=False, path_type=Path),
                     default=_DEFAULT_CONFIG,
                     help="Take broker, prefix and compound from a gate's configuration "
                     "($GRIDGATE_CONFIG); the options below override it."),
        click.option("--host", help="Broker host."),
        click.option("--port", type=click.IntRange(1, 65535), help="Broker port."),
        click.option("--prefix", help="Topic prefix (default 'gridgate')."),
        click.option("--compound", help="Compound id."),
        click.option("--tls/--no-tls", default=None, help="Connect with TLS."),
        click.option("--ca-file", type=click.Path(dir_okay=False, path_type=Path),
                     help="CA certificate of the broker."),
        click.option("--username", help="Broker user name."),
        click.option("--password-file", type=click.Path(dir_okay=False, path_type=Path),
                     help="File holding the broker password."),
        click.option("--protocol", type=click.Choice(["5", "3.1.1"]), default="5",
                     show_default=True, help="MQTT version."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _resolve(kw: dict[str, Any], client_id: str) -> tuple[BrokerOptions, str, str]:
    """Broker options, prefix and compound from --config and the explicit options."""
    base: dict[str, Any] = {"host": None, "port": None, "prefix": "gridgate", "compound": None,
                            "tls": False, "ca_file": None, "username": None,
                            "password_file": None}
    config = kw.pop("config")
    if config:
        settings = load_settings(config)
        m = settings.mqtt.with_base(Path(config).resolve().parent)
        base |= {"host": m.host or None, "port": m.effective_port, "prefix": m.prefix,
                 "compound": settings.gate.compound_id, "tls": m.tls, "ca_file": m.ca_file,
                 "username": m.username, "password_file": m.password_file}
    for key, value in kw.items():
        if value is not None and key in base:
            base[key] = value
    if not base["host"] or not base["compound"]:
        raise click.UsageError("give --host and --compound (or --config with an mqtt section)")
    port = base["port"] or (8883 if base["tls"] else 1883)
    options = BrokerOptions(
        host=base["host"], port=port, client_id=client_id, protocol=kw["protocol"],
        tls=bool(base["tls"]), ca_file=base["ca_file"], username=base["username"],
        password_file=base["password_file"], persistent=False)
    return options, base["prefix"], base["compound"]


def _client_id(role: str) -> str:
    return f"gridgate-platform-{role}-{os.getpid()}-{int(time.time() * 1000) % 100000}"


@click.group()
def platform() -> None:
    """Act as the grid platform: push signed data and commands, watch events and alerts."""


@platform.group("publish")
def publish_group() -> None:
    """Sign and publish a document (snapshot or delta) or a door command."""


def _document_command(kind: DocumentKind) -> click.Command:
    @click.command(kind.value, help=f"Publish a signed {kind.value} document. FILE holds the "
                   "document body as JSON (see docs/mqtt.md); '-' reads standard input.")
    @click.argument("file", type=click.File("r", encoding="utf-8"))
    @click.option("--key", type=click.Path(dir_okay=False, path_type=Path), required=True,
                  help="The platform's signing.key.")
    @click.option("--version", "version", type=click.IntRange(1), required=True,
                  help="Version of the data after this document.")
    @click.option("--base", type=click.IntRange(0), default=None,
                  help="Publish a delta from this version (omit for a full snapshot).")
    @click.option("--gate", help="Send to one gate only (its docs topic), e.g. to answer a "
                  "snapshot request.")
    @click.option("--retain/--no-retain", default=None,
                  help="Retain on the broker (default: snapshots yes, deltas no).")
    @broker_options
    @json_option
    @friendly_errors
    def command(file: Any, key: Path, version: int, base: int | None, gate: str | None,
                retain: bool | None, as_json: bool, **kw: Any) -> None:
        options, prefix, compound = _resolve(kw, _client_id("publish"))
        try:
            body = json.load(file)
        except ValueError as exc:
            raise click.UsageError(f"{file.name} is not JSON: {exc}") from None
        if not isinstance(body, dict):
            raise click.UsageError(f"{file.name} must hold a JSON object")
        payload = signed_document(kind, body, version=version, compound_id=compound,
                                  key=load_signing_key(key), now=datetime.now(UTC),
                                  base_version=base)
        topics = Topics(prefix, compound, gate or "platform")
        topic = topics.gate_documents(kind) if gate else topics.documents(kind)
        keep = base is None if retain is None else retain
        publish(options, [(topic, payload, keep)])
        result = {"topic": topic, "document": kind.value, "version": version, "base": base,
                  "bytes": len(payload), "retained": keep}
        if as_json:
            emit_json(result)
        else:
            click.echo(f"published {kind.value} version {version} to {topic} "
                       f"({len(payload)} bytes)")

    return command


for _kind in DocumentKind:
    publish_group.add_command(_document_command(_kind))


@publish_group.command("command")
@click.argument("action", type=click.Choice([a.value for a in Action]))
@click.option("--gate", required=True, help="The gate to command.")
@click.option("--reader", help="Reader whose door opens (for 'open').")
@click.option("--seconds", type=click.FloatRange(1, 86400), help="How long (for 'hold_open').")
@click.option("--reason", default="", help="Why; recorded in the gate's journal.")
@click.option("--issuer", default="platform", show_default=True, help="Who commands.")
@click.option("--ttl", type=click.IntRange(5, 3600), default=60, show_default=True,
              help="Seconds the command stays valid.")
@click.option("--key", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The platform's signing.key.")
@broker_options
@json_option
@friendly_errors
def publish_command(action: str, gate: str, reader: str | None, seconds: float | None,
                    reason: str, issuer: str, ttl: int, key: Path, as_json: bool,
                    **kw: Any) -> None:
    """Publish a signed door command: open, lockdown, hold_open or normal."""
    options, prefix, compound = _resolve(kw, _client_id("command"))
    command, payload = signed_command(
        Action(action), compound_id=compound, gate_id=gate, key=load_signing_key(key),
        now=datetime.now(UTC), ttl_s=ttl, reader_id=reader, seconds=seconds, reason=reason,
        issuer=issuer)
    topic = Topics(prefix, compound, gate).commands
    publish(options, [(topic, payload, False)])
    if as_json:
        emit_json({"topic": topic, "command_id": command.command_id, "action": action,
                   "expires_at": command.expires_at})
    else:
        click.echo(f"sent {action} to {gate} (command {command.command_id})")


def _line(topic: str, message: EventMessage, zone: ZoneInfo | None = None) -> str:
    d = message.data
    what = {EventType.PASSAGE: lambda: f"{d.get('direction')} {d.get('person_id') or '-'} "
            f"{'granted' if d.get('granted') else 'DENIED'} {d.get('rule')}",
            EventType.ALERT: lambda: f"{'ESCALATED ' if d.get('escalated') else ''}"
            f"[{d.get('severity')}] {d.get('message_en')}",
            EventType.DOOR: lambda: f"{d.get('door')} {d.get('kind')} {d.get('detail')}",
            EventType.ALERT_ACK: lambda: f"{d.get('kind')} alert {d.get('alert_event_id')} "
            f"acknowledged by {d.get('acknowledged_by')}: {d.get('comment')}",
            EventType.ALERT_UPDATE: lambda: f"{d.get('kind')} alert {d.get('alert_event_id')} "
            f"x{d.get('count')} (last {d.get('last_at')})",
            EventType.AUDIT: lambda: f"{d.get('kind')} {d.get('actor')} from "
            f"{d.get('address') or '-'} {d.get('target') or ''} {d.get('detail')}",
            }.get(message.type, lambda: json.dumps(d, ensure_ascii=False))()
    return f"{local_datetime(message.at, zone)} {message.gate_id} #{message.seq} " \
           f"{message.type}: {what}"


@platform.command()
@click.option("--grid", help="Only the alerts of this grid (what its grid workers see).")
@click.option("--group", default="gridgate-platform", show_default=True,
              help="Shared subscription group: listeners in one group split the messages.")
@click.option("--count", type=click.IntRange(1), help="Exit after this many new events.")
@click.option("--timeout", type=click.FloatRange(0.1), help="Exit after this many seconds.")
@click.option("--all", "show_all", is_flag=True, help="Also print duplicates.")
@click.option("--state/--no-state", default=True, help="Also show the gates' state messages.")
@broker_options
@json_option
@friendly_errors
def listen(grid: str | None, group: str, count: int | None, timeout: float | None,
           show_all: bool, state: bool, as_json: bool, **kw: Any) -> None:
    """Watch a compound's events and alerts (MQTT 5 shared subscription), one line each:
    times in the compound's zone (policy.timezone with --config, else UTC); JSON keeps UTC."""
    zone = load_settings(kw["config"]).policy.zone if kw.get("config") else None
    options, prefix, compound = _resolve(kw, _client_id("listen"))
    if options.protocol != "5":
        raise click.UsageError("listen uses shared subscriptions, which need MQTT 5")
    deduper = Deduper()
    done = threading.Event()
    seen = 0
    lock = threading.Lock()

    def on_message(topic: str, payload: bytes) -> None:
        nonlocal seen
        data = parse_json(payload)
        if topic.endswith("/state"):
            if state:
                _emit({"topic": topic, "state": data}, as_json, f"state {topic}: {data}")
            return
        try:
            message = EventMessage.received(data)
        except Exception:
            _emit({"topic": topic, "error": "not an event message"}, as_json,
                  f"{topic}: not an event message ({len(payload)} bytes)")
            return
        with lock:
            accepted = deduper.accept(message)
            if accepted.duplicate and not show_all:
                return
            if accepted.new:
                seen += 1
            if count is not None and seen >= count:
                done.set()
        record = {"topic": topic, "duplicate": accepted.duplicate,
                  "missing": [list(r) for r in accepted.missing],
                  "message": message.model_dump(mode="json")}
        _emit(record, as_json, _line(topic, message, zone) + (" (duplicate)"
                                                          if accepted.duplicate else ""))

    shared = compound_filters(prefix, compound, grid)
    plain = [f"{prefix}/{VERSION}/{compound}/+/state"] if state and grid is None else []
    previous = _on_sigterm(done.set)
    deadline = None if timeout is None else time.monotonic() + timeout
    # --timeout bounds the whole command, connecting included (a broker that is away).
    connect_s = 10.0 if timeout is None else max(0.1, min(10.0, timeout))
    options = replace(options, connect_timeout_s=min(options.connect_timeout_s, connect_s))
    click.echo(f"connecting to {options.host}:{options.port} (up to {connect_s:g} s)...",
               err=True)
    try:
        with Listener(options, shared=shared, plain=plain, group=group, on_message=on_message,
                      timeout=connect_s):
            if not as_json:
                click.echo(f"listening to {compound} on {options.host}:{options.port} "
                           f"(group {group}); Ctrl-C to stop", err=True)
            with contextlib.suppress(KeyboardInterrupt):
                done.wait(None if deadline is None else max(0.0, deadline - time.monotonic()))
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    if count is not None and seen < count:
        raise SystemExit(1)


def _on_sigterm(action: Callable[[], None]) -> Any:
    """Stop cleanly on SIGTERM (systemd); only the main thread may set handlers."""
    try:
        return signal.signal(signal.SIGTERM, lambda *_: action())
    except ValueError:
        return None


def _emit(record: dict[str, Any], as_json: bool, text: str) -> None:
    if as_json:
        emit_json(record)
    else:
        click.echo(text)


"""`gridgate homeassistant ...`: see the discovery configs, remove them from the broker."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import click

from edge.cli.output import emit_json, friendly_errors, json_option
from edge.cli.state import config_option, open_settings


@click.group()
def homeassistant() -> None:
    """Home Assistant MQTT discovery of this gate (mqtt.home_assistant)."""


@homeassistant.command()
@config_option
@json_option
@friendly_errors
def show(config: Path, as_json: bool) -> None:
    """Print the discovery configs this gate publishes, by topic."""
    from edge.homeassistant import configured_doors, describe, topics_of
    from sync.discovery import discovery_configs

    settings = open_settings(config)
    configs = discovery_configs(describe(settings, configured_doors(settings)),
                                topics_of(settings), settings.mqtt.home_assistant.discovery_prefix)
    if as_json:
        emit_json(configs)
        return
    for topic, body in configs.items():
        click.echo(f"{topic}\n  {json.dumps(body, ensure_ascii=False)}")


@homeassistant.command()
@config_option
@click.option("--timeout", type=click.FloatRange(1, 120), default=10.0, show_default=True,
              help="Seconds to wait for the broker.")
@json_option
@friendly_errors
def remove(config: Path, timeout: float, as_json: bool) -> None:
    """Remove this gate's entities from Home Assistant: an empty retained message on every
    discovery config (and retained state) the gate announced. Stop the gate first."""
    from edge.homeassistant import marker_path, retained_topics
    from sync.discovery import clear_retained

    settings = open_settings(config)
    marker = marker_path(settings)
    if not settings.mqtt.enabled or not settings.mqtt.host:
        result = {"removed": 0, "reason": "mqtt is off in this configuration"}
    elif not settings.mqtt.home_assistant.enabled and not marker.exists():
        result = {"removed": 0, "reason": "nothing was announced (no discovery marker)"}
    else:
        m = settings.mqtt.with_base(config.resolve().parent)
        broker = replace(m.broker_options(compound_id=settings.gate.compound_id,
                                          gate_id=settings.gate.gate_id),
                         connect_timeout_s=min(timeout, 30.0))
        topics = retained_topics(settings)
        acknowledged = clear_retained(broker, topics, timeout=timeout)
        marker.unlink(missing_ok=True)
        result = {"removed": acknowledged, "topics": topics}
    if as_json:
        emit_json(result)
    elif "reason" in result:
        click.echo(f"nothing to remove: {result['reason']}")
    else:
        click.echo(f"removed {result['removed']} retained Home Assistant message(s) from "
                   f"{settings.mqtt.host}")

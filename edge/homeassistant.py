"""The gate's availability topic and Home Assistant discovery, built from the settings."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge.settings import Settings
from sync.discovery import DoorView, GateDescription, HomeAssistantOptions, ReaderView, StatusLink
from sync.discovery.entities import door_topic, gate_topic, reader_topic
from sync.topics import Topics

if TYPE_CHECKING:
    from edge.app import GateApp
    from sync.service import SyncService

MARKER_NAME = "homeassistant-discovery.json"  # the config topics announced, for removal


def marker_path(settings: Settings) -> Path:
    return settings.storage.state_dir / MARKER_NAME


def gridgate_version() -> str:
    try:
        return version("gridgate")
    except PackageNotFoundError:
        return "unknown"


def topics_of(settings: Settings) -> Topics:
    return Topics(settings.mqtt.prefix, settings.gate.compound_id, settings.gate.gate_id)


def describe(settings: Settings, doors: dict[str, tuple[str, ...]]) -> GateDescription:
    """The gate as Home Assistant shows it; `doors`: door name -> its readers."""
    contact = settings.door.door_contact_pin is not None
    first = next(iter(doors), None)  # the contact belongs to the first door (edge/app.py)
    return GateDescription(
        compound_id=settings.gate.compound_id, gate_id=settings.gate.gate_id,
        name=settings.gate.name or settings.gate.gate_id, version=gridgate_version(),
        readers=tuple(ReaderView(r.reader_id, r.direction.value) for r in settings.readers),
        doors=tuple(DoorView(name, readers, contact and name == first)
                    for name, readers in doors.items()))


def configured_doors(settings: Settings) -> dict[str, tuple[str, ...]]:
    """Door names (`relayPIN`, as gate.door.Door names them) and their readers."""
    doors: dict[str, list[str]] = {}
    for r in settings.readers:
        doors.setdefault(f"relay{r.relay_pin}", []).append(r.reader_id)
    return {name: tuple(readers) for name, readers in doors.items()}


def home_assistant_options(settings: Settings) -> HomeAssistantOptions:
    ha = settings.mqtt.home_assistant
    return HomeAssistantOptions(enabled=ha.enabled, discovery_prefix=ha.discovery_prefix,
                                stats_interval_s=ha.stats_interval_s)


def build_status_link(app: GateApp, sync: SyncService) -> StatusLink | None:
    """The status connection when availability is on, discovery is on, or discovery was on
    before and its entities must be removed; None otherwise."""
    settings = app.settings
    marker = marker_path(settings)
    options = home_assistant_options(settings)
    if not (settings.mqtt.availability or options.enabled or marker.exists()):
        return None

    def stats() -> dict[str, Any]:
        return {"outbox_waiting": sync.outbox_waiting(),
                "outbox_oldest_s": round(sync.outbox_oldest_age_s(), 1),
                "readers": {rid: {"fps": round(p.stats.fps, 2), "camera_ok": p.stats.camera_ok}
                            for rid, p in app.pipelines.items()},
                "at": app.clock.now().isoformat()}

    broker = settings.mqtt.broker_options(compound_id=settings.gate.compound_id,
                                          gate_id=settings.gate.gate_id)
    return StatusLink(broker, sync.topics, describe(settings, configured_doors(settings)),
                      home_assistant=options, marker=marker,
                      doors=app.controls.unique_doors(), stats=stats, clock=app.clock)


def retained_topics(settings: Settings) -> list[str]:
    """Everything the gate keeps retained for Home Assistant: the discovery configs (this
    configuration's and any an earlier run announced), the states, the availability."""
    from sync.discovery import discovery_configs
    from sync.discovery.link import marker_topics

    topics = topics_of(settings)
    doors = configured_doors(settings)
    configs = discovery_configs(describe(settings, doors), topics,
                                settings.mqtt.home_assistant.discovery_prefix)
    states = ([door_topic(topics, d) for d in doors]
              + [reader_topic(topics, r.reader_id) for r in settings.readers]
              + [gate_topic(topics), topics.availability])
    return sorted(set(configs) | set(marker_topics(marker_path(settings)))) + states

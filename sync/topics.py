"""Every MQTT topic of the platform link, in one place (docs/mqtt.md documents them as an API).

    PREFIX/v1/COMPOUND/GATE/events          passages, door events, command results
    PREFIX/v1/COMPOUND/GATE/alerts          alerts that belong to no grid
    PREFIX/v1/COMPOUND/grid/GRID/alerts     alerts of one grid (its grid workers subscribe here)
    PREFIX/v1/COMPOUND/GATE/requests        snapshot requests (gate -> platform)
    PREFIX/v1/COMPOUND/GATE/state           retained; online/offline (Last Will) and versions held
    PREFIX/v1/COMPOUND/docs/DOCUMENT        signed documents for every gate (platform -> gates)
    PREFIX/v1/COMPOUND/GATE/docs/DOCUMENT   signed documents for one gate (answers to requests)
    PREFIX/v1/COMPOUND/GATE/commands        signed commands for one gate
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

VERSION = "v1"
# A topic level must never carry MQTT wildcards or separators; ids from passes are free text.
_SAFE_LEVEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
RESERVED_LEVELS = frozenset({"grid", "docs"})  # they sit where a gate id would


class DocumentKind(StrEnum):
    """The platform data a gate holds as versioned documents."""

    ROSTER = "roster"
    PERMITS = "permits"
    TRUST = "trust"
    REVOCATIONS = "revocations"
    POLICY = "policy"


class InboundKind(StrEnum):
    """What an inbound topic carries."""

    DOCUMENT = "document"
    COMMAND = "command"


@dataclass(frozen=True)
class Inbound:
    """An inbound topic understood: documents name their document kind."""

    kind: InboundKind
    document: DocumentKind | None = None
    for_this_gate: bool = False


def safe_level(value: str | None) -> bool:
    """True when `value` can be used as one topic level as it is."""
    return bool(value) and _SAFE_LEVEL.match(value or "") is not None


@dataclass(frozen=True)
class Topics:
    """The topics of one gate."""

    prefix: str
    compound_id: str
    gate_id: str

    def __post_init__(self) -> None:
        for name in ("compound_id", "gate_id"):
            if not safe_level(getattr(self, name)):
                raise ValueError(f"{name} {getattr(self, name)!r} cannot be a topic level")
        if self.gate_id in RESERVED_LEVELS:
            raise ValueError(f"gate id {self.gate_id!r} is reserved in topics; rename the gate")
        if any(c in self.prefix for c in "+#") or self.prefix.startswith("/"):
            raise ValueError(f"topic prefix {self.prefix!r} must not hold wildcards")

    @property
    def compound(self) -> str:
        """PREFIX/v1/COMPOUND: the root of everything in this compound."""
        return f"{self.prefix}/{VERSION}/{self.compound_id}"

    @property
    def gate(self) -> str:
        return f"{self.compound}/{self.gate_id}"

    @property
    def events(self) -> str:
        return f"{self.gate}/events"

    @property
    def gate_alerts(self) -> str:
        return f"{self.gate}/alerts"

    def grid_alerts(self, grid_id: str) -> str:
        return f"{self.compound}/grid/{grid_id}/alerts"

    def alerts_for(self, grid_id: str | None) -> str:
        """The grid's alert topic, or the gate's when the grid id is absent or unusable."""
        return self.grid_alerts(grid_id) if grid_id and safe_level(grid_id) else self.gate_alerts

    @property
    def requests(self) -> str:
        return f"{self.gate}/requests"

    @property
    def state(self) -> str:
        return f"{self.gate}/state"

    @property
    def commands(self) -> str:
        return f"{self.gate}/commands"

    def documents(self, kind: DocumentKind) -> str:
        return f"{self.compound}/docs/{kind.value}"

    def gate_documents(self, kind: DocumentKind) -> str:
        return f"{self.gate}/docs/{kind.value}"

    def subscriptions(self) -> list[str]:
        """Topic filters the gate subscribes to (QoS 1)."""
        return [f"{self.compound}/docs/+", f"{self.gate}/docs/+", self.commands]

    def classify(self, topic: str) -> Inbound | None:
        """What an inbound topic carries; None for anything the gate does not expect."""
        if topic == self.commands:
            return Inbound(InboundKind.COMMAND, for_this_gate=True)
        for root, mine in ((f"{self.compound}/docs/", False), (f"{self.gate}/docs/", True)):
            if topic.startswith(root):
                try:
                    return Inbound(InboundKind.DOCUMENT, DocumentKind(topic[len(root):]), mine)
                except ValueError:
                    return None
        return None


def compound_filters(prefix: str, compound_id: str, grid_id: str | None = None) -> list[str]:
    """Filters a platform consumer uses: every gate's events, alerts and requests (or one grid)."""
    root = f"{prefix}/{VERSION}/{compound_id}"
    if grid_id is not None:
        return [f"{root}/grid/{grid_id}/alerts"]
    return [f"{root}/+/events", f"{root}/+/alerts", f"{root}/grid/+/alerts", f"{root}/+/requests"]

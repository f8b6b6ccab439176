"""Every MQTT topic of the platform link, in one place (docs/mqtt.md documents them as an API).

    PREFIX/v1/COMPOUND/GATE/events          passages, door events, command results
    PREFIX/v1/COMPOUND/GATE/alerts          alerts that belong to no grid
    PREFIX/v1/COMPOUND/grid/GRID/alerts     alerts of one grid (its grid workers subscribe here)
    PREFIX/v1/COMPOUND/street/alerts        escalated alerts for the street office
    PREFIX/v1/COMPOUND/GATE/requests        snapshot requests (gate -> platform)
    PREFIX/v1/COMPOUND/GATE/state           retained; online/offline (Last Will) and versions held
    PREFIX/v1/COMPOUND/GATE/availability    retained plain `online`/`offline` (its own Last Will)
    PREFIX/v1/COMPOUND/GATE/status/...      retained door, decision, counter states (sync/discovery)
    PREFIX/v1/COMPOUND/docs/DOCUMENT        signed documents for every gate (platform -> gates)
    PREFIX/v1/COMPOUND/GATE/docs/DOCUMENT   signed documents for one gate (answers to requests)
    PREFIX/v1/COMPOUND/GATE/commands        signed commands for one gate
    PREFIX/v1/COMPOUND/GATE/peers/passages  the gate's passages, signed by its gate key, for
                                            the other gates of the compound (never retained)
    PREFIX/v1/COMPOUND/GATE/peers/catchup   a gate asks its peers for the passages it misses
    PREFIX/v1/COMPOUND/GATE/peers/replay/PEER   PEER's answer to GATE's catch-up request
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

VERSION = "v1"
# A topic level must never carry MQTT wildcards or separators; ids from passes are free text.
_SAFE_LEVEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
RESERVED_LEVELS = frozenset({"grid", "docs", "street"})  # they sit where a gate id would


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


class PeerKind(StrEnum):
    """What a peer topic carries (sync/peers.py)."""

    PASSAGES = "passages"  # live passages of the gate named in the topic
    CATCHUP = "catchup"  # a catch-up request of the gate named in the topic
    REPLAY = "replay"  # a peer's answer to this gate's catch-up request
    STATE = "state"  # a gate's retained online/offline state


@dataclass(frozen=True)
class PeerInbound:
    """A peer topic understood: its kind and the gate that speaks on it (the sender)."""

    kind: PeerKind
    gate_id: str


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

    @property
    def street_alerts(self) -> str:
        """Escalated alerts of the compound for the street office (gate/escalation.py)."""
        return f"{self.compound}/street/alerts"

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

    @property
    def availability(self) -> str:
        """Plain retained `online` / `offline`, as Home Assistant and MQTT tools expect."""
        return f"{self.gate}/availability"

    @property
    def status(self) -> str:
        """Root of the live states Home Assistant reads (sync/discovery)."""
        return f"{self.gate}/status"

    def documents(self, kind: DocumentKind) -> str:
        return f"{self.compound}/docs/{kind.value}"

    def gate_documents(self, kind: DocumentKind) -> str:
        return f"{self.gate}/docs/{kind.value}"

    @property
    def peer_passages(self) -> str:
        return f"{self.gate}/peers/passages"

    @property
    def peer_catchup(self) -> str:
        return f"{self.gate}/peers/catchup"

    def peer_replay(self, requester: str) -> str:
        """Where this gate answers `requester`'s catch-up request."""
        return f"{self.compound}/{requester}/peers/replay/{self.gate_id}"

    def peer_subscriptions(self) -> list[str]:
        """Topic filters of the peer link (QoS 1): every gate's passages, catch-up requests
        and state, and the answers to this gate's requests. Kept apart from `subscriptions`,
        which a bridge carries to the platform: peer traffic stays on the compound broker."""
        return [f"{self.compound}/+/peers/passages", f"{self.compound}/+/peers/catchup",
                f"{self.gate}/peers/replay/+", f"{self.compound}/+/state"]

    def classify_peer(self, topic: str) -> PeerInbound | None:
        """What a peer topic carries and who speaks on it; None for anything else (also a
        gate id that cannot be one)."""
        root = f"{self.compound}/"
        if not topic.startswith(root):
            return None
        levels = topic[len(root):].split("/")
        gate = levels[0]
        if not safe_level(gate) or gate in RESERVED_LEVELS:
            return None
        if len(levels) == 2 and levels[1] == "state":
            return PeerInbound(PeerKind.STATE, gate)
        if len(levels) == 3 and levels[1] == "peers" and levels[2] in ("passages", "catchup"):
            return PeerInbound(PeerKind(levels[2]), gate)
        if (len(levels) == 4 and gate == self.gate_id and levels[1:3] == ["peers", "replay"]
                and safe_level(levels[3]) and levels[3] not in RESERVED_LEVELS):
            return PeerInbound(PeerKind.REPLAY, levels[3])
        return None

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

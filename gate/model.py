"""Domain vocabulary shared by every layer: colours, directions, persons, permits, decisions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from gate.vocabulary import AlertKind, Rule


class Colour(StrEnum):
    """Permit colour (三色出入证 plus white for not yet verified)."""

    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"
    WHITE = "white"


class Direction(StrEnum):
    """Which way a reader lets people through."""

    IN = "in"
    OUT = "out"


class Method(StrEnum):
    """How the person at the reader was identified."""

    PASS = "pass"
    FACE = "face"
    PASS_FACE = "pass+face"
    OVERRIDE = "override"
    BUTTON = "button"


class PersonKind(StrEnum):
    RESIDENT = "resident"
    VISITOR = "visitor"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    URGENT = "urgent"


class AntiPassback(StrEnum):
    """What a reader does when a person passes twice in the same direction."""

    OFF = "off"
    SOFT = "soft"  # let through, raise an alert
    HARD = "hard"  # deny


@dataclass(frozen=True)
class Person:
    """A registered person; visitors carry the household that hosts them."""

    person_id: str
    household_id: str
    grid_id: str | None = None
    name: str | None = None
    kind: PersonKind = PersonKind.RESIDENT
    host_household_id: str | None = None


@dataclass(frozen=True)
class Permit:
    """What a person may do: a colour with a validity window, as issued by the platform."""

    person_id: str
    colour: Colour
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    observation_until: datetime | None = None
    reason: str = ""
    issuer: str = ""
    source: str = "registry"  # "registry" (pushed by the platform) or "pass" (claims of a pass)


@dataclass(frozen=True)
class Reader:
    """One camera watching one direction of one gate."""

    reader_id: str
    gate_id: str
    direction: Direction
    anti_passback: AntiPassback = AntiPassback.SOFT


@dataclass(frozen=True)
class AlertSpec:
    """An alert a decision or a door event asks to raise; the journal gives it an id and time."""

    kind: AlertKind
    severity: Severity
    message_zh: str
    message_en: str


@dataclass(frozen=True)
class Decision:
    """The outcome for one person at one reader: granted or not, which rule, why."""

    granted: bool
    rule: Rule
    reason_zh: str
    reason_en: str
    alerts: tuple[AlertSpec, ...] = field(default=())
    person_id: str | None = None
    colour: Colour | None = None


@dataclass(frozen=True)
class PassageRef:
    """A past granted passage, as much of it as the decision needs."""

    person_id: str
    household_id: str | None
    direction: Direction
    at: datetime
    reader_id: str
    colour: Colour | None = None


@dataclass(frozen=True)
class History:
    """The part of the journal a decision may look at, fetched before deciding."""

    last_passage: PassageRef | None = None
    household_exits: tuple[PassageRef, ...] = ()
    recent_exits: tuple[PassageRef, ...] = ()
    # Seconds since this gate last heard all the other gates of its compound; None for a gate
    # that shares no history (no compound link): it decides alone, as it always would.
    compound_age_s: float | None = None

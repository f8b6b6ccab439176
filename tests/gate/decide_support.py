"""Makers for decision tests: observations, persons, permits and history at chosen times."""

from __future__ import annotations

from datetime import UTC, datetime

from gate.model import (
    AntiPassback,
    Colour,
    Direction,
    History,
    Method,
    PassageRef,
    Permit,
    Person,
    PersonKind,
    Reader,
)
from gate.observation import Observation
from gate.passes.claims import PassCheck, PassReason
from tests.gate.passes_support import claims

# 10:00 in Shanghai
NOON_ISH = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
ALICE = Person("p-1", "h-1", grid_id="grid-7")
ALICE_SISTER = Person("p-2", "h-1", grid_id="grid-7")
NEIGHBOUR = Person("p-3", "h-2", grid_id="grid-7")


def reader(direction: Direction, anti_passback: AntiPassback = AntiPassback.SOFT) -> Reader:
    return Reader(f"{direction.value}-cam", "gate-east", direction, anti_passback)


def permit(colour: Colour, person: Person = ALICE, **changes: object) -> Permit:
    return Permit(person.person_id, colour, **changes)  # type: ignore[arg-type]


def valid_pass(person: Person = ALICE) -> PassCheck:
    return PassCheck(True, PassReason.OK, "valid",
                     claims(person_id=person.person_id, household_id=person.household_id), "k")


def seen(direction: Direction = Direction.OUT, *, at: datetime = NOON_ISH,
         method: Method = Method.PASS, pass_check: PassCheck | None = None,
         anti_passback: AntiPassback = AntiPassback.SOFT, **face: object) -> Observation:
    if method is Method.PASS and pass_check is None:
        pass_check = valid_pass()
    return Observation(reader=reader(direction, anti_passback), method=method, seen_at=at,
                       pass_check=pass_check, **face)  # type: ignore[arg-type]


def exit_of(person: Person, at: datetime, colour: Colour = Colour.YELLOW) -> PassageRef:
    return PassageRef(person.person_id, person.household_id, Direction.OUT, at, "out-cam", colour)


def entry_of(person: Person, at: datetime, colour: Colour = Colour.GREEN) -> PassageRef:
    return PassageRef(person.person_id, person.household_id, Direction.IN, at, "in-cam", colour)


NO_HISTORY = History()
VISITOR = Person("v-1", "h-1", kind=PersonKind.VISITOR, host_household_id="h-1")

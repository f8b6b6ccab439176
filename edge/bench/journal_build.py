"""A realistic journal for `gridgate bench journal`, written through the journal itself.

One compound of `persons` residents in households of one to four, in 20 grids, with permits:
three in four green, one in six yellow (their household's exits limited, some refused over the
quota), one in twenty red (home observation: rarely at the gate, exits refused and alerted), a
few white (denied). Over `years` they pass `passages` times at `gates` gates, by pass, face or
both, each going out and coming back in turn; some faces are nobody's, some passes expired or
forged, a guard opens the door now and then. This gate (the first) records its own passages with
`Journal.record_passage`, the relay's door events with `record_door_event`, its alerts with the
decisions; the other gates' passages arrive through `record_peer_passage`: every row is the row
the gate writes, in large transactions (`Journal.batch`) only to build it in minutes.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import accumulate
from zoneinfo import ZoneInfo

from gate.clock import ManualClock
from gate.journal import Journal
from gate.journal.rows import passage_row
from gate.model import (
    AlertSpec,
    Colour,
    Decision,
    Direction,
    Method,
    Person,
    Reader,
    Severity,
)
from gate.observation import Observation
from gate.passes.claims import PassCheck, PassClaims, PassReason
from gate.policy import YellowRules
from gate.quota import period_bounds
from gate.reasons import OBSERVATION_OVER, alert, reason
from gate.vocabulary import AlertKind, DoorEventKind, Rule

ZONE = ZoneInfo("Asia/Shanghai")
YELLOW = YellowRules()  # calendar periods of two days: "next exit from" a period's start
GRIDS = 20
PASS_DAYS = 90  # a resident's pass is issued again every three months
GUARDS = ("guard-li", "guard-wang", "guard-zhao")
OVERRIDE_REASONS = ("送货", "救护车", "忘带通行证", "维修工人")


@dataclass
class Resident:
    """One person of the compound and where they are."""

    person: Person
    colour: Colour
    out: bool = False
    passes: dict[int, PassCheck] = field(default_factory=dict)  # by pass period


@dataclass
class Built:
    """What the build wrote."""

    passages: int = 0
    own: int = 0
    peer: int = 0
    denied: int = 0
    door_events: int = 0
    alerts: int = 0


def residents(count: int, rng: random.Random) -> list[Resident]:
    """`count` persons in households of 1-4, with permit colours."""
    out: list[Resident] = []
    household = 0
    while len(out) < count:
        household += 1
        for _ in range(rng.choice((1, 2, 2, 3, 3, 3, 4, 4))):
            n = len(out)
            if n == count:
                break
            colour = rng.choices((Colour.GREEN, Colour.YELLOW, Colour.RED, Colour.WHITE),
                                 (75, 17, 5, 3))[0]
            out.append(Resident(Person(f"p-{n:05d}", f"h-{household:05d}",
                                       f"grid-{household % GRIDS:02d}"), colour))
    return out


class Compound:
    """Generates the compound's passages in time order and records them."""

    def __init__(self, journal: Journal, clock: ManualClock, *, persons: int, gates: int,
                 start: datetime, end: datetime, seed: int) -> None:
        self.journal, self.clock = journal, clock
        self.rng = random.Random(seed)
        self.people = residents(persons, self.rng)
        # Red residents stay home: they come to the gate a tenth as often.
        self.weights = list(accumulate(0.1 if r.colour is Colour.RED else 1.0
                                       for r in self.people))
        self.gates = [f"gate-{g + 1}" for g in range(gates)]
        self.own = self.gates[0]
        self.start, self.end = start, end
        self.peer_seq = dict.fromkeys(self.gates, 0)
        self.built = Built()

    def reader(self, gate: str, direction: Direction) -> Reader:
        return Reader(f"{direction.value}-cam", gate, direction)

    def pass_check(self, r: Resident, at: datetime, *, valid: bool = True) -> PassCheck:
        period = int((at - self.start) / timedelta(days=PASS_DAYS))
        check = r.passes.get(period)
        if check is None:
            issued = self.start + timedelta(days=PASS_DAYS * period)
            claims = PassClaims(f"pass-{r.person.person_id}-{period}", r.person.person_id,
                                r.person.household_id, "bench", r.colour, issued, issued,
                                issued + timedelta(days=PASS_DAYS + 7),
                                grid_id=r.person.grid_id)
            check = r.passes[period] = PassCheck(True, PassReason.OK, "", claims, "platform-1")
        if not valid:
            return PassCheck(False, PassReason.EXPIRED, "expired", check.claims, "platform-1")
        return check

    def run(self, passages: int, *, chunk: int = 20_000,
            progress: Callable[[int], None] | None = None) -> Built:
        """Record `passages` passages from start to end, in transactions of `chunk`."""
        span = (self.end - self.start) / passages
        for first in range(0, passages, chunk):
            with self.journal.batch():
                for n in range(first, min(first + chunk, passages)):
                    self.one(self.start + span * (n + self.rng.random()))
            if progress is not None:
                progress(min(first + chunk, passages))
        return self.built

    def one(self, when: datetime) -> None:
        """One passage at a daytime hour of its day."""
        local = when.astimezone(ZONE)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        at = midnight + timedelta(hours=6) + (local - midnight) * (16 / 24)  # 06:00-22:00
        rng = self.rng
        gate = rng.choice(self.gates)
        roll = rng.random()
        if roll < 0.01:  # a face nobody enrolled
            self.record(gate, at, Direction(rng.choice(("in", "out"))), None, Method.FACE,
                        Decision(False, Rule.FACE_UNKNOWN, *reason(Rule.FACE_UNKNOWN)),
                        snapshot=f"snapshots/{at.date()}/{uuid.uuid4().hex}.jpg")
            return
        r = rng.choices(self.people, cum_weights=self.weights)[0]
        direction = Direction.IN if r.out else Direction.OUT
        method = rng.choices((Method.PASS, Method.FACE, Method.PASS_FACE), (45, 35, 20))[0]
        if roll < 0.011:
            self.override(gate, at, direction, r)
        elif roll < 0.016 and method is not Method.FACE:  # an expired pass
            self.record(gate, at, direction, r, method,
                        Decision(False, Rule.PASS_EXPIRED, *reason(Rule.PASS_EXPIRED)),
                        check=self.pass_check(r, at, valid=False))
        elif roll < 0.017:  # a forged pass: nobody's
            check = PassCheck(False, PassReason.BAD_SIGNATURE, "bad signature")
            self.record(gate, at, direction, None, Method.PASS, Decision(
                False, Rule.PASS_BAD_SIGNATURE, *reason(Rule.PASS_BAD_SIGNATURE),
                (alert(AlertKind.FORGED_PASS, None),)), check=check)
        else:
            self.record(gate, at, direction, r, method, self.decide(r, direction, at))

    def decide(self, r: Resident, direction: Direction, at: datetime) -> Decision:
        """What gate.decide says for this colour and direction (texts from gate.reasons)."""
        pid, colour, entering = r.person.person_id, r.colour, direction is Direction.IN
        alerts: tuple[AlertSpec, ...] = ()
        if colour is Colour.GREEN:
            rule, granted, extra = (Rule.GREEN_IN if entering else Rule.GREEN_OUT), True, None
        elif colour is Colour.WHITE:
            rule, granted, extra = Rule.WHITE_UNVERIFIED, False, None
        elif colour is Colour.RED:
            over = OBSERVATION_OVER if self.rng.random() < 0.3 else None
            rule, granted, extra = (Rule.RED_IN, True, over) if entering else (
                Rule.RED_EXIT_DENIED, False, over)
            alerts = (alert(AlertKind.RED_ENTRY if entering else AlertKind.RED_EXIT_ATTEMPT,
                            pid),)
        elif entering:
            rule, granted, extra = Rule.YELLOW_IN, True, None
        elif self.rng.random() < 0.15:  # the household went out already this period
            when = period_bounds(YELLOW, at, ZONE)[1].astimezone(ZONE).strftime("%Y-%m-%d %H:%M")
            rule, granted, extra = (Rule.YELLOW_HOUSEHOLD_QUOTA, False,
                                    (f"下次可外出：{when}", f"next exit from {when}"))
        else:
            rule, granted, extra = Rule.YELLOW_EXIT, True, None
        return Decision(granted, rule, *reason(rule, extra), alerts, pid, colour)

    def override(self, gate: str, at: datetime, direction: Direction, r: Resident) -> None:
        actor, why = self.rng.choice(GUARDS), self.rng.choice(OVERRIDE_REASONS)
        decision = Decision(True, Rule.OVERRIDE_OPEN_ONCE, f"人工放行（{actor}）：{why}",
                            f"opened by {actor}: {why}", (AlertSpec(
                                AlertKind.OVERRIDE, Severity.INFO, f"{actor} 人工放行：{why}",
                                f"{actor} opened the door once: {why}"),))
        self.record(gate, at, direction, None, Method.OVERRIDE, decision, actor=actor,
                    snapshot=f"snapshots/{at.date()}/{uuid.uuid4().hex}.jpg")
        r.out = direction is Direction.OUT  # the guard let them through

    def record(self, gate: str, at: datetime, direction: Direction, r: Resident | None,
               method: Method, decision: Decision, *, check: PassCheck | None = None,
               actor: str | None = None, snapshot: str | None = None) -> None:
        person = r.person if r is not None else None
        if r is not None and check is None and method is not Method.FACE:
            check = self.pass_check(r, at)
        face = method in (Method.FACE, Method.PASS_FACE)
        observation = Observation(
            self.reader(gate, direction), method, at, pass_check=check, face_checked=face,
            face_person_id=person.person_id if face and person else None,
            face_distance=round(self.rng.uniform(0.25, 0.55), 6) if face else None,
            faces_in_view=1 if face else 0, snapshot=snapshot)
        built = self.built
        built.passages += 1
        built.denied += not decision.granted
        built.alerts += len(decision.alerts)
        if decision.granted and r is not None:
            r.out = direction is Direction.OUT
        if gate == self.own:
            built.own += 1
            self.clock.set(at)
            self.journal.record_passage(observation, decision, person, actor=actor)
            if decision.granted:
                self.door(at, decision.rule)
            return
        built.peer += 1
        row = passage_row(observation, decision, person, gate_id=gate,
                          event_id=uuid.uuid4().hex, actor=actor)
        row["order_at"] = row["at"]
        self.peer_seq[gate] += 1
        self.clock.set(at + timedelta(seconds=self.rng.uniform(0.05, 2.0)))
        self.journal.record_peer_passage(row, seq=self.peer_seq[gate])

    def door(self, at: datetime, rule: str) -> None:
        """The relay's release and the door contact, as gate/door.py reports them."""
        for seconds, kind, detail in ((0.01, DoorEventKind.RELEASED, f"{rule} (3 s)"),
                                      (1.2, DoorEventKind.OPENED, ""),
                                      (2.8, DoorEventKind.CLOSED, ""),
                                      (3.01, DoorEventKind.LOCKED, "relock after release")):
            self.clock.set(at + timedelta(seconds=seconds))
            self.journal.record_door_event("relay17", kind, detail)
            self.built.door_events += 1

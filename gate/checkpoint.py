"""The checkpoint: verify what a reader saw, look up who it is, decide, then act and record.

Everything with side effects sits here, around the pure `decide`: the door is commanded
first and nothing touches the disk between the decision and the relay (a resident should not
wait on it); the lamps and the screen hear next; then the door's events and the passage are
journaled in one transaction through the record keeper (gate/journal/keeper.py): a write that
fails waits and is retried, so a full disk delays records but never loses them, and waiting
passages still count in decisions.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from gate.clock import Clock
from gate.compound import CompoundView
from gate.decide import decide, not_released
from gate.door import Door
from gate.events import JournalEvent
from gate.journal import Journal
from gate.journal.keeper import PassageRecord, RecordKeeper
from gate.journal.queries import utc_text
from gate.model import (
    AlertSpec,
    Decision,
    Direction,
    History,
    Method,
    PassageRef,
    Permit,
    Person,
    Reader,
    Severity,
)
from gate.observation import Observation
from gate.passes.admission import admit_pass
from gate.passes.claims import PassCheck, PassClaims, PassReason
from gate.passes.ledger import LiveCodeLedger, LiveUse
from gate.passes.live import replayed, step_of
from gate.registry import Registry
from gate.rulebook import Rulebook
from gate.vocabulary import AlertKind, DoorMode, Rule

log = logging.getLogger(__name__)

# Reasons that are decided only after the signature was verified: the claims are authentic,
# so the passage can be attributed to the person even though it is denied.
_AUTHENTIC = {PassReason.OK, PassReason.EXPIRED, PassReason.NOT_YET_VALID, PassReason.REVOKED,
              PassReason.OTHER_COMPOUND, PassReason.STALE_CODE, PassReason.FUTURE_CODE,
              PassReason.REPLAYED, PassReason.BAD_PROOF}


@dataclass(frozen=True)
class Outcome:
    """What happened for one observation."""

    observation: Observation
    decision: Decision
    person: Person | None
    released: bool
    acted_at: float  # monotonic time the door was commanded (or the denial decided)
    events: list[JournalEvent] = field(default_factory=list)


OutcomeListener = Callable[[Outcome], None]


def person_from_claims(claims: PassClaims) -> Person:
    """A person as the pass describes them, for holders the registry does not know yet."""
    return Person(person_id=claims.person_id, household_id=claims.household_id,
                  grid_id=claims.grid_id, kind=claims.kind,
                  host_household_id=claims.host_household_id)


def permit_from_claims(claims: PassClaims) -> Permit:
    """The permit a pass carries; the registry's permit, when present, takes precedence."""
    return Permit(person_id=claims.person_id, colour=claims.colour, valid_from=claims.not_before,
                  valid_until=claims.expires_at, source="pass")


class Checkpoint:
    """One gate's decision point shared by all its readers."""

    def __init__(
        self,
        *,
        compound_id: str,
        rules: Rulebook,
        registry: Registry,
        journal: Journal,
        doors: Mapping[str, Door],
        clock: Clock,
        keeper: RecordKeeper | None = None,
        compound: CompoundView | None = None,
        live_codes: LiveCodeLedger | None = None,
    ) -> None:
        self.compound_id = compound_id
        self.rules = rules
        self.registry = registry
        self.journal = journal
        self.doors = doors
        self.clock = clock
        # Passages wait there, in order, while the journal cannot be written (full disk).
        self.keeper = keeper if keeper is not None else RecordKeeper(journal)
        self.compound = compound  # None: a gate alone, whose history is all its own
        # The live codes the compound let through (each opens once per direction).
        self.live_codes = live_codes if live_codes is not None else LiveCodeLedger.beside(
            journal.db)
        self._listeners: list[OutcomeListener] = []
        self._first: list[OutcomeListener] = []  # heard before the record is written
        # Readers decide one at a time: two yellow members of a household at two exit lanes
        # must not both see "no exit yet" (history read -> decide -> record is one step).
        self._deciding = threading.RLock()

    def add_listener(self, listener: OutcomeListener, *, before_record: bool = False) -> None:
        """Hear every outcome (demo output, benchmarks); with `before_record`, as soon as the
        door is commanded and before the passage is written (lamps, the gate display: the
        person at the door must not wait on the disk), its `events` then empty."""
        (self._first if before_record else self._listeners).append(listener)

    def check_pass(self, text: str, now: datetime) -> PassCheck:
        """Admit a pass text at this gate (gate.passes.admission: offline verification, the
        platform's revocations, the visitor-identity rule)."""
        rules = self.rules
        return admit_pass(text, trust=rules.trust, revocations=rules.revocations,
                          roster=self.registry, compound_id=self.compound_id, now=now)

    def resolve(self, observation: Observation) -> tuple[Person | None, Permit | None]:
        """Who the observation is about and the permit that applies to them."""
        check = observation.pass_check
        if check is not None:
            if check.claims is None or check.reason not in _AUTHENTIC:
                return None, None
            claims = check.claims
            person = self.registry.person(claims.person_id) or person_from_claims(claims)
            permit = self.registry.permit(claims.person_id) or permit_from_claims(claims)
            return person, permit
        if observation.face_person_id is not None:
            return (self.registry.person(observation.face_person_id),
                    self.registry.permit(observation.face_person_id))
        return None, None

    def handle(self, observation: Observation) -> Outcome:
        """Decide on one observation, command the door, record the passage."""
        person, permit = self.resolve(observation)
        policy = self.rules.policy
        now = observation.seen_at
        with self._deciding:
            observation = self._once(observation)
            # What waits first, then the journal: a passage written in between is in both (and
            # counted once), never in neither.
            waiting = self.keeper.waiting_passages()
            history = self.journal.history(
                person_id=person.person_id if person else None,
                household_id=person.household_id if person else None,
                gate_id=observation.reader.gate_id, policy=policy, now=now,
            )
            history = self._with_pending(history, person, waiting)
            if self.compound is not None:
                history = replace(history, compound_age_s=self.compound.age_s())
            door = self.doors.get(observation.reader.reader_id)
            mode = door.mode if door is not None else DoorMode.NORMAL
            decision = decide(observation, person, permit, history, policy, now, door_mode=mode)
            decision = self.rules.fallback(decision)  # a trust list or policy out of date
            released = False
            with self.keeper.holding() as door_records:  # written with the passage, after
                if decision.granted:
                    released = door.release(reason=decision.rule) if door else False
                    if not released:  # what was decided is what happened: no passage
                        decision = not_released(decision)
            acted_at = self.clock.monotonic()
            self._tell(Outcome(observation, decision, person, released, acted_at), self._first)
            spent = self._spend(observation) if decision.granted else False
            # Queued inside, written outside: the next decision counts this passage (and refuses
            # a copy of its live code) at once, and the other readers' doors do not wait for
            # this one's disk writes.
            queued = self.keeper.queue_passage(observation, decision, person, None,
                                               before=door_records)
        if spent:
            self.live_codes.write(step_of(observation.seen_at))
        events = self.keeper.write_queued(queued)
        return self._tell(Outcome(observation, decision, person, released, acted_at, events))

    def _once(self, observation: Observation) -> Observation:
        """A live code the compound let through in this direction before, or one older than a
        code of the pass that did, is refused (decide stays pure: it reads the verdict in the
        pass check)."""
        check = observation.pass_check
        if (check is None or not check.valid or check.live_step is None
                or check.claims is None):
            return observation
        newest = self.live_codes.newest(check.claims.pass_id, observation.reader.direction.value)
        if newest is None or newest < check.live_step:
            return observation
        return replace(observation, pass_check=replayed(check, newest))

    def _spend(self, observation: Observation) -> bool:
        """Hold the live code a grant used as spent; True when there was one (to write)."""
        check = observation.pass_check
        if check is None or check.live_step is None or check.claims is None:
            return False
        self.live_codes.hold(LiveUse(check.claims.pass_id, check.live_step,
                                     observation.reader.direction.value,
                                     self.journal.gate_id, utc_text(observation.seen_at)))
        return True

    def _tell(self, outcome: Outcome, listeners: list[OutcomeListener] | None = None
              ) -> Outcome:
        for listener in self._listeners if listeners is None else listeners:
            try:
                listener(outcome)
            except Exception:
                log.exception("outcome listener failed")
        return outcome

    @staticmethod
    def _with_pending(history: History, person: Person | None,
                      pending: list[PassageRecord]) -> History:
        """The journal's history plus granted passages still waiting to be written (being
        written, or a full disk): quotas, companions and anti-passback must not go blind to
        them, nor count twice one the journal already holds."""
        waiting = [PassageRef(r.person.person_id, r.person.household_id,
                              r.observation.reader.direction, r.observation.seen_at,
                              r.observation.reader.reader_id, r.decision.colour)
                   for r in pending if r.decision.granted and r.person is not None]
        if not waiting:
            return history
        mine = [r for r in waiting if person is not None and r.person_id == person.person_id]
        household = [r for r in waiting if person is not None and person.household_id
                     and r.household_id == person.household_id and r.direction is Direction.OUT]
        recent = [r for r in waiting if r.direction is Direction.OUT]  # all at this gate
        last = history.last_passage
        if mine and (last is None or mine[-1].at >= last.at):
            last = mine[-1]
        return replace(
            history,
            last_passage=last,
            # Each list on its own: the journal's queries ran one after another, and a passage
            # committed between them is in the later ones only.
            household_exits=_joined(history.household_exits, household),
            recent_exits=_joined(history.recent_exits, recent),
        )

    @property
    def pending_records(self) -> int:
        """Records decided but not yet written (the journal could not be written)."""
        return self.keeper.waiting

    def override(self, reader: Reader, *, actor: str, reason: str,
                 snapshot: str | None = None) -> Outcome:
        """Open the reader's door once for a guard or a signed platform command, recorded as an
        override passage and heard by the listeners; gate.controls.DoorControls calls this."""
        now = self.clock.now()
        observation = Observation(reader=reader, method=Method.OVERRIDE, seen_at=now,
                                  snapshot=snapshot)
        decision = Decision(
            granted=True, rule=Rule.OVERRIDE_OPEN_ONCE,
            reason_zh=f"人工放行（{actor}）：{reason}", reason_en=f"opened by {actor}: {reason}",
            alerts=(AlertSpec(AlertKind.OVERRIDE, Severity.INFO, f"{actor} 人工放行：{reason}",
                              f"{actor} opened the door once: {reason}"),),
        )
        with self._deciding:
            door = self.doors.get(reader.reader_id)
            with self.keeper.holding() as door_records:
                released = door.release(reason="override", actor=actor) if door else False
            if not released:
                # The audit trail must say the door stayed shut (lockdown, no relay).
                decision = Decision(
                    granted=False, rule=Rule.OVERRIDE_REFUSED,
                    reason_zh=f"人工放行未执行（{actor}）：门处于封锁状态或无继电器",
                    reason_en=f"open by {actor} refused: the door is in lockdown or has no relay",
                    alerts=decision.alerts)
            acted_at = self.clock.monotonic()
            self._tell(Outcome(observation, decision, None, released, acted_at), self._first)
            queued = self.keeper.queue_passage(observation, decision, None, actor,
                                               before=door_records)
        events = self.keeper.write_queued(queued)
        return self._tell(Outcome(observation, decision, None, released, acted_at, events))


def _joined(held: tuple[PassageRef, ...], waiting: list[PassageRef]) -> tuple[PassageRef, ...]:
    """`held` and the waiting passages it does not hold yet (by person, time and reader)."""
    keys = {(r.person_id, r.at, r.reader_id) for r in held}
    return held + tuple(r for r in waiting if (r.person_id, r.at, r.reader_id) not in keys)

"""Comparing what the gate decided with what the scenario expects."""

from __future__ import annotations

from dataclasses import dataclass

from edge.demo.scenario import Appearance
from gate.checkpoint import Outcome


@dataclass(frozen=True)
class Verdict:
    """One expected appearance and what the gate did about it."""

    appearance: Appearance
    outcome: Outcome | None

    @property
    def ok(self) -> bool:
        actor = self.appearance.actor
        return (self.outcome is not None
                and self.outcome.decision.granted == actor.expect_granted
                and self.outcome.decision.rule in actor.expect_rules)


def compare(appearances: list[Appearance], outcomes: list[Outcome]) -> list[Verdict]:
    """Pair each reader's outcomes with its appearances, in order: one decision per card shown."""
    verdicts = []
    for reader in ("in", "out"):
        expected = [a for a in appearances if a.actor.reader == reader]
        seen = [o for o in outcomes if o.observation.reader.direction.value == reader]
        for index, appearance in enumerate(expected):
            verdicts.append(Verdict(appearance, seen[index] if index < len(seen) else None))
    return verdicts


def extra_outcomes(appearances: list[Appearance], outcomes: list[Outcome]) -> int:
    """Decisions beyond one per card: the same pass decided twice, or a phantom code."""
    return max(0, len(outcomes) - len(appearances))

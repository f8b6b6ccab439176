"""How long the platform link waits before trying again: one rule for every retry loop of sync.

Exponential from `first_s`, doubling to at most `most_s`, made shorter at random by up to
`jitter` (so thousands of gates that lost one broker do not all come back in the same second,
and a wait never exceeds `most_s`). Kept here rather than taken from a retry library (backoff,
tenacity, stamina): those wrap a function call in a decorator, while our loops wait on a stop
event, keep their attempt count in the outbox table, or reset it when a connection lasted; the
arithmetic is all they would share. (vision/sources.py keeps its own copy: the layer rule
forbids sync to import vision, and vision anything of ours.)
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """Waits between attempts: first, doubling up to most, jittered downwards."""

    first_s: float = 1.0
    most_s: float = 60.0
    jitter: float = 0.2

    def delay(self, attempt: int) -> float:
        """The wait before retry number `attempt` (0: the first retry)."""
        base = min(self.most_s, self.first_s * 2.0 ** min(max(attempt, 0), 64))
        return base * random.uniform(1.0 - self.jitter, 1.0)

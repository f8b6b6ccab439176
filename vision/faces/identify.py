"""Open-set identification: a person, or "unknown" when no one is close enough or clearly best.

dlib's 0.6 was tuned for one-to-one verification. Searched against N persons, a stranger gets N
chances to fall within it, so the accepted distance tightens by `tighten_per_decade` each time
the gallery grows tenfold beyond `small_gallery` persons (down to `min_tolerance`), and the best
person must beat the second best by `margin`. docs/faces.md gives the measurements behind the
defaults.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from vision.faces.index import Match


@dataclass(frozen=True)
class OpenSetRule:
    """When a nearest neighbour counts as an identification."""

    tolerance: float = 0.6
    tighten_per_decade: float = 0.04
    min_tolerance: float = 0.45
    margin: float = 0.05
    small_gallery: int = 10

    def tolerance_for(self, persons: int) -> float:
        """The largest accepted distance for a gallery of `persons` enrolled persons."""
        decades = math.log10(max(persons, self.small_gallery) / self.small_gallery)
        return max(self.min_tolerance, self.tolerance - self.tighten_per_decade * decades)

    def judge(self, matches: Sequence[Match], persons: int) -> Identification:
        """The identification given the closest persons (best first) of a gallery search."""
        if not matches:
            return Identification(None, None, None, None, self.tolerance_for(persons), "empty")
        best = matches[0]
        second = matches[1].distance if len(matches) > 1 else None
        tolerance = self.tolerance_for(persons)
        if best.distance > tolerance:
            reason = "too_far"
        elif second is not None and second - best.distance < self.margin:
            reason = "ambiguous"
        else:
            return Identification(best.person_id, best.distance, best.person_id, second,
                                  tolerance, "match")
        return Identification(None, best.distance, best.person_id, second, tolerance, reason)


@dataclass(frozen=True)
class Identification:
    """Who a face is (person_id None: unknown), how close, and why."""

    person_id: str | None
    distance: float | None  # to the closest enrolled person, whether accepted or not
    closest: str | None  # the closest enrolled person, whether accepted or not
    second_distance: float | None
    tolerance: float
    reason: str  # match, too_far, ambiguous, empty


class Searchable(Protocol):
    """What identification needs of a gallery."""

    def search(self, encoding: Sequence[float] | np.ndarray, k: int = 2) -> list[Match]: ...

    def person_count(self) -> int: ...


class Identifier:
    """1:N identification of encodings against a gallery under an open-set rule."""

    def __init__(self, gallery: Searchable, rule: OpenSetRule) -> None:
        self.gallery = gallery
        self.rule = rule

    def identify(self, encoding: Sequence[float] | np.ndarray) -> Identification:
        """Who this encoding belongs to, or unknown."""
        matches = self.gallery.search(encoding, k=2)
        return self.rule.judge(matches, self.gallery.person_count())

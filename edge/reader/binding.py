"""How a reader turns what it saw into observations for the checkpoint.

A pipeline always has a binding. The pipeline scans passes and calls the binding; the binding
builds observations and hands each to `decide` (the pipeline's one way into the checkpoint),
so no binding holds the checkpoint and the checkpoint is entered from one place.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

from gate.checkpoint import Outcome
from gate.model import Method, Reader
from gate.observation import Observation
from gate.passes.claims import PassCheck
from vision.facts import FaceSeen, Frame

Decide = Callable[[Observation], Outcome]


class Binding(Protocol):
    """Between a reader's facts and its observations."""

    def observe(self, frame: Frame) -> None:
        """Look at a frame before its passes are scanned (faces are followed here)."""
        ...

    def scanned(self, check: PassCheck, seen_at: datetime, decide: Decide) -> Outcome | None:
        """A new pass scan; its outcome now, or None while it waits (or repeats a passage)."""
        ...

    def settle(self, decide: Decide) -> list[Outcome]:
        """Decide what became ready with this frame (waiting passes, faces alone)."""
        ...

    def faces_in(self, frame: Frame) -> Sequence[FaceSeen]:
        """The faces seen in `frame` (boxes for the panel's live image)."""
        ...

    @property
    def waiting(self) -> bool:
        """True while a scanned pass waits for its holder's face (amber lamp, the display)."""
        ...


class PassOnly:
    """A reader without faces: every scanned pass is an observation at once."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader

    def observe(self, frame: Frame) -> None:
        """Nothing to follow without faces."""

    def scanned(self, check: PassCheck, seen_at: datetime, decide: Decide) -> Outcome:
        """Decide on the pass now."""
        return decide(Observation(reader=self.reader, method=Method.PASS, seen_at=seen_at,
                                  pass_check=check))

    def settle(self, decide: Decide) -> list[Outcome]:
        """Nothing ever waits."""
        return []

    def faces_in(self, frame: Frame) -> Sequence[FaceSeen]:
        """No faces are looked for."""
        return ()

    @property
    def waiting(self) -> bool:
        """Nothing ever waits."""
        return False

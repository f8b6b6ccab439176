"""What the guards' panel needs of the running gate, and nothing more.

The panel is served beside the gate, not inside it: it reads the readers' counters and live
frames, the journal and the rules in force, and commands doors only through the gate's door
controls, the same path the platform's commands take. `edge.app.GateApp` provides this view;
tests may hand the panel any object that does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

from edge.display.board import DisplayBoard
from edge.reader.pipeline import FrameListener, ReaderStats
from edge.settings import Settings
from gate.approvals import OverrideApprovals
from gate.checkpoint import OutcomeListener
from gate.clock import Clock
from gate.controls import DoorControls
from gate.journal import Journal
from gate.model import Reader
from gate.rulebook import Rulebook


class PanelReader(Protocol):
    """One reader as the panel sees it: who it is, its counters, its frames."""

    @property
    def reader(self) -> Reader: ...

    @property
    def stats(self) -> ReaderStats: ...

    def add_frame_listener(self, listener: FrameListener) -> Callable[[], None]:
        """Hear every processed frame; returns a callable that stops it."""
        ...


class PanelGate(Protocol):
    """The running gate, as far as the panel may reach into it."""

    @property
    def settings(self) -> Settings:
        """The settings the gate runs on (ids, state directory, the settings page)."""
        ...

    @property
    def db_path(self) -> Path:
        """The gate's database: the panel opens its own connections to it."""
        ...

    @property
    def clock(self) -> Clock: ...

    @property
    def journal(self) -> Journal:
        """Alerts the panel raises and acknowledges; journal events it shows live."""
        ...

    @property
    def rules(self) -> Rulebook:
        """Trust list (the visitor desk adds its key) and policy (the compound's time zone)."""
        ...

    @property
    def controls(self) -> DoorControls:
        """Open once, lockdown, hold-open: every override goes through here."""
        ...

    @property
    def approvals(self) -> OverrideApprovals:
        """Guards' open-once, through the two-person rule for red-permit refusals."""
        ...

    @property
    def pipelines(self) -> Mapping[str, PanelReader]:
        """Each reader by id."""
        ...

    @property
    def boards(self) -> Mapping[str, DisplayBoard]:
        """Each reader's display board: what the person at the door was shown."""
        ...

    @property
    def pending_records(self) -> int:
        """Passages decided but not yet written (full disk)."""
        ...

    def add_outcome_listener(self, listener: OutcomeListener) -> None:
        """Hear every decided outcome."""
        ...

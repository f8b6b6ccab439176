"""What each reader answers the person at its door: its lamps and buzzer (gate/signals.py) and
its display board (edge/display/board.py).

Both hear the same three things: every outcome, from the checkpoint as soon as the door is
commanded and before the passage is written (gate/checkpoint.py, `before_record`); the mode of
the reader's door, from the door's own mode events; and a pass that starts or stops waiting
for its holder's face, from the reader's pipeline. A failing lamp or screen is logged and
never costs the gate a decision.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from edge.display.board import DisplayBoard
from edge.settings import Settings
from gate.checkpoint import Outcome
from gate.door import Door, DoorEvent
from gate.signals import SignalLights
from gate.vocabulary import DoorEventKind, DoorMode

log = logging.getLogger(__name__)


class ResidentAnswer:
    """Each reader's lamps (where wired) and display board; closing drives every lamp off."""

    def __init__(self, settings: Settings, *, doors: Mapping[str, Door],
                 pin_factory: Any = None) -> None:
        display = settings.display
        self.boards = {r.reader_id: DisplayBoard(r.reader_id,
                                                 outcome_seconds=display.outcome_seconds,
                                                 masked_name=display.masked_name)
                       for r in settings.readers}
        self.lights: dict[str, SignalLights] = {}
        patterns = settings.signals.patterns()
        try:
            for wired in settings.signals.readers:
                self.lights[wired.reader_id] = SignalLights(
                    green_pin=wired.green_pin, red_pin=wired.red_pin, amber_pin=wired.amber_pin,
                    buzzer_pin=wired.buzzer_pin, active_high=wired.active_high,
                    buzzer_active_high=wired.buzzer_active_high, patterns=patterns,
                    open_seconds=settings.door.open_seconds, pin_factory=pin_factory,
                    name=wired.reader_id)
        except BaseException:
            self.close()
            raise
        for reader_id, door in doors.items():
            door.add_listener(self._door_listener(reader_id, door))
            self.set_mode(reader_id, door.mode)  # a mode restored after a restart shows at once

    def _door_listener(self, reader_id: str, door: Door) -> Callable[[DoorEvent], None]:
        def heard(event: DoorEvent) -> None:
            if event.kind is DoorEventKind.MODE:
                self.set_mode(reader_id, door.mode)

        return heard

    def outcome(self, outcome: Outcome) -> None:
        """A decided outcome at a reader (a checkpoint listener)."""
        reader_id = outcome.observation.reader.reader_id
        self._each(reader_id, lambda lights: lights.outcome(outcome.decision.granted),
                   lambda board: board.outcome(outcome))

    def set_mode(self, reader_id: str, mode: DoorMode) -> None:
        """The mode of the reader's door."""
        self._each(reader_id, lambda lights: lights.set_mode(mode),
                   lambda board: board.set_mode(mode))

    def waiting_listener(self, reader_id: str) -> Callable[[bool], None]:
        """A pipeline listener: a pass at this reader starts or stops waiting for a face."""

        def heard(waiting: bool) -> None:
            self._each(reader_id, lambda lights: lights.set_waiting(waiting),
                       lambda board: board.set_waiting(waiting))

        return heard

    def _each(self, reader_id: str, to_lights: Callable[[SignalLights], None],
              to_board: Callable[[DisplayBoard], None]) -> None:
        lights, board = self.lights.get(reader_id), self.boards.get(reader_id)
        try:
            if lights is not None:
                to_lights(lights)
        except Exception:  # the door matters more than its lamp
            log.exception("reader %s: lamps not updated", reader_id)
        try:
            if board is not None:
                to_board(board)
        except Exception:
            log.exception("reader %s: display not updated", reader_id)

    def close(self) -> None:
        """Drive every lamp and buzzer off and release their pins."""
        for lights in self.lights.values():
            lights.close()

"""One reader's display board: what its screen shows now, kept by the gate, served to browsers.

Outcomes, guard messages and a pass that starts waiting for its face each replace what is on
show (the newest wins); an outcome or a message shows for a while, then the screen falls back
to the reader's state: waiting, lockdown, hold-open, or idle. Each change that should be
heard raises the prompt number, so a browser plays a prompt once, and only the newest.

The board is written from the gate's threads (the checkpoint, the doors, the readers, the
panel) and read by the display server's streams; listeners hear that something changed and
read `view()` themselves, so a slow screen never sees a backlog.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from edge.display.screen import Screen, message_screen, outcome_screen, state_screen
from gate.checkpoint import Outcome
from gate.vocabulary import DoorMode

Listener = Callable[[], None]


@dataclass(frozen=True)
class _Flash:
    screen: Screen
    until: float  # monotonic
    seconds: float
    at: datetime  # when it was shown (for the guards' panel)


class DisplayBoard:
    """The screen of one reader; thread-safe."""

    def __init__(self, reader_id: str, *, outcome_seconds: float = 4.0,
                 masked_name: bool = False,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.reader_id = reader_id
        self.outcome_seconds = outcome_seconds
        self.masked_name = masked_name
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []
        self._mode = DoorMode.NORMAL
        self._waiting = False
        self._flash: _Flash | None = None
        self._last: _Flash | None = None  # the last outcome or message (the guards' replay)
        self._version = 0
        self._prompt_seq = 0
        self._prompt: str | None = None
        self._prompt_at = 0.0

    # -- what happens at the reader -----------------------------------------------------------

    def outcome(self, outcome: Outcome) -> None:
        """Show a decided outcome (and say its prompt)."""
        screen = outcome_screen(outcome, masked_name=self.masked_name)
        with self._lock:
            self._waiting = False  # the pass that waited has been decided
            self._show(screen, self.outcome_seconds)
        self._changed()

    def message(self, zh: str, en: str, *, seconds: float, prompt: str | None = None) -> None:
        """Show a guard's message for `seconds` (and say `prompt`, if given)."""
        with self._lock:
            self._show(message_screen(zh, en, prompt), seconds)
        self._changed()

    def replay(self) -> bool:
        """Show the last outcome or message again and say its prompt; False when none."""
        with self._lock:
            last = self._last
            if last is None:
                return False
            self._show(last.screen, last.seconds)
        self._changed()
        return True

    def set_waiting(self, waiting: bool) -> None:
        """A pass waits for its holder's face (True) or no longer does."""
        with self._lock:
            if waiting == self._waiting:
                return
            self._waiting = waiting
            if waiting:
                self._flash = None  # the newest thing at the reader wins
                self._say("face")
            self._version += 1
        self._changed()

    def set_mode(self, mode: DoorMode) -> None:
        """The mode of the reader's door."""
        with self._lock:
            if mode is self._mode:
                return
            self._mode = mode
            self._version += 1
        self._changed()

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        """Hear every change (from any thread); returns the function that stops it."""
        with self._lock:
            self._listeners.append(listener)

        def remove() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return remove

    # -- what is on show ----------------------------------------------------------------------

    def view(self) -> dict[str, Any]:
        """The screen now, with its key (changes whenever the screen does) and prompt."""
        now = self._monotonic()
        with self._lock:
            flash = self._flash if self._flash is not None and now < self._flash.until else None
            screen = flash.screen if flash is not None else state_screen(self._state())
            return {**screen.as_dict(), "key": f"{self._version}.{int(flash is not None)}",
                    "prompt": self._prompt, "prompt_seq": self._prompt_seq,
                    "prompt_age_ms": round((now - self._prompt_at) * 1000)}

    def seconds_to_change(self) -> float | None:
        """Seconds until what is on show ends by itself; None when nothing will."""
        now = self._monotonic()
        with self._lock:
            if self._flash is None or now >= self._flash.until:
                return None
            return self._flash.until - now

    def last(self) -> dict[str, Any] | None:
        """The last outcome or message shown, with when (UTC text); None before any."""
        with self._lock:
            last = self._last
        if last is None:
            return None
        return {**last.screen.as_dict(), "at": last.at.isoformat(timespec="seconds")}

    # -- inside -------------------------------------------------------------------------------

    def _state(self) -> str:
        if self._waiting:
            return "waiting"
        if self._mode is DoorMode.LOCKDOWN:
            return "lockdown"
        if self._mode is DoorMode.HOLD_OPEN:
            return "hold_open"
        return "idle"

    def _show(self, screen: Screen, seconds: float) -> None:
        flash = _Flash(screen, self._monotonic() + seconds, seconds, datetime.now(UTC))
        self._flash = self._last = flash
        self._version += 1
        if screen.prompt is not None:
            self._say(screen.prompt)

    def _say(self, prompt: str) -> None:
        self._prompt = prompt
        self._prompt_seq += 1
        self._prompt_at = self._monotonic()

    def _changed(self) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener()

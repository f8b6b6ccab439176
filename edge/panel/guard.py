"""Guard decides: a passage the partition rules leave to the guard (rule compound.guard, policy
compound.*_when_stale = "guard") is refused and becomes a prompt on the live page, at its
reader, saying who was refused and why. The guard lets the person through once from it (an
override passage, through the door controls like every open-once) or confirms the refusal;
a prompt nobody answers goes after PROMPT_S (the person has left the gate)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gate.vocabulary import Rule

PROMPT_S = 120.0
PER_READER = 5  # the newest prompts kept per reader


@dataclass(frozen=True)
class Prompt:
    """A refused passage waiting for the guard."""

    event_id: str
    reader_id: str
    passage: dict[str, Any]  # the journal's row: person, colour, direction, reason
    since: float  # monotonic


class GuardPrompts:
    """The prompts waiting for a guard, shared by every browser; safe from any thread."""

    def __init__(self, monotonic: Callable[[], float], lifetime_s: float = PROMPT_S) -> None:
        self._monotonic = monotonic
        self._lifetime_s = lifetime_s
        self._lock = threading.Lock()
        self._prompts: dict[str, Prompt] = {}

    def offer(self, row: dict[str, Any]) -> Prompt | None:
        """A passage just recorded: a prompt when the rules left it to the guard."""
        event_id = row.get("event_id")
        if row.get("rule") != Rule.COMPOUND_GUARD or row.get("granted") or not event_id:
            return None
        prompt = Prompt(str(event_id), str(row["reader_id"]), dict(row), self._monotonic())
        with self._lock:
            self._expire()
            self._prompts[prompt.event_id] = prompt
            same = [p for p in self._prompts.values() if p.reader_id == prompt.reader_id]
            for old in same[:-PER_READER]:
                del self._prompts[old.event_id]
        return prompt

    def get(self, event_id: str | None) -> Prompt | None:
        with self._lock:
            self._expire()
            return self._prompts.get(event_id or "")

    def take(self, event_id: str) -> Prompt | None:
        """The prompt, removed (None when answered already, by another guard too, or gone)."""
        with self._lock:
            self._expire()
            return self._prompts.pop(event_id, None)

    def restore(self, prompt: Prompt) -> None:
        """Put back a prompt taken to answer when the answer could not be carried out."""
        with self._lock:
            self._prompts.setdefault(prompt.event_id, prompt)

    def by_reader(self) -> dict[str, list[Prompt]]:
        """The waiting prompts of each reader, newest first."""
        with self._lock:
            self._expire()
            prompts = sorted(self._prompts.values(), key=lambda p: p.since, reverse=True)
        found: dict[str, list[Prompt]] = {}
        for prompt in prompts:
            found.setdefault(prompt.reader_id, []).append(prompt)
        return found

    def _expire(self) -> None:
        limit = self._monotonic() - self._lifetime_s
        for event_id in [e for e, p in self._prompts.items() if p.since < limit]:
            del self._prompts[event_id]

"""Journal events: small frozen records fanned out to the outbox (in the same transaction)
and to live listeners such as the panel (after commit)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gate.vocabulary import EventType


@dataclass(frozen=True)
class JournalEvent:
    """Something the journal recorded. `row` is the stored row as a plain dict (JSON-ready)."""

    event_id: str  # globally unique (uuid4 hex); consumers drop duplicates by it
    kind: EventType  # passage, alert or door
    row: dict[str, Any]
    grid_id: str | None = None  # for alerts: which grid's workers must hear of it


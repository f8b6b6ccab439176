"""Response models shared by several JSON routes: passages and alerts as the journal keeps them."""

from __future__ import annotations

from pydantic import BaseModel


class PassageOut(BaseModel):
    """One passage (granted or denied) from the journal."""

    id: int
    event_id: str
    at: str
    gate_id: str
    reader_id: str
    direction: str
    person_id: str | None
    household_id: str | None
    grid_id: str | None
    pass_id: str | None
    method: str
    colour: str | None
    granted: bool
    rule: str  # a Rule; a string so a passage from a newer peer gate still shows
    reason_zh: str
    reason_en: str
    snapshot: str | None
    actor: str | None


class AlertOut(BaseModel):
    """One alert from the journal, with its acknowledgement when given."""

    id: int
    event_id: str
    at: str
    kind: str  # an AlertKind, as stored
    severity: str
    reader_id: str | None
    person_id: str | None
    household_id: str | None
    grid_id: str | None
    passage_id: int | None
    message_zh: str
    message_en: str
    acknowledged_at: str | None
    acknowledged_by: str | None
    ack_comment: str | None
    count: int = 1  # occurrences folded into it
    last_at: str | None = None  # the latest occurrence
    escalated_at: str | None = None  # sent again to a second audience, unanswered
    escalated_to: str | None = None


class Done(BaseModel):
    """A plain acknowledgement of an action."""

    ok: bool = True
    detail: str = ""

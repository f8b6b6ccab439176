"""What a pass says (its claims) and what checking a pass concluded."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from gate.model import Colour, PersonKind


class PassReason(StrEnum):
    """Why a pass was accepted or rejected; each value is distinct and explainable."""

    OK = "ok"
    MALFORMED = "malformed"
    BAD_SIGNATURE = "bad_signature"
    UNKNOWN_KEY = "unknown_key"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    REVOKED = "revoked"
    OTHER_COMPOUND = "other_compound"
    KEY_NOT_ALLOWED = "key_not_allowed"  # e.g. a visitor-only key signed a resident pass


@dataclass(frozen=True)
class PassClaims:
    """The signed content of a pass."""

    pass_id: str
    person_id: str
    household_id: str
    compound_id: str
    colour: Colour
    issued_at: datetime
    not_before: datetime
    expires_at: datetime
    kind: PersonKind = PersonKind.RESIDENT
    grid_id: str | None = None
    host_household_id: str | None = None


@dataclass(frozen=True)
class PassCheck:
    """The verdict on one pass text: valid or the reason it is not, with the claims if readable."""

    valid: bool
    reason: PassReason
    detail: str
    claims: PassClaims | None = None
    key_id: str | None = None

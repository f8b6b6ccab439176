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
    # Live codes (gate/passes/live.py): a holder-bound pass plus the holder's proof of now.
    STALE_CODE = "stale_code"  # the proof is for a step before the window: a screenshot
    FUTURE_CODE = "future_code"  # the proof is for a step after the window: a clock ahead
    REPLAYED = "replayed"  # this code (pass, step, direction) was used in the compound before
    BAD_PROOF = "bad_proof"  # missing, malformed, truncated, or not the holder key's signature


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
    # The holder's Ed25519 public key (32 raw bytes, the CWT `cnf` claim): the pass is shown
    # as a live code signed with it, never on its own.
    holder_key: bytes | None = None


@dataclass(frozen=True)
class PassCheck:
    """The verdict on one pass text: valid or the reason it is not, with the claims if readable."""

    valid: bool
    reason: PassReason
    detail: str
    claims: PassClaims | None = None
    key_id: str | None = None
    live_step: int | None = None  # a live code: the time step its holder's proof verified for

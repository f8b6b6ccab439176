"""Admitting a pass at this gate: the offline verification plus what only the gate's roster knows.

`verify_pass` checks what the pass itself proves (format, key, signature, scope, compound,
time, the local revocation file). Admission adds the two checks that need the registry the
platform keeps in sync: the platform's own revocations, and that a visitor pass does not carry
the identity of someone registered as another kind of person. The checkpoint admits every pass
through here, so there is one place that says whether a pass is good.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from gate.model import Person, PersonKind
from gate.passes.claims import PassCheck, PassReason
from gate.passes.live import PROOF_REASONS
from gate.passes.trust import Revocations, TrustList
from gate.passes.verify import verify_pass


class Roster(Protocol):
    """What admission reads of the registry (gate.registry.Registry provides it)."""

    def is_revoked(self, pass_id: str) -> bool:
        """True when the platform revoked this pass."""
        ...

    def person(self, person_id: str) -> Person | None:
        """The registered person with this id, if any."""
        ...


def admit_pass(text: str, *, trust: TrustList, revocations: Revocations, roster: Roster,
               compound_id: str, now: datetime) -> PassCheck:
    """Verify a pass text offline, then against the platform's revocations and the roster."""
    check = verify_pass(text, trust, revocations, compound_id, now)
    claims = check.claims
    if claims is None or (not check.valid and check.reason not in PROOF_REASONS):
        return check
    if roster.is_revoked(claims.pass_id):
        return PassCheck(False, PassReason.REVOKED, "revoked by the platform", claims,
                         check.key_id)
    if claims.kind is PersonKind.VISITOR:
        # A visitor key (the panel's) signs whatever id it is given: a visitor pass must not
        # borrow a registered resident's identity, nor another household's visitor's.
        known = roster.person(claims.person_id)
        if known is not None and (known.kind is not PersonKind.VISITOR
                                  or known.host_household_id != claims.host_household_id):
            return PassCheck(False, PassReason.KEY_NOT_ALLOWED,
                             f"a visitor pass cannot carry the id of {known.kind.value} "
                             f"{known.person_id}", claims, check.key_id)
    return check

"""Shared makers for pass tests: keys, claims, trust lists."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from gate.model import Colour, PersonKind
from gate.passes import PassClaims, Revocations, SigningKey, TrustList, generate_signing_key

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
COMPOUND = "wenjiang-01"


def claims(**changes: object) -> PassClaims:
    base = PassClaims(
        pass_id="pass-001", person_id="p-101", household_id="h-1", compound_id=COMPOUND,
        colour=Colour.GREEN, issued_at=NOW - timedelta(days=1),
        not_before=NOW - timedelta(days=1), expires_at=NOW + timedelta(days=30),
        grid_id="grid-7",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def visitor_claims(**changes: object) -> PassClaims:
    return claims(kind=PersonKind.VISITOR, host_household_id="h-1", person_id="v-1",
                  **changes)


def trusting(*keys: SigningKey, scope: str = "all") -> TrustList:
    trust = TrustList()
    for key in keys:
        trust.add(key.key_id, key.public_key, scope)
    return trust


NO_REVOCATIONS = Revocations()
PLATFORM = generate_signing_key()

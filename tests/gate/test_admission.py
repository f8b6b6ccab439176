"""Admission: the offline verification plus the registry's revocations and visitor rule, in one
function the checkpoint calls (a real SQLite registry, real signed passes)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gate.model import Person, PersonKind
from gate.passes import Revocations, encode_pass, generate_signing_key
from gate.passes.admission import admit_pass
from gate.passes.claims import PassCheck, PassReason
from gate.registry import Registry
from gate.store import open_database
from tests.gate.passes_support import COMPOUND, NOW, PLATFORM, claims, trusting

VISITOR_KEY = generate_signing_key()  # the panel's local key
TRUST = trusting(PLATFORM)
TRUST.add(VISITOR_KEY.key_id, VISITOR_KEY.public_key, "visitor")


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    db = open_database(tmp_path / "gridgate.db")
    yield Registry(db)
    db.close()


def admit(text: str, registry: Registry, revoked: tuple[str, ...] = ()) -> PassCheck:
    return admit_pass(text, trust=TRUST, revocations=Revocations(revoked), roster=registry,
                      compound_id=COMPOUND, now=NOW)


def test_a_good_pass_is_admitted_with_its_claims(registry: Registry) -> None:
    check = admit(encode_pass(claims(), PLATFORM), registry)
    assert check.valid and check.reason is PassReason.OK
    assert check.claims is not None and check.claims.person_id == "p-101"


def test_both_revocation_sources_refuse(registry: Registry) -> None:
    text = encode_pass(claims(pass_id="pass-7"), PLATFORM)
    assert admit(text, registry, revoked=("pass-7",)).reason is PassReason.REVOKED  # local file
    registry.revoke(["pass-7"], NOW)  # the platform's list
    check = admit(text, registry)
    assert not check.valid and check.reason is PassReason.REVOKED
    assert check.detail == "revoked by the platform" and check.claims is not None


def test_a_visitor_pass_cannot_carry_a_registered_residents_id(registry: Registry) -> None:
    registry.put_persons([Person("p-101", "h-1"),
                          Person("v-9", "h-2", kind=PersonKind.VISITOR, host_household_id="h-2")])
    borrowed = claims(kind=PersonKind.VISITOR, person_id="p-101", host_household_id="h-1")
    resident = admit(encode_pass(borrowed, VISITOR_KEY), registry)
    assert resident.reason is PassReason.KEY_NOT_ALLOWED and "resident p-101" in resident.detail
    # Another household's visitor's id is refused too; the host's own visitor is admitted.
    other = admit(encode_pass(claims(kind=PersonKind.VISITOR, person_id="v-9",
                                     host_household_id="h-1"),
                              VISITOR_KEY), registry)
    assert other.reason is PassReason.KEY_NOT_ALLOWED
    own = admit(encode_pass(claims(kind=PersonKind.VISITOR, person_id="v-9",
                                   host_household_id="h-2"),
                            VISITOR_KEY), registry)
    assert own.valid


class NoLookups:
    """A roster that fails the test when asked: what the pass disproves needs no registry."""

    def is_revoked(self, pass_id: str) -> bool:
        raise AssertionError(f"looked up the revocation of {pass_id}")

    def person(self, person_id: str) -> Person | None:
        raise AssertionError(f"looked up {person_id}")


def test_what_the_pass_itself_disproves_is_not_looked_up() -> None:
    def admit_offline(text: str) -> PassCheck:
        return admit_pass(text, trust=TRUST, revocations=Revocations(["pass-gone"]),
                          roster=NoLookups(), compound_id=COMPOUND, now=NOW)

    assert admit_offline(encode_pass(claims(), generate_signing_key())).reason \
        is PassReason.UNKNOWN_KEY
    assert admit_offline("GG1:not a pass").reason is PassReason.MALFORMED
    assert admit_offline(encode_pass(claims(pass_id="pass-gone"), PLATFORM)).reason \
        is PassReason.REVOKED  # the revocation file settles it before the registry

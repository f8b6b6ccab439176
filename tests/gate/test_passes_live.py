"""Holder-bound passes and live codes: real Ed25519 keys, each way a live code is refused, and
the bound pass and its proof verified by a standard COSE library (`cwt`)."""

from __future__ import annotations

import zlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import base45
import cbor2
import cwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cwt import COSE, COSEKey

from gate.errors import KeyFileError
from gate.model import Person, PersonKind
from gate.passes import PassReason, decode_unverified, encode_pass, qr_version, verify_pass
from gate.passes.admission import admit_pass
from gate.passes.codec import CNF, PREFIX
from gate.passes.keys import raw_public
from gate.passes.live import (
    LIVE_PREFIX,
    STEP_S,
    encode_live,
    holder_key_text,
    parse_holder_key,
    proof_payload,
    proof_to_be_signed,
    public_raw,
    split_live,
    step_of,
)
from tests.gate.passes_support import (
    COMPOUND,
    NO_REVOCATIONS,
    NOW,
    PLATFORM,
    claims,
    trusting,
)

HOLDER = Ed25519PrivateKey.generate()
THIEF = Ed25519PrivateKey.generate()
TRUST = trusting(PLATFORM)


def bound(**changes: object) -> str:
    return encode_pass(claims(holder_key=public_raw(HOLDER), **changes), PLATFORM)


def check(text: str, now: datetime = NOW):  # type: ignore[no-untyped-def]
    return verify_pass(text, TRUST, NO_REVOCATIONS, COMPOUND, now)


def live_body(text: str) -> bytes:
    return base45.b45decode(text[len(LIVE_PREFIX):])


def as_live(body: bytes) -> str:
    return LIVE_PREFIX + base45.b45encode(body).decode()


def test_a_bound_pass_carries_the_holder_key_and_a_plain_pass_is_unchanged() -> None:
    kid, read = decode_unverified(bound())
    assert read.holder_key == public_raw(HOLDER) and kid == PLATFORM.key_id
    plain = encode_pass(claims(), PLATFORM)
    cose = base45.b45decode(plain[len(PREFIX):])
    payload = cbor2.loads(cbor2.loads(cose).value[2])
    assert CNF not in payload  # printed passes stay exactly as they were
    assert check(plain).valid and check(plain).live_step is None


def test_a_live_code_opens_within_one_step_of_the_gate_clock() -> None:
    code = encode_live(bound(), HOLDER, NOW)
    for offset in (-STEP_S, 0, STEP_S - 1, STEP_S, 2 * STEP_S - 1):
        result = check(code, NOW + timedelta(seconds=offset))
        assert result.valid, (offset, result.detail)
        assert result.reason is PassReason.OK and result.live_step == step_of(NOW)
        assert result.claims is not None and result.claims.pass_id == "pass-001"


def test_a_screenshot_ninety_seconds_later_is_stale() -> None:
    code = encode_live(bound(), HOLDER, NOW)
    later = check(code, NOW + timedelta(seconds=90))
    assert not later.valid and later.reason is PassReason.STALE_CODE
    assert "90 s behind" in later.detail and later.claims is not None  # attributed
    assert check(code, NOW + timedelta(days=3)).reason is PassReason.STALE_CODE


def test_a_code_for_a_later_step_is_its_own_case() -> None:
    ahead = encode_live(bound(), HOLDER, NOW + timedelta(seconds=90))
    result = check(ahead)
    assert result.reason is PassReason.FUTURE_CODE and "ahead" in result.detail
    # Far in the future, well signed: the same reason, never an overflow.
    far = step_of(NOW) + 10**9
    text = bound()
    body = base45.b45decode(text[len(PREFIX):])
    proof = HOLDER.sign(proof_to_be_signed(COMPOUND, "pass-001", far))
    code = as_live(cbor2.dumps(body) + cbor2.dumps(far) + cbor2.dumps(proof))
    assert check(code).reason is PassReason.FUTURE_CODE
    # Beyond any clock: not a time step at all.
    huge = 2**40
    proof = HOLDER.sign(proof_to_be_signed(COMPOUND, "pass-001", huge))
    code = as_live(cbor2.dumps(body) + cbor2.dumps(huge) + cbor2.dumps(proof))
    assert check(code).reason is PassReason.BAD_PROOF


def test_a_proof_from_another_key_is_a_bad_proof() -> None:
    result = check(encode_live(bound(), THIEF, NOW))
    assert result.reason is PassReason.BAD_PROOF and "holder's key" in result.detail


def test_a_proof_on_a_pass_without_cnf_is_a_bad_proof() -> None:
    result = check(encode_live(encode_pass(claims(), PLATFORM), HOLDER, NOW))
    assert result.reason is PassReason.BAD_PROOF and "no holder key" in result.detail


def test_a_bound_pass_shown_without_its_proof_is_a_bad_proof() -> None:
    result = check(bound())
    assert result.reason is PassReason.BAD_PROOF and "without its live proof" in result.detail
    assert result.claims is not None and result.claims.person_id == "p-101"


def test_a_proof_over_another_step_pass_or_compound_does_not_verify() -> None:
    text = bound()
    body = base45.b45decode(text[len(PREFIX):])
    step = step_of(NOW)
    for signed in (proof_to_be_signed(COMPOUND, "pass-001", step - 1),
                   proof_to_be_signed(COMPOUND, "pass-002", step),
                   proof_to_be_signed("other-compound", "pass-001", step)):
        code = as_live(cbor2.dumps(body) + cbor2.dumps(step) + cbor2.dumps(HOLDER.sign(signed)))
        assert check(code).reason is PassReason.BAD_PROOF


def test_truncated_and_malformed_proofs() -> None:
    code = encode_live(bound(), HOLDER, NOW)
    pass_chars = len(LIVE_PREFIX) + len(base45.b45encode(cbor2.dumps(
        base45.b45decode(bound()[len(PREFIX):]))))
    for cut in range(pass_chars + 1, len(code)):
        result = check(code[:cut])
        assert result.reason is PassReason.BAD_PROOF, (cut, result.detail)
    assert "truncated" in check(code[:-1]).detail
    body = live_body(code)
    parts = split_live(code)
    pass_item = cbor2.dumps(parts.pass_body)
    for tail in (b"", cbor2.dumps(parts.step), cbor2.dumps("x") + cbor2.dumps(parts.proof),
                 cbor2.dumps(parts.step) + cbor2.dumps(parts.proof[:63]),
                 cbor2.dumps(parts.step) + cbor2.dumps(parts.proof) + b"\x00",
                 cbor2.dumps(-5) + cbor2.dumps(parts.proof),
                 cbor2.dumps(True) + cbor2.dumps(parts.proof),
                 b"\xff\xff\xff"):
        result = check(as_live(pass_item + tail))
        assert result.reason is PassReason.BAD_PROOF, (tail, result.detail)
    assert body == pass_item + cbor2.dumps(parts.step) + cbor2.dumps(parts.proof)
    # The pass itself cut short: not readable at all.
    assert check(code[:len(LIVE_PREFIX) + 30]).reason is PassReason.MALFORMED
    assert check(LIVE_PREFIX).reason is PassReason.MALFORMED
    assert check(as_live(cbor2.dumps(7))).reason is PassReason.MALFORMED


def test_the_pass_facts_come_before_the_proof() -> None:
    expired = encode_live(bound(expires_at=NOW - timedelta(days=1)), HOLDER, NOW)
    assert check(expired).reason is PassReason.EXPIRED
    elsewhere = verify_pass(encode_live(bound(), HOLDER, NOW), TRUST, NO_REVOCATIONS,
                            "other-compound", NOW)
    assert elsewhere.reason is PassReason.OTHER_COMPOUND
    forged = encode_live(encode_pass(claims(holder_key=public_raw(THIEF)),
                                     _other_platform()), THIEF, NOW)
    assert check(forged).reason is PassReason.UNKNOWN_KEY


def _other_platform():  # type: ignore[no-untyped-def]
    from gate.passes import generate_signing_key
    return generate_signing_key()


class _Roster:
    def __init__(self, revoked: set[str], people: dict[str, Person] | None = None) -> None:
        self.revoked, self.people = revoked, people or {}

    def is_revoked(self, pass_id: str) -> bool:
        return pass_id in self.revoked

    def person(self, person_id: str) -> Person | None:
        return self.people.get(person_id)


def test_admission_says_revoked_before_it_judges_the_code() -> None:
    stale = encode_live(bound(), HOLDER, NOW - timedelta(minutes=5))
    result = admit_pass(stale, trust=TRUST, revocations=NO_REVOCATIONS,
                        roster=_Roster({"pass-001"}), compound_id=COMPOUND, now=NOW)
    assert result.reason is PassReason.REVOKED
    result = admit_pass(stale, trust=TRUST, revocations=NO_REVOCATIONS, roster=_Roster(set()),
                        compound_id=COMPOUND, now=NOW)
    assert result.reason is PassReason.STALE_CODE
    visitor = encode_pass(claims(kind=PersonKind.VISITOR, host_household_id="h-1",
                                 holder_key=public_raw(HOLDER)), PLATFORM)
    roster = _Roster(set(), {"p-101": Person("p-101", "h-9", kind=PersonKind.RESIDENT)})
    result = admit_pass(encode_live(visitor, HOLDER, NOW), trust=TRUST,
                        revocations=NO_REVOCATIONS, roster=roster, compound_id=COMPOUND, now=NOW)
    assert result.reason is PassReason.KEY_NOT_ALLOWED
    fresh = admit_pass(encode_live(bound(), HOLDER, NOW), trust=TRUST,
                       revocations=NO_REVOCATIONS, roster=_Roster(set()), compound_id=COMPOUND,
                       now=NOW)
    assert fresh.valid and fresh.live_step == step_of(NOW)


def test_a_standard_cose_library_verifies_the_bound_pass_and_the_proof() -> None:
    # cwt checks exp/nbf against the real clock: a pass valid now.
    now = datetime.now(UTC).replace(microsecond=0)
    read = claims(holder_key=public_raw(HOLDER), not_before=now - timedelta(hours=1),
                  issued_at=now - timedelta(hours=1), expires_at=now + timedelta(days=1))
    text = encode_pass(read, PLATFORM)
    body = base45.b45decode(text[len(PREFIX):])
    cose = zlib.decompress(body) if body[:1] == b"\x78" else body
    issuer = COSEKey.new({1: 1, -1: 6, -2: raw_public(PLATFORM.public_key), 3: -8,
                          2: bytes.fromhex(PLATFORM.key_id)})
    decoded = cwt.decode(cose, issuer)
    assert decoded[CNF] == {1: {1: 1, -1: 6, -2: public_raw(HOLDER)}}  # RFC 8747 COSE_Key
    holder = COSEKey.new({**decoded[CNF][1], 3: -8})
    parts = split_live(encode_live(text, HOLDER, now))
    assert parts.step is not None
    sign1 = cbor2.dumps(cbor2.CBORTag(18, [b"", {}, None, parts.proof]))
    payload = proof_payload(COMPOUND, "pass-001", parts.step)
    assert COSE.new().decode(sign1, holder, detached_payload=payload) == payload
    with pytest.raises(cwt.VerifyError):
        COSE.new().decode(sign1, holder, detached_payload=proof_payload(
            COMPOUND, "pass-001", parts.step + 1))


def test_qr_versions_of_a_plain_pass_a_visitor_pass_and_a_live_code() -> None:
    resident = encode_pass(claims(), PLATFORM)
    visitor = encode_pass(claims(kind=PersonKind.VISITOR, host_household_id="h-1",
                                 person_id="V-20261122-0042"), PLATFORM)
    live = encode_live(bound(), HOLDER, NOW)
    versions = {name: qr_version(text) for name, text in
                (("resident", resident), ("visitor", visitor), ("live", live))}
    print("QR versions:", versions, "live code characters:", len(live))
    # Rendered at ECC L (docs/passes.md "QR size"): versions 8, 8 and 11 with these ids.
    assert versions["resident"][0] <= 8 and versions["visitor"][0] <= 8
    assert versions["live"][0] <= 11


def test_holder_key_forms() -> None:
    raw = public_raw(HOLDER)
    text = holder_key_text(raw)
    assert len(text) == 43 and parse_holder_key(text) == raw
    assert parse_holder_key(raw.hex()) == raw
    import base64
    assert parse_holder_key(base64.b64encode(raw).decode()) == raw
    for bad in ("", "abc", "x" * 42, "zz" * 32, text[:-1], text + "AAAA", "é" * 43):
        with pytest.raises(KeyFileError, match="not a holder key|not an Ed25519"):
            parse_holder_key(bad)


def test_a_cnf_claim_of_another_form_is_malformed() -> None:
    from gate.passes.codec import sig_structure
    text = bound()
    cose = cbor2.loads(base45.b45decode(text[len(PREFIX):]))
    protected, _, payload, _ = cose.value
    for cnf in ({1: {1: 1, -1: 4, -2: b"x" * 32}}, {3: b"kid"}, {1: {1: 1, -1: 6, -2: b"x"}},
                "key", {1: {1: True, -1: 6, -2: b"x" * 32}}):
        claims_map = cbor2.loads(payload)
        claims_map[CNF] = cnf
        new_payload = cbor2.dumps(claims_map)
        signature = PLATFORM.sign(sig_structure(protected, new_payload))
        forged = cbor2.dumps(cbor2.CBORTag(18, [protected, {}, new_payload, signature]))
        result = check(PREFIX + base45.b45encode(forged).decode())
        assert result.reason is PassReason.MALFORMED and "cnf" in result.detail, cnf


def test_replace_keeps_the_claims_frozen() -> None:
    result = check(encode_live(bound(), HOLDER, NOW))
    with pytest.raises(AttributeError):
        result.live_step = 3  # type: ignore[misc]
    assert replace(result, live_step=None).live_step is None

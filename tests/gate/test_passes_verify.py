"""Pass verification: a real signed pass for every way a pass can be rejected."""

from __future__ import annotations

import base64
import zlib
from datetime import timedelta

import base45
import cbor2
import pytest

from gate.passes import (
    PassReason,
    Revocations,
    SigningKey,
    decode_unverified,
    encode_pass,
    generate_signing_key,
    verify_pass,
)
from gate.passes.codec import PREFIX, claims_to_cbor, sig_structure
from tests.gate.passes_support import (
    COMPOUND,
    NO_REVOCATIONS,
    NOW,
    PLATFORM,
    claims,
    trusting,
    visitor_claims,
)


def check(text: str, trust=None, revocations=NO_REVOCATIONS, now=NOW):  # type: ignore[no-untyped-def]
    return verify_pass(text, trust or trusting(PLATFORM), revocations, COMPOUND, now)


def test_round_trip() -> None:
    original = claims()
    result = check(encode_pass(original, PLATFORM))
    assert result.valid and result.reason is PassReason.OK
    assert result.claims == original and result.key_id == PLATFORM.key_id
    assert decode_unverified(encode_pass(original, PLATFORM)) == (PLATFORM.key_id, original)


@pytest.mark.parametrize(("changes", "now", "reason"), [
    ({"expires_at": NOW - timedelta(minutes=5)}, NOW, PassReason.EXPIRED),
    ({"not_before": NOW + timedelta(hours=1)}, NOW, PassReason.NOT_YET_VALID),
    ({"compound_id": "other-compound"}, NOW, PassReason.OTHER_COMPOUND),
])
def test_time_and_place_rejections(changes: dict, now, reason: PassReason) -> None:  # type: ignore[no-untyped-def]
    result = check(encode_pass(claims(**changes), PLATFORM), now=now)
    assert not result.valid and result.reason is reason
    assert result.claims is not None  # authentic, only not usable here and now


def test_leeway_absorbs_small_clock_differences() -> None:
    text = encode_pass(claims(expires_at=NOW - timedelta(seconds=30)), PLATFORM)
    assert check(text).valid


def test_revoked() -> None:
    result = check(encode_pass(claims(), PLATFORM), revocations=Revocations(["pass-001"]))
    assert result.reason is PassReason.REVOKED


def test_unknown_key() -> None:
    result = check(encode_pass(claims(), generate_signing_key()))
    assert result.reason is PassReason.UNKNOWN_KEY and result.claims is None


def test_forged_signature_with_the_trusted_key_id() -> None:
    attacker = SigningKey(generate_signing_key().private_key, PLATFORM.key_id)
    result = check(encode_pass(claims(), attacker))
    assert result.reason is PassReason.BAD_SIGNATURE and result.claims is None


def test_copied_person_id_spliced_into_a_valid_pass() -> None:
    """Take a genuine pass and put someone else's person id in its payload."""
    genuine = encode_pass(claims(person_id="p-999"), PLATFORM)
    cose = cbor2.loads(_raw(genuine))
    protected, unprotected, _, signature = cose.value
    stolen_payload = claims_to_cbor(claims(person_id="p-101"))
    forged = cbor2.dumps(cbor2.CBORTag(18, [protected, unprotected, stolen_payload, signature]))
    result = check(PREFIX + base45.b45encode(forged).decode())
    assert result.reason is PassReason.BAD_SIGNATURE


def test_visitor_key_cannot_sign_resident_passes() -> None:
    local = generate_signing_key()
    trust = trusting(PLATFORM)
    trust.add(local.key_id, local.public_key, "visitor")
    assert check(encode_pass(visitor_claims(), local), trust).valid
    result = check(encode_pass(claims(), local), trust)
    assert result.reason is PassReason.KEY_NOT_ALLOWED


def test_platform_data_key_cannot_sign_any_pass() -> None:
    documents = generate_signing_key()
    trust = trusting(PLATFORM)
    trust.add(documents.key_id, documents.public_key, "platform")
    for pass_claims in (claims(), visitor_claims()):
        result = check(encode_pass(pass_claims, documents), trust)
        assert result.reason is PassReason.KEY_NOT_ALLOWED and not result.valid


def test_key_rotation_accepts_both_keys() -> None:
    new = generate_signing_key()
    trust = trusting(PLATFORM, new)
    assert check(encode_pass(claims(), PLATFORM), trust).valid
    assert check(encode_pass(claims(), new), trust).valid
    assert not check(encode_pass(claims(), new), trusting(PLATFORM)).valid


def test_uncompressed_and_compressed_forms_both_verify() -> None:
    raw = _raw(encode_pass(claims(), PLATFORM))
    compressed = PREFIX + base45.b45encode(zlib.compress(raw, 9)).decode()
    assert check(compressed).valid


def test_signature_covers_the_protected_header() -> None:
    text = encode_pass(claims(), PLATFORM)
    cose = cbor2.loads(_raw(text))
    protected, _, payload, signature = cose.value
    header = cbor2.loads(protected)
    header[99] = "extra"
    altered = cbor2.dumps(cbor2.CBORTag(18, [cbor2.dumps(header), {}, payload, signature]))
    assert check(PREFIX + base45.b45encode(altered).decode()).reason is PassReason.BAD_SIGNATURE
    assert sig_structure(protected, payload) != sig_structure(cbor2.dumps(header), payload)


@pytest.mark.parametrize("text", ["", "hello", "GG1:", "GG1:!!!!", "https://example.org/x",
                                  "GG2:" + "A" * 10, "GG1:" + "A" * 5000, " \n "])
def test_malformed_texts(text: str) -> None:
    result = check(text)
    assert not result.valid and result.reason is PassReason.MALFORMED and result.detail


def test_a_zlib_bomb_is_rejected_quickly() -> None:
    bomb = zlib.compress(b"\x00" * 2_000_000, 9)  # 2 MB in under 3 KB
    text = PREFIX + base45.b45encode(bomb).decode()
    assert len(text) < 4296
    result = check(text)
    assert result.reason is PassReason.MALFORMED and "expands" in result.detail


def test_wrongly_typed_claims_are_malformed_even_when_signed() -> None:
    protected = cbor2.dumps({1: -8, 4: bytes.fromhex(PLATFORM.key_id)})
    payload = cbor2.dumps({7: "pass-1", 2: 12345, 5: 0, 4: 2**31, -70001: ["h", COMPOUND, 0, 0]})
    signature = PLATFORM.sign(sig_structure(protected, payload))
    cose = cbor2.dumps(cbor2.CBORTag(18, [protected, {}, payload, signature]))
    result = check(PREFIX + base45.b45encode(cose).decode())
    assert result.reason is PassReason.MALFORMED and "sub" in result.detail


def test_trust_list_round_trip_and_pem(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from gate.passes import TrustList, write_key_pair

    key_id = write_key_pair(tmp_path / "k")
    pem_trust = TrustList.load(tmp_path / "k" / "signing.pub")
    assert pem_trust.get(key_id) is not None
    pem_trust.save(tmp_path / "trust.json")
    assert TrustList.load(tmp_path / "trust.json").get(key_id) is not None
    document = (tmp_path / "trust.json").read_text().replace(key_id, "0" * 16)
    (tmp_path / "bad.json").write_text(document)
    from gate.errors import KeyFileError
    with pytest.raises(KeyFileError, match="does not match"):
        TrustList.load(tmp_path / "bad.json")
    assert base64.b64decode(TrustList.load(tmp_path / "trust.json").to_json()["keys"][0]
                            ["public_key"])


def _raw(text: str) -> bytes:
    body = base45.b45decode(text[len(PREFIX):])
    return zlib.decompress(body) if body[:1] == b"\x78" else body

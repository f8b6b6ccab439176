"""Whatever the bytes, verification returns a verdict with a reason, quickly: never a crash."""

from __future__ import annotations

import time
import zlib

import base45
import cbor2
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from gate.passes import PassReason, encode_pass, verify_pass
from gate.passes.codec import PREFIX
from gate.passes.live import LIVE_PREFIX, encode_live, proof_to_be_signed, public_raw, step_of
from tests.gate.passes_support import COMPOUND, NO_REVOCATIONS, NOW, PLATFORM, claims, trusting

TRUST = trusting(PLATFORM)
VALID = encode_pass(claims(), PLATFORM)
B45_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"


def verdict(text: str):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    result = verify_pass(text, TRUST, NO_REVOCATIONS, COMPOUND, NOW)
    assert time.perf_counter() - started < 0.5
    assert isinstance(result.reason, PassReason) and result.detail
    return result


def as_pass(payload: bytes, compress: bool) -> str:
    body = zlib.compress(payload) if compress else payload
    return PREFIX + base45.b45encode(body).decode()


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=600))
def test_any_text(text: str) -> None:
    assert not verdict(text).valid


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=B45_ALPHABET, max_size=400))
def test_base45_alphabet_after_the_prefix(body: str) -> None:
    assert not verdict(PREFIX + body).valid


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600), st.booleans())
def test_any_bytes_inside_the_envelope(payload: bytes, compress: bool) -> None:
    assert not verdict(as_pass(payload, compress)).valid


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mutated_valid_passes_never_verify_as_something_else(data: st.DataObject) -> None:
    text = list(VALID)
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(len(PREFIX), len(text) - 1))
        action = data.draw(st.sampled_from(["flip", "insert", "delete"]))
        char = data.draw(st.sampled_from(B45_ALPHABET))
        if action == "flip":
            text[position] = char
        elif action == "insert":
            text.insert(position, char)
        elif len(text) > len(PREFIX) + 1:
            del text[position]
    mutated = "".join(text)
    result = verdict(mutated)
    if mutated != VALID:
        # base45 has a little slack, so a mutation may decode to the same bytes; then it is
        # the same pass. Anything else must not verify.
        assert not result.valid or result.claims == claims()


@settings(max_examples=100, deadline=None)
@given(st.integers(0, len(VALID) - 1))
def test_truncated_passes(cut: int) -> None:
    assert not verdict(VALID[:cut]).valid


cbor_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20) | st.binary(max_size=20),
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.integers(-80000, 10) | st.text(max_size=5), children, max_size=5),
    max_leaves=30,
)


@settings(max_examples=200, deadline=None)
@given(cbor_values, st.booleans())
def test_arbitrary_cbor_structures(value: object, tagged: bool) -> None:
    payload = cbor2.dumps(cbor2.CBORTag(18, value) if tagged else value)
    assert not verdict(as_pass(payload, compress=False)).valid


def test_deeply_nested_cbor() -> None:
    nested = b"\x81" * 2000 + b"\x00"  # 2,000 nested one-element arrays
    result = verdict(as_pass(nested, compress=True))
    assert result.reason is PassReason.MALFORMED


def test_huge_declared_lengths() -> None:
    # A byte string claiming 2**32 bytes, and a map claiming 2**32 entries.
    for header in (b"\x5a\xff\xff\xff\xff", b"\xba\xff\xff\xff\xff"):
        assert verdict(as_pass(header + b"\x00" * 10, compress=False)).reason \
            is PassReason.MALFORMED


def test_indefinite_length_items_that_never_end() -> None:
    assert verdict(as_pass(b"\x9f" * 500, compress=False)).reason is PassReason.MALFORMED


# -- live codes: a bound pass plus its holder's proof ------------------------------------------

HOLDER = Ed25519PrivateKey.generate()
BOUND = encode_pass(claims(holder_key=public_raw(HOLDER)), PLATFORM)
LIVE = encode_live(BOUND, HOLDER, NOW)
BOUND_ITEM = cbor2.dumps(base45.b45decode(BOUND[len(PREFIX):]))
LIVE_READINGS = {PassReason.OK, PassReason.MALFORMED, PassReason.BAD_PROOF,
                 PassReason.STALE_CODE, PassReason.FUTURE_CODE}


def live_verdict(text: str):  # type: ignore[no-untyped-def]
    result = verdict(text)
    assert result.reason in LIVE_READINGS, result
    return result


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=B45_ALPHABET, max_size=500))
def test_live_prefix_then_any_base45(body: str) -> None:
    assert not live_verdict(LIVE_PREFIX + body).valid


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_a_valid_bound_pass_then_any_bytes_is_a_bad_proof(tail: bytes) -> None:
    result = live_verdict(LIVE_PREFIX + base45.b45encode(BOUND_ITEM + tail).decode())
    assert result.reason is PassReason.BAD_PROOF and result.claims is not None


@settings(max_examples=200, deadline=None)
@given(cbor_values, cbor_values)
def test_a_valid_bound_pass_then_any_cbor_step_and_proof(step: object, proof: object) -> None:
    tail = cbor2.dumps(step) + cbor2.dumps(proof)
    result = live_verdict(LIVE_PREFIX + base45.b45encode(BOUND_ITEM + tail).decode())
    assert result.reason is PassReason.BAD_PROOF


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**64), st.binary(min_size=64, max_size=64))
def test_any_step_with_a_signature_that_is_not_the_holder_s(step: int, signature: bytes) -> None:
    tail = cbor2.dumps(step) + cbor2.dumps(signature)
    result = live_verdict(LIVE_PREFIX + base45.b45encode(BOUND_ITEM + tail).decode())
    assert result.reason is PassReason.BAD_PROOF


@settings(max_examples=200, deadline=None)
@given(st.integers(-(2**45), 2**45))
def test_the_holder_s_proof_for_any_step_has_a_reason_of_its_own(offset: int) -> None:
    step = max(0, step_of(NOW) + offset)
    proof = HOLDER.sign(proof_to_be_signed(COMPOUND, "pass-001", step))
    tail = cbor2.dumps(step) + cbor2.dumps(proof)
    result = live_verdict(LIVE_PREFIX + base45.b45encode(BOUND_ITEM + tail).decode())
    distance = step - step_of(NOW)
    expected = (PassReason.BAD_PROOF if step >= 2**40 else PassReason.OK if abs(distance) <= 1
                else PassReason.STALE_CODE if distance < 0 else PassReason.FUTURE_CODE)
    assert result.reason is expected


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mutated_live_codes_never_verify_as_something_else(data: st.DataObject) -> None:
    text = list(LIVE)
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(len(LIVE_PREFIX), len(text) - 1))
        action = data.draw(st.sampled_from(["flip", "insert", "delete"]))
        char = data.draw(st.sampled_from(B45_ALPHABET))
        if action == "flip":
            text[position] = char
        elif action == "insert":
            text.insert(position, char)
        elif len(text) > len(LIVE_PREFIX) + 1:
            del text[position]
    result = verdict("".join(text))  # any reason: the mutation may hit the pass itself
    if result.valid:  # base45 slack: the same bytes, so the same code
        assert base45.b45decode("".join(text)[len(LIVE_PREFIX):]) == base45.b45decode(
            LIVE[len(LIVE_PREFIX):])


@settings(max_examples=100, deadline=None)
@given(st.integers(len(LIVE_PREFIX), len(LIVE) - 1))
def test_truncated_live_codes(cut: int) -> None:
    assert not live_verdict(LIVE[:cut]).valid

"""Whatever the bytes, verification returns a verdict with a reason, quickly: never a crash."""

from __future__ import annotations

import time
import zlib

import base45
import cbor2
from hypothesis import given, settings
from hypothesis import strategies as st

from gate.passes import PassReason, encode_pass, verify_pass
from gate.passes.codec import PREFIX
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

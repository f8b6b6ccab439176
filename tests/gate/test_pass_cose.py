"""A gridgate pass is a standard COSE_Sign1 CWT: `cwt`, a COSE library written by others,
verifies its signature and reads its claims; and refuses one altered byte.

This is the only user of `cwt` (a test dependency, pinned in requirements.txt with its own
dependency pyhpke): the gate's verifier stays gate/passes/verify.py, whose checks (scopes,
revocations, compound) a generic library does not know.
"""

from __future__ import annotations

import zlib
from datetime import UTC, datetime, timedelta

import base45
import cwt
import pytest
from cwt import COSEKey

from gate.passes import PREFIX, encode_pass, generate_signing_key, verify_pass
from gate.passes.claims import PassReason
from gate.passes.codec import CTI, GG_CLAIM, SUB
from gate.passes.keys import raw_public
from tests.gate.passes_support import NO_REVOCATIONS, PLATFORM, claims, trusting


def _cose_bytes(text: str) -> bytes:
    """The pass text back to its COSE_Sign1 bytes (prefix, base45, zlib when compressed)."""
    assert text.startswith(PREFIX)
    body = base45.b45decode(text[len(PREFIX):])
    return zlib.decompress(body) if body[:1] == b"\x78" else body


def _public_cose_key() -> COSEKey:
    return COSEKey.new({1: 1, -1: 6, -2: raw_public(PLATFORM.public_key),  # OKP Ed25519
                              3: -8, 2: bytes.fromhex(PLATFORM.key_id)})


def _current_pass() -> str:
    now = datetime.now(UTC).replace(microsecond=0)
    return encode_pass(claims(issued_at=now - timedelta(hours=1),
                              not_before=now - timedelta(hours=1),
                              expires_at=now + timedelta(days=1)), PLATFORM)


def test_a_standard_cose_library_verifies_a_gridgate_pass() -> None:
    text = _current_pass()
    decoded = cwt.decode(_cose_bytes(text), keys=[_public_cose_key()])
    assert decoded[SUB] == "p-101" and decoded[CTI] == "pass-001"
    assert decoded[GG_CLAIM][:2] == ["h-1", "wenjiang-01"]
    # and the gate's own verifier agrees on the same text
    check = verify_pass(text, trusting(PLATFORM), NO_REVOCATIONS, compound_id="wenjiang-01",
                        now=datetime.now(UTC))
    assert check.valid and check.reason is PassReason.OK


def test_the_library_refuses_an_altered_pass_and_another_key() -> None:
    cose = bytearray(_cose_bytes(_current_pass()))
    cose[-1] ^= 0x01  # the last byte of the signature
    with pytest.raises(cwt.VerifyError):
        cwt.decode(bytes(cose), keys=[_public_cose_key()])
    stranger = generate_signing_key()
    key = COSEKey.new({1: 1, -1: 6, -2: raw_public(stranger.public_key), 3: -8,
                             2: bytes.fromhex(PLATFORM.key_id)})
    with pytest.raises(cwt.VerifyError):
        cwt.decode(_cose_bytes(_current_pass()), keys=[key])

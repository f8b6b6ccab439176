"""Offline pass verification: never raises, bounded in time and memory whatever the input."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import base45
import cbor2
from cryptography.exceptions import InvalidSignature

from gate.passes.claims import PassCheck, PassClaims, PassReason
from gate.passes.codec import (
    ALG,
    COSE_SIGN1_TAG,
    EDDSA,
    KID,
    PREFIX,
    PassFormatError,
    claims_from_map,
    sig_structure,
)
from gate.passes.live import LIVE_PREFIX, check_proof, split_live, without_proof
from gate.passes.trust import PASS_SCOPES, Revocations, TrustList

MAX_TEXT = 4296  # the most a QR code can hold in alphanumeric mode
MAX_COSE = 2048  # decompressed bytes; a real pass is about 150 (stops zlib bombs)


@dataclass(frozen=True)
class _Envelope:
    key_id: str
    protected: bytes
    payload: bytes
    signature: bytes


def _loads(data: bytes, what: str) -> Any:
    try:
        return cbor2.loads(data)
    except RecursionError:
        raise PassFormatError(f"{what} is nested too deeply") from None
    except Exception as exc:  # cbor2 raises many kinds on hostile input; all mean malformed
        raise PassFormatError(f"{what} is not valid CBOR ({type(exc).__name__})") from None


def _inflate(compressed: bytes) -> bytes:
    inflater = zlib.decompressobj()
    try:
        cose = inflater.decompress(compressed, MAX_COSE)
    except zlib.error as exc:
        raise PassFormatError(f"not zlib data: {exc}") from None
    if inflater.unconsumed_tail or not inflater.eof:
        raise PassFormatError("compressed data is truncated or expands beyond any real pass")
    return cose


def _text(text: object) -> str:
    if not isinstance(text, str):
        raise PassFormatError("a pass is text")
    text = text.strip()
    if len(text) > MAX_TEXT:
        raise PassFormatError("too long for a pass")
    return text


def _open(text: object) -> _Envelope:
    text = _text(text)
    if not text.startswith(PREFIX):
        raise PassFormatError(f"not a gridgate pass (no {PREFIX} prefix)")
    try:
        compressed = base45.b45decode(text[len(PREFIX):])
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise PassFormatError(f"not base45: {exc}") from None
    return _open_body(compressed)


def _open_body(compressed: bytes) -> _Envelope:
    cose = _inflate(compressed) if compressed[:1] == b"\x78" else compressed
    if len(cose) > MAX_COSE:
        raise PassFormatError("larger than any real pass")
    message = _loads(cose, "the pass")
    if isinstance(message, cbor2.CBORTag):
        if message.tag != COSE_SIGN1_TAG:
            raise PassFormatError(f"CBOR tag {message.tag} is not COSE_Sign1")
        message = message.value
    if (not isinstance(message, list) or len(message) != 4
            or not isinstance(message[0], bytes) or not isinstance(message[1], dict)
            or not isinstance(message[2], bytes) or not isinstance(message[3], bytes)):
        raise PassFormatError("not a COSE_Sign1 structure")
    header = _loads(message[0], "the protected header")
    if not isinstance(header, dict) or header.get(ALG) != EDDSA:
        raise PassFormatError("the protected header does not name EdDSA")
    kid = header.get(KID)
    if not isinstance(kid, bytes) or not 1 <= len(kid) <= 32:
        raise PassFormatError("the protected header has no key id")
    return _Envelope(kid.hex(), message[0], message[2], message[3])


def decode_unverified(text: str) -> tuple[str, PassClaims]:
    """Key id and claims WITHOUT checking the signature: for tooling, never for decisions."""
    envelope = _open(text)
    return envelope.key_id, claims_from_map(_loads(envelope.payload, "the claims"))


def verify_pass(text: str, trust: TrustList, revocations: Revocations, compound_id: str,
                now: datetime, leeway_s: int = 60) -> PassCheck:
    """Check a pass text or a live code; the verdict has a distinct reason for each way it
    can fail (a live code: the pass first, then its holder's proof)."""
    try:
        text = _text(text)
        if text.startswith(LIVE_PREFIX):
            parts = split_live(text)
            check = _verify(_open_body(parts.pass_body), trust, revocations, compound_id, now,
                            leeway_s)
            return check_proof(check, parts, compound_id, now)
        return without_proof(_verify(_open(text), trust, revocations, compound_id, now,
                                     leeway_s))
    except PassFormatError as exc:
        return PassCheck(False, PassReason.MALFORMED, str(exc))
    except Exception as exc:  # the promise is: no input crashes the gate
        return PassCheck(False, PassReason.MALFORMED, f"unreadable ({type(exc).__name__})")


def _verify(envelope: _Envelope, trust: TrustList, revocations: Revocations,
            compound_id: str, now: datetime, leeway_s: int) -> PassCheck:
    # Order: nothing inside the payload is believed before the signature verifies; then the
    # permanent facts (scope, compound) before the ones that change with time and lists.
    kid = envelope.key_id
    key = trust.get(kid)
    if key is None:
        return PassCheck(False, PassReason.UNKNOWN_KEY, f"signed by unknown key {kid}", key_id=kid)
    try:
        key.public_key.verify(envelope.signature,
                              sig_structure(envelope.protected, envelope.payload))
    except InvalidSignature:
        return PassCheck(False, PassReason.BAD_SIGNATURE,
                         "signature does not verify: forged or altered", key_id=kid)
    claims = claims_from_map(_loads(envelope.payload, "the claims"))
    leeway = timedelta(seconds=leeway_s)
    if key.not_after is not None and claims.issued_at > key.not_after:
        return PassCheck(False, PassReason.UNKNOWN_KEY,
                         f"key {kid} was retired before this pass was issued", claims, kid)
    if key.scope == "visitor" and claims.kind.value != "visitor":
        return PassCheck(False, PassReason.KEY_NOT_ALLOWED,
                         f"key {kid} may sign visitor passes only", claims, kid)
    if key.scope not in PASS_SCOPES:  # "platform" and "gate" keys sign no pass at all
        what = "a gate's messages" if key.scope == "gate" else "platform data"
        return PassCheck(False, PassReason.KEY_NOT_ALLOWED,
                         f"key {kid} signs {what}, not passes", claims, kid)
    if claims.compound_id != compound_id:
        return PassCheck(False, PassReason.OTHER_COMPOUND,
                         f"issued for compound {claims.compound_id}", claims, kid)
    if now < claims.not_before - leeway:
        return PassCheck(False, PassReason.NOT_YET_VALID,
                         f"valid from {claims.not_before.isoformat()}", claims, kid)
    if now > claims.expires_at + leeway:
        return PassCheck(False, PassReason.EXPIRED,
                         f"expired {claims.expires_at.isoformat()}", claims, kid)
    if revocations.is_revoked(claims.pass_id):
        return PassCheck(False, PassReason.REVOKED, f"pass {claims.pass_id} was revoked",
                         claims, kid)
    return PassCheck(True, PassReason.OK, "valid", claims, kid)

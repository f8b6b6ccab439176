"""The pass format, as the EU Digital COVID Certificate lays it out:

    "GG1:" + base45( zlib( COSE_Sign1[ protected{alg: EdDSA, kid}, {}, CWT claims, signature ] ) )

CWT claims use the standard keys (sub = person, cti = pass id, iat/nbf/exp as integer
seconds) plus one private claim holding a short array, which keeps the QR code small.
A pass is ~150 bytes, most of it the 64-byte signature, which zlib cannot shrink: like lenient
DCC verifiers we store it uncompressed when zlib would make it longer (zlib data starts with
0x78, a tagged COSE_Sign1 with 0xD2, so a reader tells them apart). iat is left out when it
equals nbf, the usual case.

A holder-bound pass adds the standard confirmation claim (RFC 8747): cnf = {1: COSE_Key},
the holder's Ed25519 key as {1 kty: 1 OKP, -1 crv: 6 Ed25519, -2 x: 32 bytes}.
"""

from __future__ import annotations

import zlib
from datetime import UTC, datetime
from typing import Any

import base45
import cbor2

from gate.errors import GridgateError
from gate.model import Colour, PersonKind
from gate.passes.claims import PassClaims
from gate.passes.keys import SigningKey

PREFIX = "GG1:"
COSE_SIGN1_TAG = 18
ALG, KID, EDDSA = 1, 4, -8
SUB, EXP, NBF, IAT, CTI, CNF = 2, 4, 5, 6, 7, 8
CNF_COSE_KEY, KTY, OKP, CRV, ED25519, X = 1, 1, 1, -1, 6, -2  # RFC 8747, RFC 9053
GG_CLAIM = -70001  # private-use claim key (below -65536, RFC 8392)
COLOURS = (Colour.GREEN, Colour.YELLOW, Colour.RED, Colour.WHITE)
KINDS = (PersonKind.RESIDENT, PersonKind.VISITOR)


class PassFormatError(GridgateError, ValueError):
    """The text is not a well-formed pass (says nothing about its signature)."""


def _seconds(when: datetime) -> int:
    if when.tzinfo is None:
        raise PassFormatError("pass times must be timezone-aware")
    return int(when.timestamp())


def claims_to_cbor(claims: PassClaims) -> bytes:
    """The CWT claims map, encoded."""
    private = [claims.household_id, claims.compound_id, COLOURS.index(claims.colour),
               KINDS.index(claims.kind), claims.grid_id, claims.host_household_id]
    while private and private[-1] is None:  # trailing optional fields cost bytes
        private.pop()
    claims_map: dict[int, Any] = {CTI: claims.pass_id, SUB: claims.person_id}
    if claims.issued_at != claims.not_before:
        claims_map[IAT] = _seconds(claims.issued_at)
    claims_map |= {NBF: _seconds(claims.not_before), EXP: _seconds(claims.expires_at),
                   GG_CLAIM: private}
    if claims.holder_key is not None:
        if len(claims.holder_key) != 32:
            raise PassFormatError("a holder key is the 32 raw bytes of an Ed25519 public key")
        claims_map[CNF] = {CNF_COSE_KEY: {KTY: OKP, CRV: ED25519, X: claims.holder_key}}
    return cbor2.dumps(claims_map)


def sig_structure(protected: bytes, payload: bytes) -> bytes:
    """What COSE_Sign1 signs (RFC 9052 section 4.4), with no external data."""
    return cbor2.dumps(["Signature1", protected, b"", payload])


def encode_pass(claims: PassClaims, key: SigningKey) -> str:
    """Sign the claims and produce the pass text that goes into the QR code."""
    protected = cbor2.dumps({ALG: EDDSA, KID: bytes.fromhex(key.key_id)})
    payload = claims_to_cbor(claims)
    signature = key.sign(sig_structure(protected, payload))
    cose = cbor2.dumps(cbor2.CBORTag(COSE_SIGN1_TAG, [protected, {}, payload, signature]))
    compressed = zlib.compress(cose, 9)
    body = compressed if len(compressed) < len(cose) else cose
    encoded: bytes = base45.b45encode(body)  # base45 has no type hints
    return PREFIX + encoded.decode("ascii")


def _text(value: Any, name: str, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= 64:
        raise PassFormatError(f"claim {name} must be a text of 1-64 characters")
    return value


def _time(value: Any, name: str) -> datetime:
    if type(value) is not int or not 0 <= value < 2**40:
        raise PassFormatError(f"claim {name} must be integer seconds")
    return datetime.fromtimestamp(value, UTC)


def _holder_key(cnf: Any) -> bytes | None:
    """The holder's raw Ed25519 key from a `cnf` claim; any other form is a format error."""
    if cnf is None:
        return None
    key = cnf.get(CNF_COSE_KEY) if isinstance(cnf, dict) and len(cnf) == 1 else None
    if (not isinstance(key, dict) or key.get(KTY) != OKP or key.get(CRV) != ED25519
            or type(key.get(KTY)) is not int or type(key.get(CRV)) is not int):
        raise PassFormatError("cnf claim is not an Ed25519 COSE_Key")
    x = key.get(X)
    if not isinstance(x, bytes) or len(x) != 32:
        raise PassFormatError("cnf claim: the key is not 32 bytes")
    return x


def claims_from_map(claims: Any) -> PassClaims:
    """Strictly check and convert a decoded claims map; any wrong type is a format error."""
    if not isinstance(claims, dict):
        raise PassFormatError("claims are not a map")
    private = claims.get(GG_CLAIM)
    if not isinstance(private, list) or not 4 <= len(private) <= 6:
        raise PassFormatError("gridgate claim missing or of the wrong shape")
    private = private + [None] * (6 - len(private))
    colour, kind = private[2], private[3]
    if type(colour) is not int or not 0 <= colour < len(COLOURS):
        raise PassFormatError("colour claim out of range")
    if type(kind) is not int or not 0 <= kind < len(KINDS):
        raise PassFormatError("kind claim out of range")
    return PassClaims(
        pass_id=_text(claims.get(CTI), "cti") or "",
        person_id=_text(claims.get(SUB), "sub") or "",
        household_id=_text(private[0], "household") or "",
        compound_id=_text(private[1], "compound") or "",
        colour=COLOURS[colour],
        issued_at=_time(claims.get(IAT, claims.get(NBF)), "iat"),
        not_before=_time(claims.get(NBF), "nbf"),
        expires_at=_time(claims.get(EXP), "exp"),
        kind=KINDS[kind],
        grid_id=_text(private[4], "grid", optional=True),
        host_household_id=_text(private[5], "host household", optional=True),
        holder_key=_holder_key(claims.get(CNF)),
    )

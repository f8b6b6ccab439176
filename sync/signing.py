"""Signed platform messages: the pass keys and COSE signing structure, carried in JSON.

Wire form (one MQTT payload):

    {"schema_version": 1, "alg": "EdDSA", "kid": "<16 hex>", "payload": "<JSON text>",
     "signature": "<base64 Ed25519 signature>"}

The signature covers the COSE_Sign1 Sig_structure of a protected header {alg: EdDSA, kid}
and the UTF-8 bytes of `payload`, exactly as a pass is signed (gate.passes.codec), so the
message converts losslessly to COSE_Sign1. Only keys of a platform scope may sign.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import cbor2
from cryptography.exceptions import InvalidSignature
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gate.errors import GridgateError
from gate.passes import SigningKey, TrustList
from gate.passes.codec import ALG, EDDSA, KID, sig_structure

# "all" keys are the platform's own (they sign any pass, so they could open a door already);
# "platform" is accepted too for a dedicated document/command key. Never "visitor".
SIGNER_SCOPES = frozenset({"all", "platform"})


class MessageError(GridgateError, ValueError):
    """An inbound message is malformed; `reason` is a short counter name."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        super().__init__(f"{reason}: {detail}")


class SignatureError(MessageError):
    """A message is unsigned, signed by an unknown or unauthorised key, or forged."""


class SignedEnvelope(BaseModel):
    """The JSON wrapper of a signed message."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = 1
    alg: Literal["EdDSA"] = "EdDSA"
    kid: str = Field(..., pattern=r"^[0-9a-f]{16}$")
    payload: str = Field(..., min_length=2)
    signature: str = Field(..., min_length=1, max_length=200)


@dataclass(frozen=True)
class Verified:
    """A payload whose signature checked out, with who signed it."""

    payload: dict[str, Any]
    key_id: str


def _protected(kid: str) -> bytes:
    return cbor2.dumps({ALG: EDDSA, KID: bytes.fromhex(kid)})


def sign_payload(payload: dict[str, Any], key: SigningKey) -> bytes:
    """The wire bytes of `payload` signed with `key`."""
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str)
    signature = key.sign(sig_structure(_protected(key.key_id), text.encode("utf-8")))
    envelope = SignedEnvelope(kid=key.key_id, payload=text,
                              signature=base64.b64encode(signature).decode("ascii"))
    return envelope.model_dump_json().encode("utf-8")


def open_envelope(raw: bytes) -> SignedEnvelope:
    """Parse the wire JSON without trusting anything in it yet."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise MessageError("malformed", f"not JSON ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise MessageError("malformed", "not a JSON object")
    if "signature" not in data or "kid" not in data:
        raise SignatureError("unsigned", "no signature or key id")
    try:
        return SignedEnvelope.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise MessageError("malformed", f"envelope {where}: {first['msg']}") from None


def verify(raw: bytes, trust: TrustList, now: datetime,
           scopes: frozenset[str] = SIGNER_SCOPES) -> Verified:
    """Check the signature against the trust list; raise SignatureError or MessageError."""
    envelope = open_envelope(raw)
    key = trust.get(envelope.kid)
    if key is None:
        raise SignatureError("unknown_key", f"signed by unknown key {envelope.kid}")
    if key.scope not in scopes:
        raise SignatureError("key_not_allowed",
                             f"key {envelope.kid} (scope {key.scope}) may not sign platform data")
    if key.not_after is not None and now > key.not_after:
        raise SignatureError("key_retired", f"key {envelope.kid} retired {key.not_after}")
    try:
        signature = base64.b64decode(envelope.signature, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("bad_signature", "signature is not base64") from None
    body = envelope.payload.encode("utf-8")
    try:
        key.public_key.verify(signature, sig_structure(_protected(envelope.kid), body))
    except InvalidSignature:
        raise SignatureError("bad_signature", "signature does not verify: forged or "
                             "altered") from None
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        raise MessageError("malformed", "signed payload is not JSON") from None
    if not isinstance(payload, dict):
        raise MessageError("malformed", "signed payload is not a JSON object")
    return Verified(payload, envelope.kid)

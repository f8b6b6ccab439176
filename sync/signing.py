"""Signed platform messages: the pass keys and COSE signing structure, checked before parsing.

Wire form (one MQTT payload): a header line, a line feed (0x0A), then the payload exactly as
it was signed:

    {"schema_version":2,"alg":"EdDSA","kid":"<16 hex>","signature":"<base64 Ed25519>"}
    {"type":"document",...}

The signature covers the COSE_Sign1 Sig_structure of a protected header {alg: EdDSA, kid}
and the payload bytes, exactly as a pass is signed (gate.passes.codec), so the message
converts losslessly to COSE_Sign1. Only keys of a platform scope may sign.

Nothing in a message is parsed before its signature checked out: the header (at most
HEADER_MAX_BYTES) names the key, the key is looked up, and Ed25519 is verified over the
payload bytes as they came (cryptography releases the interpreter lock meanwhile); only then is
the payload parsed. An unsigned, malformed or unknown-key message costs microseconds whatever
its size, a forged one with a known key id one signature check.

The first wire form, one JSON object carrying the payload as a JSON string,

    {"schema_version": 1, "alg": "EdDSA", "kid": "...", "payload": "<JSON text>",
     "signature": "..."}

is still accepted in that layout (fields in that order, JSON whitespace between them), located
the same way without parsing, but only up to LEGACY_MAX_BYTES: its signed bytes exist only once
the payload string is unescaped, a pass over the text that holds the interpreter lock, so a
large one cannot be checked as cheaply and is refused (`legacy_too_large`).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import cbor2
from cryptography.exceptions import InvalidSignature
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gate.errors import GridgateError
from gate.passes import SigningKey, TrustList
from gate.passes.codec import ALG, EDDSA, KID
from gate.passes.trust import TrustedKey
from sync.receive import Payload
from sync.slices import TimeSlices

# "all" keys are the platform's own (they sign any pass, so they could open a door already);
# "platform" is accepted too for a dedicated document/command key. Never "visitor".
SIGNER_SCOPES = frozenset({"all", "platform"})
HEADER_MAX_BYTES = 512  # the header line; a real one is about 140 bytes
SCREEN_BYTES = 1024  # what `screen` needs to see of a message
LEGACY_MAX_BYTES = 64 * 1024  # the JSON-envelope form above this is refused
_WINDOW = 512  # bytes looked at, at each end, to locate the parts of the JSON-envelope form
_WS = rb"[ \t\n\r]*"
_OBJECT = re.compile(_WS + rb"\{")
_LEGACY_HEAD = re.compile(
    _WS + rb'\{' + _WS + rb'"schema_version"' + _WS + rb":" + _WS + rb"1" + _WS + rb"," + _WS
    + rb'"alg"' + _WS + rb":" + _WS + rb'"EdDSA"' + _WS + rb"," + _WS + rb'"kid"' + _WS + rb":"
    + _WS + rb'"([0-9a-f]{16})"' + _WS + rb"," + _WS + rb'"payload"' + _WS + rb":" + _WS + rb'"')
_LEGACY_TAIL = re.compile(
    rb'"' + _WS + rb"," + _WS + rb'"signature"' + _WS + rb":" + _WS
    + rb'"([A-Za-z0-9+/=]{1,200})"' + _WS + rb"\}" + _WS + rb"\Z")
_SIGNATURE1 = cbor2.dumps("Signature1")


class MessageError(GridgateError, ValueError):
    """An inbound message is malformed; `reason` is a short counter name."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        super().__init__(f"{reason}: {detail}")


class SignatureError(MessageError):
    """A message is unsigned, signed by an unknown or unauthorised key, or forged."""


class SignedHeader(BaseModel):
    """The header line of a signed message."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[2] = 2
    alg: Literal["EdDSA"] = "EdDSA"
    kid: str = Field(..., pattern=r"^[0-9a-f]{16}$")
    signature: str = Field(..., min_length=1, max_length=200)


@dataclass(frozen=True)
class Verified:
    """A payload whose signature checked out, with who signed it."""

    payload: dict[str, Any]
    key_id: str


@dataclass(frozen=True)
class _Located:
    """Where a message's parts are, found without parsing the payload; nothing checked yet."""

    kid: str
    signature: str  # base64
    start: int  # the signed payload: raw[start:end] (header form) or the JSON string literal
    end: int
    literal: bool  # True: raw[start:end] is a JSON string literal holding the payload text


def _protected(kid: str) -> bytes:
    return cbor2.dumps({ALG: EDDSA, KID: bytes.fromhex(kid)})


def _bstr_head(length: int) -> bytes:
    """The CBOR head of a byte string of `length` bytes (shortest form, as cbor2 writes it)."""
    if length < 24:
        return bytes([0x40 | length])
    for marker, size in ((0x58, 1), (0x59, 2), (0x5A, 4), (0x5B, 8)):
        if length < 1 << (8 * size):
            return bytes([marker]) + length.to_bytes(size, "big")
    raise ValueError("payload too large for CBOR")


def signed_bytes(protected: bytes, payload: bytes | memoryview) -> bytes:
    """What COSE_Sign1 signs (RFC 9052 4.4): ["Signature1", protected, b"", payload], the same
    bytes as gate.passes.codec.sig_structure, built with a single copy of the payload."""
    head = b"\x84" + _SIGNATURE1 + _bstr_head(len(protected)) + protected + b"\x40"
    return b"".join((head, _bstr_head(len(payload)), payload))


def sign_payload(payload: dict[str, Any], key: SigningKey) -> bytes:
    """The wire bytes of `payload` signed with `key` (the header-line form)."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"),
                      default=str).encode("utf-8")
    signature = key.sign(signed_bytes(_protected(key.key_id), body))
    header = SignedHeader(kid=key.key_id, signature=base64.b64encode(signature).decode("ascii"))
    return header.model_dump_json().encode("ascii") + b"\n" + body


def _header_line(raw: Payload) -> tuple[SignedHeader, int] | None:
    """The header line and where it ends, or None when the message does not start with one."""
    end = raw.find(b"\n", 0, HEADER_MAX_BYTES + 1)
    if end < 0:
        return None
    try:
        data = json.loads(raw[:end])
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None  # the first line of something else (an indented JSON object)
    if not isinstance(data, dict) or data.get("schema_version") != 2:
        return None
    if "signature" not in data or "kid" not in data:
        raise SignatureError("unsigned", "header without signature or key id")
    try:
        return SignedHeader.model_validate(data), end
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise MessageError("malformed", f"header {where}: {first['msg']}") from None


def _envelope_head(raw: Payload) -> re.Match[bytes]:
    """The start of the JSON-envelope form, up to its payload string (its key id in group 1)."""
    if not _OBJECT.match(raw, 0, _WINDOW):
        raise MessageError("malformed", "not a JSON object")
    head = _LEGACY_HEAD.match(raw, 0, _WINDOW)
    if head is not None:
        return head
    if b'"kid"' in raw[:_WINDOW] or b'"schema_version"' in raw[:_WINDOW]:
        raise MessageError("malformed", "not a signed message in a layout the gate reads (a "
                           "header line, or the JSON envelope with schema_version, alg, kid, "
                           "payload and signature in that order)")
    raise SignatureError("unsigned", "no signature or key id")


def _screened(raw: Payload, size: int, trust: TrustList, now: datetime,
              scopes: frozenset[str]) -> tuple[TrustedKey, tuple[SignedHeader, int] | None,
                                                re.Match[bytes] | None]:
    """Every check that needs only the first bytes of a message of `size` bytes: its form,
    its key (known, allowed, not retired), the size the JSON-envelope form may have."""
    line, head = _header_line(raw), None
    if line is not None:
        kid = line[0].kid
    else:
        head = _envelope_head(raw)
        kid = head.group(1).decode("ascii")
    key = trust.get(kid)
    if key is None:
        raise SignatureError("unknown_key", f"signed by unknown key {kid}")
    if key.scope not in scopes:
        raise SignatureError("key_not_allowed",
                             f"key {kid} (scope {key.scope}) may not sign platform data")
    if key.not_after is not None and now > key.not_after:
        raise SignatureError("key_retired", f"key {kid} retired {key.not_after}")
    if head is not None and size > LEGACY_MAX_BYTES:
        raise MessageError("legacy_too_large",
                           f"{size} bytes in the JSON-envelope form, which is read up to "
                           f"{LEGACY_MAX_BYTES}; the platform must send the header-line form")
    return key, line, head


def screen(head: Payload, size: int, trust: TrustList, now: datetime,
           scopes: frozenset[str] = SIGNER_SCOPES) -> None:
    """Raise what `verify` would raise before it checks the signature, knowing only the first
    SCREEN_BYTES bytes of a message (or all of it) and its size: a message refused here need
    not be read any further (sync.receive skips the rest)."""
    _screened(head, size, trust, now, scopes)


def _locate(raw: Payload, line: tuple[SignedHeader, int] | None,
            head: re.Match[bytes] | None) -> _Located:
    if line is not None:
        header, end = line
        return _Located(header.kid, header.signature, end + 1, len(raw), literal=False)
    assert head is not None
    tail_from = max(0, len(raw) - _WINDOW)
    tail = _LEGACY_TAIL.search(raw, tail_from)
    if tail is None or tail.start() < head.end():
        raise MessageError("malformed", "the JSON envelope does not end with its signature")
    return _Located(head.group(1).decode("ascii"), tail.group(1).decode("ascii"),
                    head.end() - 1, tail.start() + 1, literal=True)


def _payload_bytes(raw: Payload, where: _Located) -> bytes | memoryview:
    if not where.literal:
        return memoryview(raw)[where.start:where.end]
    try:
        text = json.loads(raw[where.start:where.end])  # one string literal: nothing nested
        if isinstance(text, str):
            return text.encode("utf-8")
    except (ValueError, UnicodeError, RecursionError):
        pass
    raise MessageError("malformed", "envelope payload is not a JSON string")


def _signed(raw: Payload, where: _Located, body: bytes | memoryview,
            in_place: bool) -> bytes | memoryview:
    """The signed structure: built in front of the payload when allowed, else a copy."""
    protected = _protected(where.kid)
    if in_place and not where.literal and not isinstance(raw, bytes):
        head = (b"\x84" + _SIGNATURE1 + _bstr_head(len(protected)) + protected + b"\x40"
                + _bstr_head(len(body)))
        if len(head) < where.start:  # the header line is longer: it is read already
            view = memoryview(raw)
            view[where.start - len(head):where.start] = head
            return view[where.start - len(head):where.end]
    return signed_bytes(protected, body)


_JSON_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


def loads_in_steps(text: str, levels: int = 3) -> Any:
    """json.loads, but the objects and arrays of the first `levels` levels are read one member
    at a time, in time slices (sync.slices): a 15 MB roster is then thousands of short parser
    calls with pauses between, not one call that holds the interpreter lock for a fifth of a
    second while the door's thread waits. The result is what json.loads gives."""
    value, end = _json_value(text, _skip(text, 0), levels, TimeSlices())
    if _skip(text, end) != len(text):
        raise ValueError("extra data after the JSON value")
    return value


def _skip(text: str, pos: int) -> int:
    """Past the JSON whitespace at `pos`."""
    space = _JSON_WS.match(text, pos)
    return space.end() if space else pos


def _json_value(text: str, pos: int, levels: int, slices: TimeSlices) -> tuple[Any, int]:
    opening = text[pos:pos + 1]
    if levels <= 0 or opening not in ("[", "{"):
        return _DECODER.raw_decode(text, pos)
    closing = "]" if opening == "[" else "}"
    items: list[Any] = []
    members: dict[str, Any] = {}
    pos = _skip(text, pos + 1)
    if text[pos:pos + 1] == closing:
        return (items if opening == "[" else members), pos + 1
    while True:
        if opening == "{":
            key, pos = _DECODER.raw_decode(text, pos) if text[pos:pos + 1] == '"' else (0, pos)
            if not isinstance(key, str):
                raise ValueError(f"expected a member name at {pos}")
            pos = _skip(text, pos)
            if text[pos:pos + 1] != ":":
                raise ValueError(f"expected ':' at {pos}")
            members[key], pos = _json_value(text, _skip(text, pos + 1), levels - 1, slices)
        else:
            item, pos = _json_value(text, pos, levels - 1, slices)
            items.append(item)
        slices()
        pos = _skip(text, pos)
        separator = text[pos:pos + 1]
        if separator == closing:
            return (items if opening == "[" else members), pos + 1
        if separator != ",":
            raise ValueError(f"expected ',' or {closing!r} at {pos}")
        pos = _skip(text, pos + 1)


def verify(raw: Payload, trust: TrustList, now: datetime,
           scopes: frozenset[str] = SIGNER_SCOPES, *, in_place: bool = False) -> Verified:
    """Check the signature against the trust list, then parse the payload; raise
    SignatureError or MessageError. Nothing is parsed before the signature checked out.

    `in_place`: `raw` (a bytearray or memory map) may be written to, so the few bytes of the
    header line before the payload become the head of the signed structure and the payload
    is verified where it lies, without a copy."""
    key, line, head = _screened(raw, len(raw), trust, now, scopes)
    where = _locate(raw, line, head)
    try:
        signature = base64.b64decode(where.signature, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("bad_signature", "signature is not base64") from None
    body = _payload_bytes(raw, where)
    try:
        key.public_key.verify(signature, _signed(raw, where, body, in_place))
    except InvalidSignature:
        raise SignatureError("bad_signature", "signature does not verify: forged or "
                             "altered") from None
    try:
        payload = loads_in_steps(str(body, "utf-8"))
    except (ValueError, RecursionError):
        raise MessageError("malformed", "signed payload is not UTF-8 JSON") from None
    if not isinstance(payload, dict):
        raise MessageError("malformed", "signed payload is not a JSON object")
    return Verified(payload, where.kid)

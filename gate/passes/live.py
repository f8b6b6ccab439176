"""Live codes: a holder-bound pass plus its holder's proof of the current 30-second step.

    "GL1:" + base45( bstr(pass body) || uint step || bstr(64) proof )   (a CBOR sequence)

The pass body is the bound pass exactly as it follows "GG1:" (base45-decoded: zlib or a tagged
COSE_Sign1). `step` is floor(unix seconds / 30) on the holder's phone. The proof is the Ed25519
signature, by the key of the pass's `cnf` claim, of a COSE_Sign1 with an empty protected header
over the detached payload ["gridgate-live-1", compound id, pass id, step]: any COSE library
verifies it. A screenshot is worthless a minute later; each code opens once per direction.
"""

from __future__ import annotations

import base64
import binascii
import io
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import base45
import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gate.errors import KeyFileError
from gate.passes.claims import PassCheck, PassReason
from gate.passes.codec import PREFIX, PassFormatError
from gate.passes.keys import raw_public

LIVE_PREFIX = "GL1:"
STEP_S = 30
WINDOW_STEPS = 1  # the gate accepts its own step and one on either side
LIVE_CONTEXT = "gridgate-live-1"
SIGNATURE_BYTES = 64
MAX_STEP = 2**40  # far beyond any real clock; bounds what a hostile code can make us compute
PROOF_REASONS = frozenset({PassReason.STALE_CODE, PassReason.FUTURE_CODE, PassReason.REPLAYED,
                           PassReason.BAD_PROOF})


def step_of(when: datetime) -> int:
    """The live-code step a moment falls in."""
    return int(when.timestamp()) // STEP_S


def step_start(step: int) -> datetime:
    """When a step begins (UTC)."""
    return datetime.fromtimestamp(step * STEP_S, UTC)


def proof_payload(compound_id: str, pass_id: str, step: int) -> bytes:
    """The detached payload the holder signs (never sent: both sides rebuild it)."""
    return cbor2.dumps([LIVE_CONTEXT, compound_id, pass_id, step])


def proof_to_be_signed(compound_id: str, pass_id: str, step: int) -> bytes:
    """The COSE Sig_structure of the proof: ["Signature1", h'', h'', payload] (RFC 9052 4.4)."""
    return cbor2.dumps(["Signature1", b"", b"", proof_payload(compound_id, pass_id, step)])


@dataclass(frozen=True)
class LiveParts:
    """A live code taken apart: the pass body, and the proof or why it cannot be read."""

    pass_body: bytes
    step: int | None = None
    proof: bytes | None = None
    problem: str | None = None  # set when the proof part is unreadable (the pass may be fine)


def encode_live(pass_text: str, holder: Ed25519PrivateKey, when: datetime) -> str:
    """The live code for `when` (what the holder page computes; here for tests and tools)."""
    from gate.passes.verify import decode_unverified  # verify imports this module

    _, claims = decode_unverified(pass_text)
    body: bytes = base45.b45decode(pass_text.strip()[len(PREFIX):])
    step = step_of(when)
    proof = holder.sign(proof_to_be_signed(claims.compound_id, claims.pass_id, step))
    encoded: bytes = base45.b45encode(cbor2.dumps(body) + cbor2.dumps(step) + cbor2.dumps(proof))
    return LIVE_PREFIX + encoded.decode("ascii")


def split_live(text: str) -> LiveParts:
    """Take a live code apart. Raises PassFormatError only when the pass part is unreadable;
    an unreadable proof (truncated, malformed) comes back as `problem`."""
    data = text[len(LIVE_PREFIX):]
    cut = False
    try:
        raw: bytes = base45.b45decode(data)
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        if len(data) % 3 == 0:
            raise PassFormatError(f"not base45: {exc}") from None
        try:  # a code cut short inside a group: the pass may still be whole
            raw = base45.b45decode(data[:len(data) - len(data) % 3])
            cut = True
        except (ValueError, TypeError, KeyError, IndexError):
            raise PassFormatError(f"not base45: {exc}") from None
    stream = io.BytesIO(raw)
    decoder = cbor2.CBORDecoder(stream)
    try:
        body = decoder.decode()
    except RecursionError:
        raise PassFormatError("the live code is nested too deeply") from None
    except Exception as exc:  # cbor2 raises many kinds on hostile input
        raise PassFormatError(f"the live code is not valid CBOR ({type(exc).__name__})") from None
    if not isinstance(body, bytes):
        raise PassFormatError("a live code starts with the pass it carries")
    try:
        step, proof = decoder.decode(), decoder.decode()
    except Exception:
        return LiveParts(body, problem="truncated" if cut or stream.tell() >= len(raw)
                         else "not CBOR after the pass")
    if type(step) is not int or not 0 <= step < MAX_STEP:
        return LiveParts(body, problem="the step is not a time step")
    if not isinstance(proof, bytes) or len(proof) != SIGNATURE_BYTES:
        return LiveParts(body, problem=f"the proof is not a {SIGNATURE_BYTES}-byte signature")
    if cut or stream.tell() != len(raw):
        return LiveParts(body, problem="truncated" if cut else "bytes after the proof")
    return LiveParts(body, step, proof)


def _at(step: int) -> str:
    try:
        return step_start(step).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (ValueError, OverflowError, OSError):  # a step beyond the calendar
        return f"step {step}"


def check_proof(check: PassCheck, parts: LiveParts, compound_id: str,
                now: datetime) -> PassCheck:
    """A verified pass's verdict, given the proof its live code carries (pass facts first:
    an invalid pass keeps its own reason)."""
    claims = check.claims
    if not check.valid or claims is None:
        return check

    def refused(reason: PassReason, detail: str, step: int | None = None) -> PassCheck:
        return replace(check, valid=False, reason=reason, detail=detail, live_step=step)

    if claims.holder_key is None:
        return refused(PassReason.BAD_PROOF, "a live proof on a pass that names no holder key")
    if parts.problem is not None or parts.step is None or parts.proof is None:
        return refused(PassReason.BAD_PROOF, f"the live proof is unreadable: {parts.problem}")
    step = parts.step
    try:
        Ed25519PublicKey.from_public_bytes(claims.holder_key).verify(
            parts.proof, proof_to_be_signed(compound_id, claims.pass_id, step))
    except (InvalidSignature, ValueError):
        return refused(PassReason.BAD_PROOF,
                       "the live proof is not signed by the pass holder's key")
    offset = step - step_of(now)
    if offset < -WINDOW_STEPS:
        return refused(PassReason.STALE_CODE,
                       f"a live code of {_at(step)}, {-offset * STEP_S} s behind the gate's "
                       "clock: a screenshot or a copy", step)
    if offset > WINDOW_STEPS:
        return refused(PassReason.FUTURE_CODE,
                       f"a live code for {_at(step)}, {offset * STEP_S} s ahead of the gate's "
                       "clock: the phone's clock is wrong, or the code was made in advance", step)
    return replace(check, detail="valid live code", live_step=step)


def without_proof(check: PassCheck) -> PassCheck:
    """A holder-bound pass shown as it is: refused, whatever else holds (it is a copy)."""
    if not check.valid or check.claims is None or check.claims.holder_key is None:
        return check
    return replace(check, valid=False, reason=PassReason.BAD_PROOF,
                   detail="a holder-bound pass shown without its live proof: a copy of the pass")


def replayed(check: PassCheck, newest: int | None = None) -> PassCheck:
    """The verdict on a live code the compound has already let through in this direction, or
    one older than a code of the pass that went through (`newest`): a copy either way."""
    step = check.live_step
    when = _at(step) if step is not None else "?"
    if newest is not None and step is not None and newest > step:
        detail = (f"the live code of {when} is older than one of this pass used already in "
                  f"this direction ({_at(newest)}): a copy")
    else:
        detail = f"the live code of {when} was used already in this direction"
    return replace(check, valid=False, reason=PassReason.REPLAYED, detail=detail)


def holder_key_text(raw: bytes) -> str:
    """How a holder's public key is shown and typed: base64url of the 32 raw bytes, unpadded."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def parse_holder_key(text: str) -> bytes:
    """The 32 raw bytes of a holder key given as base64url / base64 (43-44 characters) or hex
    (64 digits); anything else is a KeyFileError that says the form."""
    value = text.strip()
    raw: bytes | None = None
    if len(value) == 64:
        try:
            raw = bytes.fromhex(value)
        except ValueError:
            raw = None
    if raw is None and len(value) in (43, 44):
        try:
            raw = base64.b64decode(value.replace("-", "+").replace("_", "/") + "=" * (44 - len(
                value)), validate=True)
        except (ValueError, binascii.Error):
            raw = None
    if raw is None or len(raw) != 32:
        raise KeyFileError(f"{value[:80]!r} is not a holder key: give the 43 characters the "
                           "holder page shows (base64url of the 32-byte Ed25519 key), or 64 "
                           "hex digits")
    try:
        Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as exc:
        raise KeyFileError(f"not an Ed25519 public key: {exc}") from None
    return raw


def public_raw(holder: Ed25519PrivateKey) -> bytes:
    """The raw public key of a holder's private key (tests and tools)."""
    return raw_public(holder.public_key())

"""What a peer says is believed only once checked: the signature over the raw bytes, by the gate
key of exactly the gate that speaks on the topic, before anything is parsed; then the strict
models of sync/peer_messages.py, the compound and the gate ids."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from gate.errors import GridgateError
from gate.passes import TrustList
from gate.passes.trust import GATE_SCOPE
from sync.peer_messages import (
    MESSAGES,
    CatchupRequest,
    PassageMessage,
    PeerState,
    ReplayDone,
    StateProof,
)
from sync.signing import MessageError, SignatureError, verify
from sync.topics import PeerInbound, PeerKind

GATE_SCOPES = frozenset({GATE_SCOPE})  # the only keys that may sign a peer message
_EXPECTED = {PeerKind.PASSAGES: ("peer_passage",), PeerKind.CATCHUP: ("peer_catchup",),
             PeerKind.REPLAY: ("peer_passage", "peer_replay_done")}


class Refused(GridgateError, ValueError):
    """A peer message refused; `reason` names the counter (without the peer_ prefix),
    `forged` says whether it was signed to deceive (an alert) rather than merely unusable."""

    def __init__(self, reason: str, detail: str, *, forged: bool = False) -> None:
        self.reason = reason
        self.detail = detail
        self.forged = forged
        super().__init__(f"{reason}: {detail}")


def _detail(exc: MessageError) -> str:
    return str(exc).removeprefix(f"{exc.reason}: ")


def _first_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"


@dataclass(frozen=True)
class PeerVerifier:
    """The checks of one gate (`gate_id` of `compound_id`, whose own key is `own`)."""

    compound_id: str
    gate_id: str
    own: TrustList

    def signed_by(self, payload: bytes | bytearray, gate: str, trust: TrustList,
                  now: datetime) -> dict[str, Any]:
        """The payload of a message signed by `gate`'s own gate key (Refused otherwise)."""
        try:
            verified = verify(payload, trust, now, GATE_SCOPES)
        except SignatureError as exc:
            # An unknown key is a gate the trust list lacks yet (doctor says so), not a forgery.
            raise Refused(exc.reason, _detail(exc), forged=exc.reason != "unknown_key") from None
        except MessageError as exc:
            raise Refused(exc.reason, _detail(exc)) from None
        key = trust.get(verified.key_id)
        if key is None or key.gate_id != gate:
            raise Refused("wrong_key", f"signed by the key of gate {key.gate_id if key else '?'}"
                          f", not of {gate} whose topic it came on", forged=True)
        return verified.payload

    def message(self, topic: str, payload: bytes | bytearray, peer: PeerInbound,
                trust: TrustList, now: datetime) -> PassageMessage | CatchupRequest | ReplayDone:
        """A passage, catch-up request or replay's end from the gate the topic names."""
        if peer.gate_id == self.gate_id:
            try:
                verify(payload, self.own, now, GATE_SCOPES)
            except MessageError:
                raise Refused("own_gate", f"a message on this gate's own topic {topic} "
                              "not signed by this gate") from None
            raise Refused("echo", "this gate's own message")
        data = self.signed_by(payload, peer.gate_id, trust, now)
        kind = data.get("type")
        if kind not in _EXPECTED[peer.kind]:
            raise Refused("wrong_type", f"a {kind!r} message on a {peer.kind} topic")
        try:
            message = MESSAGES[str(kind)].model_validate(data)
        except ValidationError as exc:
            raise Refused("malformed", _first_error(exc)) from None
        if message.compound_id != self.compound_id:
            raise Refused("other_compound", f"for compound {message.compound_id}")
        claimed = {message.gate_id}
        if isinstance(message, PassageMessage):
            claimed.add(message.passage.gate_id)
        if self.gate_id in claimed:
            raise Refused("own_gate", f"claims this gate's id {self.gate_id}")
        if claimed != {peer.gate_id}:
            raise Refused("wrong_gate", f"names gate {sorted(claimed)}, signed by and "
                          f"published for {peer.gate_id}")
        return message

    def state(self, payload: bytes, peer: PeerInbound, trust: TrustList,
              now: datetime) -> StateProof:
        """A peer's retained state, as far as its signed proof says (reasons `state_...`)."""
        try:
            state = PeerState.model_validate_json(payload)
        except ValidationError as exc:
            raise Refused("state_malformed", _first_error(exc)) from None
        if state.peer is None:
            raise Refused("state_unsigned", "no proof signed by the gate's key")
        try:
            data = self.signed_by(state.peer.encode("utf-8"), peer.gate_id, trust, now)
            proof = StateProof.model_validate(data)
        except Refused as exc:
            raise Refused(f"state_{exc.reason}", exc.detail, forged=exc.forged) from None
        except ValidationError as exc:
            raise Refused("state_malformed", _first_error(exc)) from None
        said = (state.gate_id, state.compound_id, state.online)
        signed = (proof.gate_id, proof.compound_id, proof.online)
        if signed != said or state.gate_id != peer.gate_id:
            raise Refused("state_mismatch", f"the state says {said}, its proof {signed}, on the "
                          f"topic of {peer.gate_id}", forged=True)
        if proof.compound_id != self.compound_id:
            raise Refused("state_other_compound", f"for compound {proof.compound_id}")
        return proof

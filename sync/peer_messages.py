"""The peer link's messages, strict: a peer's payload is believed only as far as these allow."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from gate.journal.rows import PEER_COLUMNS
from gate.policy import Policy

MAX_HELD = 256  # peers named in one catch-up request
MAX_PROOF_CHARS = 2048  # a signed state proof is about 400 characters

UtcText = Annotated[str, StringConstraints(
    pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}\+00:00$")]  # the journal's own form
Id = Annotated[str, StringConstraints(min_length=1, max_length=128,
                                      pattern=r"^[^\x00-\x1f\x7f]+$")]
GateId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
Hex32 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
RuleText = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_.]{0,63}$")]
Text = Annotated[str, StringConstraints(max_length=2000)]
Actor = Annotated[str, StringConstraints(min_length=1, max_length=400,
                                         pattern=r"^[^\x00-\x1f\x7f]+$")]  # platform:ISSUER
DirectionText = Literal["in", "out"]
MethodText = Literal["pass", "face", "pass+face", "override", "button"]
ColourText = Literal["green", "yellow", "red", "white"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class PeerPassage(_Strict):
    """A passage as another gate tells of it: exactly the columns of PEER_COLUMNS."""

    event_id: Hex32
    at: UtcText
    gate_id: GateId
    reader_id: Id
    direction: DirectionText
    person_id: Id | None
    household_id: Id | None
    grid_id: Id | None
    pass_id: Id | None
    method: MethodText
    colour: ColourText | None
    granted: bool
    rule: RuleText
    reason_zh: Text
    reason_en: Text
    face_distance: Annotated[float, Field(ge=0, le=100)] | None
    faces_in_view: Annotated[int, Field(ge=0, le=1000)]
    actor: Actor | None
    order_at: UtcText



class LiveCode(_Strict):
    """The step of the live code the passage was shown with (the passage's `live_step`): when
    granted, no code of that pass as old or older opens another gate of the compound in that
    direction (gate/passes/ledger.py)."""

    step: Annotated[int, Field(ge=0, lt=2**40)]


class PassageMessage(_Strict):
    """One passage of the gate that signed it (live, or answering `request_id`)."""

    type: Literal["peer_passage"]
    schema_version: Literal[2]
    compound_id: GateId
    gate_id: GateId
    epoch: Hex32  # the journal's epoch: made with its database, seqs count within it
    seq: Annotated[int, Field(ge=1)]  # the passage's id in its gate's journal
    passage: PeerPassage
    request_id: Hex32 | None = None
    live_code: LiveCode | None = None


class Held(_Strict):
    """What a gate holds of a peer: the newest seq of the peer's latest epoch it knows."""

    epoch: Hex32
    seq: Annotated[int, Field(ge=0)]


class CatchupRequest(_Strict):
    """A gate asks for the passages it misses: per peer, what it holds."""

    type: Literal["peer_catchup"]
    schema_version: Literal[2]
    compound_id: GateId
    gate_id: GateId
    request_id: Hex32
    at: UtcText
    held: dict[GateId, Held] = Field(max_length=MAX_HELD)
    to: list[GateId] | None = Field(None, max_length=MAX_HELD)  # None: every peer


class ReplayDone(_Strict):
    """The end of one answer: how many passages, the last seq sent, whether more wait."""

    type: Literal["peer_replay_done"]
    schema_version: Literal[2]
    compound_id: GateId
    gate_id: GateId
    epoch: Hex32
    request_id: Hex32
    count: Annotated[int, Field(ge=0)]
    last_seq: Annotated[int, Field(ge=0)] | None
    more: bool


def passage_message(row: dict[str, Any], *, compound_id: str, epoch: str,
                    request_id: str | None = None, live_step: int | None = None,
                    ) -> dict[str, Any]:
    """The peer_passage message of a passage row of the gate that decided it (to be signed by
    that gate's key): its PEER_COLUMNS, its id as `seq`, and the step of the live code it was
    shown with (`live_step`, the passage's own)."""
    passage = {name: row[name] for name in PEER_COLUMNS}
    passage["granted"] = bool(passage["granted"])
    message: dict[str, Any] = {
        "type": "peer_passage", "schema_version": 2, "compound_id": compound_id,
        "gate_id": passage["gate_id"], "epoch": epoch, "seq": int(row["id"]),
        "passage": passage}
    if request_id is not None:
        message["request_id"] = request_id
    if live_step is not None:
        message["live_code"] = {"step": live_step}
    return message


MESSAGES: dict[str, type[PassageMessage] | type[CatchupRequest] | type[ReplayDone]] = {
    "peer_passage": PassageMessage, "peer_catchup": CatchupRequest,
    "peer_replay_done": ReplayDone}


class PeerState(BaseModel):
    """What the peer link reads of a gate's retained state (sync.messages.StateMessage); the
    rest is the platform's, and a newer gate may add to it. Only `peer` is believed: the
    same facts signed by the gate's key."""

    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)

    schema_version: Literal[1]
    gate_id: GateId
    compound_id: GateId
    online: bool
    peer: Annotated[str, StringConstraints(max_length=MAX_PROOF_CHARS)] | None = None


class StateProof(_Strict):
    """A gate's online state, signed by its gate key (the `peer` field of its state message).
    `connection` grows with every connection of the gate: an older state replayed is refused."""

    type: Literal["peer_state"]
    schema_version: Literal[1]
    compound_id: GateId
    gate_id: GateId
    online: bool
    connection: Annotated[int, Field(ge=1)]
    at: UtcText


def lookback(policy: Policy) -> timedelta:
    """How far back the rules look at passages: a catch-up without a seq covers this."""
    return max(timedelta(days=policy.yellow.period_days + 1),
               timedelta(hours=policy.anti_passback.reset_hours))



"""Tamper evidence: this gate's passages, alerts, door events and notes form one hash chain in
the order they are written.

Each chained record has `seq` (its place: 1, 2, 3, ... across the four tables) and `link`, 8
bytes of BLAKE2b over the previous record's link, the table, the seq and the record's content
(names and texts as shown, never the dictionary codes, so an edited dictionary breaks the chain
too). Mutable bookkeeping (an alert's acknowledgement) is not content. The head (seq, link)
sits in `journal_counters` and goes to the platform with the gate's state message, where a
rewritten chain no longer matches what the gate said before.

Retention and wipes remove records on purpose: each removal is itself a chained note that
counts what it removed, and for a removed record whose successor stays, `journal_chain_gaps`
keeps its link (a hash, no personal data) so the successor can still be checked. Peer passages
are not chained: their own gate signed them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from hashlib import blake2b
from typing import Any

from gate.journal.codec import to_us

GENESIS = 0  # the "previous link" of the first record
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


class Table:
    """The chained tables, as named in the chain (and by `journal verify`)."""

    PASSAGES = "passages"
    ALERTS = "alerts"
    DOORS = "door_events"
    NOTES = "notes"


def link(prev: int, table: str, seq: int, content: Sequence[Any]) -> int:
    """The link of a record: 8 bytes of BLAKE2b over the previous link and its content."""
    data = _JSON([table, seq, *content]).encode()
    digest = blake2b(prev.to_bytes(8, "big", signed=True) + data, digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def passage_content(row: Mapping[str, Any]) -> list[Any]:
    """What a passage's link covers (a row as `codec.decode_passages` returns it); the live
    step only where there is one, so passages chained before it was kept still check."""
    content = [row["id"], row["event_id"], to_us(row["at"]), to_us(row["order_at"]),
               row["gate_id"], row["reader_id"], row["direction"], row["person_id"],
               row["household_id"], row["grid_id"], row["pass_id"], row["method"],
               row["colour"], bool(row["granted"]), row["rule"], row["reason_zh"],
               row["reason_en"], _float(row["face_distance"]), row["faces_in_view"],
               row["snapshot"], row["actor"]]
    if row.get("live_step") is not None:
        content.append(row["live_step"])
    return content


def alert_content(row: Mapping[str, Any]) -> list[Any]:
    """What an alert's link covers: what was raised, not how it was answered."""
    return [row["id"], row["event_id"], row["at"], row["gate_id"], row["reader_id"],
            row["kind"], row["severity"], row["person_id"], row["household_id"],
            row["grid_id"], row["passage_id"], row["message_zh"], row["message_en"]]


def door_content(row: Mapping[str, Any]) -> list[Any]:
    """What a door event's link covers."""
    return [row["event_id"], to_us(row["at"]), row["gate_id"], row["door"], row["kind"],
            row["detail"], row["actor"]]


def note_content(row: Mapping[str, Any]) -> list[Any]:
    """What a note's link covers (a prune or a wipe: when, what, how many records)."""
    return [row["at"], row["action"], row["detail"], row["removed"]]


CONTENT = {Table.PASSAGES: passage_content, Table.ALERTS: alert_content,
           Table.DOORS: door_content, Table.NOTES: note_content}

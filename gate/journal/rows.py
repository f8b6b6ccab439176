"""The passage row: one decision as the journal stores it, MQTT carries it and the panel shows it.

Built in one place so the stored row, the event sent to the platform and the panel's row for a
passage the journal could not write yet (full disk) never drift apart.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gate.journal.codec import utc_text

if TYPE_CHECKING:
    from gate.model import Decision, Person
    from gate.observation import Observation

# What another gate of the compound tells of its passage: the row without the snapshot, whose
# file stays on that gate.
PEER_COLUMNS = ("event_id", "at", "gate_id", "reader_id", "direction", "person_id",
                "household_id", "grid_id", "pass_id", "method", "colour", "granted", "rule",
                "reason_zh", "reason_en", "face_distance", "faces_in_view", "actor",
                "order_at")


def passage_row(observation: Observation, decision: Decision, person: Person | None, *,
                gate_id: str, event_id: str | None, actor: str | None) -> dict[str, Any]:
    """The columns of a passage (without the database id); `granted` as a bool."""
    claims = observation.pass_check.claims if observation.pass_check else None
    return {
        "event_id": event_id,
        "at": utc_text(observation.seen_at),
        "gate_id": gate_id,
        "reader_id": observation.reader.reader_id,
        "direction": observation.reader.direction.value,
        "person_id": decision.person_id or (person.person_id if person else None),
        "household_id": person.household_id if person else (
            claims.household_id if claims else None),
        "grid_id": person.grid_id if person else (claims.grid_id if claims else None),
        "pass_id": claims.pass_id if claims else None,
        "method": observation.method.value,
        "colour": decision.colour.value if decision.colour else None,
        "granted": decision.granted,
        "rule": decision.rule,
        "reason_zh": decision.reason_zh,
        "reason_en": decision.reason_en,
        # Six decimals: the journal keeps it as an integer of millionths (gate/journal/codec).
        "face_distance": None if observation.face_distance is None else round(
            float(observation.face_distance), 6),
        "faces_in_view": observation.faces_in_view,
        "snapshot": observation.snapshot,
        "actor": actor,
        # The step of the live code shown (its proof checked), kept with the passage: what the
        # peer message tells the other gates of a live code this passage spent.
        "live_step": observation.pass_check.live_step if observation.pass_check else None,
    }

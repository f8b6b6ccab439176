"""Acknowledging alerts: the rows marked, and an `alert_ack` event per alert for the platform.

Runs as the work of `Journal.write`, so the acknowledgement and its outbox row commit together:
the platform learns of every acknowledgement (who, when, comment) exactly when the gate has it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlite_utils import Database

from gate.events import JournalEvent
from gate.vocabulary import EventType

MAX_COMMENT = 500
MAX_BULK = 500  # alerts acknowledged in one go (the panel lists 200 at most)
_ALERT = ("event_id", "kind", "severity", "reader_id", "person_id", "household_id", "grid_id")


def acknowledge(db: Database, alert_ids: Iterable[int], *, by: str, comment: str, at: str,
                gate_id: str) -> list[JournalEvent]:
    """Mark each open alert of `alert_ids` acknowledged; the events of those that were open."""
    ids = list(dict.fromkeys(alert_ids))
    if len(ids) > MAX_BULK:
        raise ValueError(f"at most {MAX_BULK} alerts can be acknowledged at once, not {len(ids)}")
    comment = " ".join(comment.split())[:MAX_COMMENT]
    events: list[JournalEvent] = []
    for alert_id in ids:
        cursor = db.execute(
            "UPDATE alerts SET acknowledged_at = ?, acknowledged_by = ?, ack_comment = ? "
            "WHERE id = ? AND acknowledged_at IS NULL", [at, by, comment, alert_id])
        if cursor.rowcount != 1:
            continue
        alert = dict(zip(_ALERT, db.execute(
            f"SELECT {', '.join(_ALERT)} FROM alerts WHERE id = ?", [alert_id]).fetchone(),
            strict=True))
        row: dict[str, Any] = {
            "event_id": uuid.uuid4().hex, "at": at, "gate_id": gate_id,
            "alert_id": alert_id, "alert_event_id": alert.pop("event_id"), **alert,
            "acknowledged_by": by, "comment": comment,
        }
        events.append(JournalEvent(row["event_id"], EventType.ALERT_ACK, row, row["grid_id"]))
    return events

"""Escalation: an urgent alert nobody acknowledges in time is sent again, once, to a second
audience (the street office, another grid, or a webhook), marked `escalated`.

The escalated copy is an `alert` event of its own (a new event id, so consumers that drop
duplicates keep it) with the original alert's data, `escalated: true`, the original event id
and how long it waited; the platform link routes it to the configured audience. Escalation is
journaled (`alert_escalations`, one row per alert: never twice) in the same transaction as the
copy's outbox row, and the panel shows it.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlite_utils import Database

from gate.clock import Clock
from gate.events import JournalEvent
from gate.journal import Journal
from gate.journal.queries import utc_text
from gate.model import Severity
from gate.vocabulary import EventType

log = logging.getLogger(__name__)

# An alert that waited longer than this before the gate could look (it was off) is history by
# then: escalating a backlog of old alerts at start would flood the second audience.
HORIZON = timedelta(hours=24)
BATCH = 50  # alerts escalated per transaction
_COLUMNS = ("id", "event_id", "at", "reader_id", "kind", "severity", "person_id",
            "household_id", "grid_id", "passage_id", "message_zh", "message_en")


def escalated_copy(alert: dict[str, Any], *, count: int, at: datetime, audience: str,
                   gate_id: str) -> dict[str, Any]:
    """The row of the escalated copy: the alert's data, marked, with a new event id."""
    waited = at - datetime.fromisoformat(alert["at"])
    data = {k: alert[k] for k in _COLUMNS if k not in ("event_id", "at")}
    return {"event_id": uuid.uuid4().hex, "at": utc_text(at), "gate_id": gate_id, **data,
            "count": count, "escalated": True, "escalated_from": alert["event_id"],
            "alert_at": alert["at"], "unanswered_s": round(waited.total_seconds()),
            "audience": audience}


class Escalator:
    """Finds urgent alerts left unacknowledged for `after_s` seconds and escalates each once."""

    def __init__(self, journal: Journal, *, after_s: float, audience: str,
                 clock: Clock) -> None:
        if after_s <= 0:
            raise ValueError("after_s must be positive (escalation off: build no Escalator)")
        self.journal = journal
        self.after = timedelta(seconds=after_s)
        self.audience = audience
        self.clock = clock

    def tick(self) -> list[JournalEvent]:
        """Escalate what is due now; the escalated copies' events."""
        now = self.clock.now()
        events = self.journal.write(lambda db: self._escalate(db, now))
        for event in events:
            log.warning("alert %s (%s) unacknowledged for %d s: escalated to %s",
                        event.row["escalated_from"], event.row["kind"],
                        event.row["unanswered_s"], self.audience)
        return events

    def _escalate(self, db: Database, now: datetime) -> list[JournalEvent]:
        due = utc_text(now - self.after)
        oldest = utc_text(now - self.after - HORIZON)
        cursor = db.execute(
            f"SELECT {', '.join('a.' + c for c in _COLUMNS)}, COALESCE(f.count, 1) "
            "FROM alerts a LEFT JOIN alert_folds f ON f.alert_id = a.id "
            "WHERE a.severity = ? AND a.acknowledged_at IS NULL AND a.at <= ? AND a.at >= ? "
            "AND a.gate_id = ? AND NOT EXISTS (SELECT 1 FROM alert_escalations e "
            "WHERE e.alert_id = a.id) ORDER BY a.id LIMIT ?",
            [Severity.URGENT.value, due, oldest, self.journal.gate_id, BATCH])
        events = []
        for *values, count in cursor.fetchall():
            alert = dict(zip(_COLUMNS, values, strict=True))
            row = escalated_copy(alert, count=int(count), at=now, audience=self.audience,
                                 gate_id=self.journal.gate_id)
            db.execute("INSERT INTO alert_escalations (alert_id, event_id, at, audience) "
                       "VALUES (?, ?, ?, ?)", [alert["id"], row["event_id"], row["at"],
                                               self.audience])
            events.append(JournalEvent(row["event_id"], EventType.ALERT, row, row["grid_id"]))
        return events

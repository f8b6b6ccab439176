"""Audit records: who did what on the gate's panel (logins, accounts, settings, two-person
overrides), journaled and sent to the platform as `audit` events in the same transaction.

The system log keeps its lines too; the journal is what a grid office or the police read later,
and what leaves the board. Never a password: a failed login keeps the name typed.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlite_utils import Database

from gate.events import JournalEvent
from gate.journal import Journal
from gate.journal.queries import utc_text
from gate.vocabulary import AuditKind, EventType

# Bounds on what a client can make the gate store (a name typed at the login form is free text).
LIMITS = {"actor": 64, "address": 64, "target": 200, "detail": 500}


def _bounded(value: str | None, field: str) -> str | None:
    if value is None:
        return None
    text = " ".join(str(value).split())
    return text[:LIMITS[field]]


def record_audit(journal: Journal, kind: AuditKind, *, actor: str | None,
                 address: str | None = None, target: str | None = None,
                 detail: str = "") -> JournalEvent:
    """Journal one audit record with its event; JournalError when it cannot be written."""
    row: dict[str, Any] = {
        "event_id": uuid.uuid4().hex,
        "at": utc_text(journal.clock.now()),
        "gate_id": journal.gate_id,
        "kind": AuditKind(kind).value,
        "actor": _bounded(actor, "actor"),
        "address": _bounded(address, "address"),
        "target": _bounded(target, "target"),
        "detail": _bounded(detail, "detail") or "",
    }

    def work(db: Database) -> list[JournalEvent]:
        row_id = db.table("audit").insert(row).last_pk
        return [JournalEvent(row["event_id"], EventType.AUDIT, {"id": row_id, **row})]

    return journal.write(work)[0]


def audit_records(db: Database, *, limit: int = 100, kind: AuditKind | None = None
                  ) -> list[dict[str, Any]]:
    """The latest audit records, newest first (of one kind, or all)."""
    sql, params = "SELECT * FROM audit", []
    if kind is not None:
        sql += " WHERE kind = ?"
        params.append(kind.value)
    cursor = db.execute(sql + " ORDER BY id DESC LIMIT ?", [*params, limit])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]

"""Two people for a red override: a guard's open-once right after a red-permit exit denial
waits for a second panel account's approval (policy `red_override`, on by default).

The request is journaled (an audit record and an `override_approval` alert, so the other
accounts and the platform see it); the door opens only when another account approves within
`approval_window_s`, through the same door controls as every open-once, with both names in
the override passage and in the audit record of the approval. A request nobody approves in
time lapses (audited) and the door stays shut. Requests are held in memory: a restart drops
them, which also leaves the door shut. Signed platform commands are the platform's own
authority and do not pass through here.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from gate.audit import record_audit
from gate.checkpoint import Outcome
from gate.clock import Clock
from gate.controls import DoorControls
from gate.errors import GridgateError
from gate.journal import Journal
from gate.journal.queries import utc_text
from gate.model import AlertSpec
from gate.reasons import OVERRIDE_APPROVAL
from gate.rulebook import Rulebook
from gate.vocabulary import AlertKind, AuditKind, Rule

MAX_PENDING = 20  # requests waiting at once; more is a guard clicking, not a gate


class ApprovalError(GridgateError):
    """An approval that cannot be given (unknown or lapsed request, the same account)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code  # a panel message key: error.<code>


@dataclass(frozen=True)
class PendingOverride:
    """An open-once of a red-permit denial, waiting for a second account."""

    request_id: str
    reader_id: str
    requested_by: str
    reason: str
    snapshot: str | None
    requested_at: datetime
    expires_at: datetime
    denied_passage: dict[str, Any]  # the red-permit exit refusal it overrides
    alert_id: int | None = None


class OverrideApprovals:
    """Open-once through the two-person rule; every other open-once passes straight on."""

    def __init__(self, *, controls: DoorControls, journal: Journal, rules: Rulebook,
                 clock: Clock) -> None:
        self.controls = controls
        self.journal = journal
        self.rules = rules
        self.clock = clock
        self._pending: dict[str, PendingOverride] = {}
        self._lock = threading.Lock()

    def red_denial(self, reader_id: str) -> dict[str, Any] | None:
        """The red-permit exit refusal at this reader, within the lookback, with no door opened
        there since; None when there is none."""
        rules = self.rules.policy.red_override
        since = utc_text(self.clock.now() - timedelta(seconds=rules.lookback_s))
        cursor = self.journal.db.execute(
            "SELECT id, event_id, person_id, at FROM passages WHERE gate_id = ? AND "
            "reader_id = ? AND rule = ? AND at >= ? AND received_at IS NULL "
            "ORDER BY id DESC LIMIT 1",
            [self.journal.gate_id, reader_id, Rule.RED_EXIT_DENIED.value, since])
        row = cursor.fetchone()
        if row is None:
            return None
        denial = dict(zip(("id", "event_id", "person_id", "at"), row, strict=True))
        opened = self.journal.db.execute(
            "SELECT 1 FROM passages WHERE reader_id = ? AND id > ? AND granted = 1 LIMIT 1",
            [reader_id, denial["id"]]).fetchone()
        return None if opened else denial

    def open_once(self, reader_id: str, *, actor: str, reason: str,
                  snapshot: str | None = None,
                  address: str | None = None) -> Outcome | PendingOverride:
        """Open the reader's door once, or, over a red-permit denial, ask for a second account
        (the door stays shut until then). KeyError for an unknown reader."""
        if reader_id not in self.controls.readers:
            raise KeyError(reader_id)
        policy = self.rules.policy.red_override
        denial = self.red_denial(reader_id) if policy.second_approval else None
        if denial is None:
            return self.controls.open_once(reader_id, actor=actor, reason=reason,
                                           snapshot=snapshot)
        self.expire()
        now = self.clock.now()
        with self._lock:
            if len(self._pending) >= MAX_PENDING:
                raise ApprovalError("approvals_full", f"{MAX_PENDING} overrides already wait "
                                    "for approval; approve or let them lapse first")
        severity, zh, en = OVERRIDE_APPROVAL
        fields = {"actor": actor, "reader": reader_id, "seconds": policy.approval_window_s}
        alert = self.journal.record_alert(
            AlertSpec(AlertKind.OVERRIDE_APPROVAL, severity, zh.format(**fields),
                      en.format(**fields)),
            reader_id=reader_id, person_id=denial["person_id"], passage_id=denial["id"])
        pending = PendingOverride(
            request_id=uuid.uuid4().hex[:16], reader_id=reader_id, requested_by=actor,
            reason=reason, snapshot=snapshot, requested_at=now,
            expires_at=now + timedelta(seconds=policy.approval_window_s),
            denied_passage=denial, alert_id=alert.row["id"])
        record_audit(self.journal, AuditKind.OVERRIDE_REQUESTED, actor=actor, address=address,
                     target=reader_id,
                     detail=f"request {pending.request_id}: open once over the red-permit "
                     f"refusal of {denial['person_id']} ({denial['event_id']}): {reason}")
        with self._lock:
            self._pending[pending.request_id] = pending
        return pending

    def pending(self) -> list[PendingOverride]:
        """Requests still waiting, oldest first (lapsed ones are audited and dropped)."""
        self.expire()
        with self._lock:
            return sorted(self._pending.values(), key=lambda p: p.requested_at)

    def approve(self, request_id: str, *, approver: str,
                address: str | None = None) -> Outcome:
        """A second account approves: the door opens once, with both names journaled."""
        self.expire()
        with self._lock:
            pending = self._pending.get(request_id)
            if pending is None:
                raise ApprovalError("approval_gone", "no such request waits for approval "
                                    "(it lapsed, or was approved already)")
            if approver.casefold() == pending.requested_by.casefold():
                raise ApprovalError("approval_same_account", "the override must be approved "
                                    "by a second account, not the one that asked")
            del self._pending[request_id]
        outcome = self.controls.open_once(
            pending.reader_id, actor=pending.requested_by,
            reason=f"{pending.reason}; approved by {approver}", snapshot=pending.snapshot)
        passage = next((e.event_id for e in outcome.events if e.kind == "passage"), "-")
        record_audit(self.journal, AuditKind.OVERRIDE_APPROVED, actor=approver,
                     address=address, target=pending.requested_by,
                     detail=f"request {request_id} at {pending.reader_id}: "
                     f"{'door opened' if outcome.released else 'door stayed shut'}, "
                     f"override passage {passage}")
        if pending.alert_id is not None:
            self.journal.acknowledge_alerts([pending.alert_id], approver,
                                            f"approved {pending.requested_by}'s override")
        return outcome

    def expire(self) -> list[PendingOverride]:
        """Drop the requests past their window, each audited; those dropped."""
        now = self.clock.now()
        with self._lock:
            lapsed = [p for p in self._pending.values() if p.expires_at <= now]
            for p in lapsed:
                del self._pending[p.request_id]
        for p in lapsed:
            record_audit(self.journal, AuditKind.OVERRIDE_EXPIRED, actor=p.requested_by,
                         target=p.reader_id,
                         detail=f"request {p.request_id}: no second account approved within "
                         f"{(p.expires_at - p.requested_at).total_seconds():g} s; the door "
                         "stayed shut")
        return lapsed

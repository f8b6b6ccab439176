"""Two people for a red override: while a red-permit holder's exit refusal at this gate is
unresolved, a guard's open-once or hold-open waits for a second panel account's approval
(policy `red_override`, on by default).

Unresolved: refused at any reader of this gate within `lookback_s` (readers may share one door,
and the guard booth opens every door of the gate), and neither granted a passage at this gate
since nor let through by an approved override. Another person's grant clears nothing.

The request is journaled (an audit record and an `override_approval` alert, so the other
accounts and the platform see it); the door opens only when another account approves within
`approval_window_s`, through the same door controls as every override, with both names in
the override passage or door event and in the audit record of the approval. A request nobody
approves in time lapses (audited) and the door stays shut. Requests, and which refusals an
approval resolved, are held in memory: a restart drops them, which leaves the door shut and
asks again for a second account. Signed platform commands are the platform's own authority
and do not pass through here.
"""

from __future__ import annotations

import math
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from gate.audit import record_audit
from gate.checkpoint import Outcome
from gate.clock import Clock
from gate.controls import DoorControls
from gate.door import Door
from gate.errors import DoorError, GridgateError
from gate.journal import Journal
from gate.model import AlertSpec
from gate.reasons import OVERRIDE_APPROVAL
from gate.rulebook import Rulebook
from gate.vocabulary import AlertKind, AuditKind, DoorMode, Rule

MAX_PENDING = 20  # requests waiting at once; more is a guard clicking, not a gate
Action = Literal["open_once", "hold_open"]


class ApprovalError(GridgateError):
    """An approval that cannot be given (unknown or lapsed request, the same account)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code  # a panel message key: error.<code>


@dataclass(frozen=True)
class PendingOverride:
    """An open-once or hold-open over a red-permit denial, waiting for a second account."""

    request_id: str
    reader_id: str
    requested_by: str
    reason: str
    snapshot: str | None
    requested_at: datetime
    expires_at: datetime
    denied_passage: dict[str, Any]  # the newest red-permit exit refusal it overrides
    alert_id: int | None = None
    action: Action = "open_once"
    seconds: float | None = None  # a hold-open's time limit
    denials: tuple[int, ...] = ()  # passage ids of every unresolved refusal it overrides


@dataclass(frozen=True)
class Approved:
    """What an approval did: the door opened once (`outcome`, its override passage) or was
    held open; `released` is False when the door stayed shut (lockdown set meanwhile)."""

    request: PendingOverride
    released: bool
    outcome: Outcome | None = None


class OverrideApprovals:
    """Open-once and hold-open through the two-person rule; with no unresolved red-permit
    refusal at the gate they pass straight on."""

    def __init__(self, *, controls: DoorControls, journal: Journal, rules: Rulebook,
                 clock: Clock) -> None:
        self.controls = controls
        self.journal = journal
        self.rules = rules
        self.clock = clock
        self._pending: dict[str, PendingOverride] = {}
        self._resolved: dict[int, datetime] = {}  # refusals an approved override let through
        self._lock = threading.Lock()

    def red_denials(self) -> list[dict[str, Any]]:
        """The unresolved red-permit exit refusals at this gate (any reader) within the
        lookback, newest first: none of them granted a passage here since, nor let through by
        an approved override."""
        now = self.clock.now()
        since = now - timedelta(seconds=self.rules.policy.red_override.lookback_s)
        # From the time index: this gate's passages of the lookback, oldest first (a clock
        # stepped back may have written some "after" now).
        rows = self.journal.passages_between(since, now + timedelta(days=1),
                                             gate_id=self.journal.gate_id)
        last_grant = {r["person_id"]: i for i, r in enumerate(rows)
                      if r["granted"] and r["person_id"]}
        with self._lock:
            for passage_id, at in list(self._resolved.items()):
                if at < since:
                    del self._resolved[passage_id]
            resolved = set(self._resolved)
        return [r for i, r in reversed(list(enumerate(rows)))
                if r["rule"] == Rule.RED_EXIT_DENIED and r["id"] not in resolved
                and last_grant.get(r["person_id"], -1) < i]

    def open_once(self, reader_id: str, *, actor: str, reason: str,
                  snapshot: str | None = None,
                  address: str | None = None) -> Outcome | PendingOverride:
        """Open the reader's door once, or, over an unresolved red-permit refusal at the gate,
        ask for a second account (the door stays shut until then). KeyError for an unknown
        reader."""
        if reader_id not in self.controls.readers:
            raise KeyError(reader_id)
        denials = self._denials()
        if not denials:
            return self.controls.open_once(reader_id, actor=actor, reason=reason,
                                           snapshot=snapshot)
        return self._ask("open_once", reader_id, denials, actor=actor, reason=reason,
                         snapshot=snapshot, address=address)

    def hold_open(self, reader_id: str, *, seconds: float, actor: str, reason: str,
                  snapshot: str | None = None,
                  address: str | None = None) -> list[Door] | PendingOverride:
        """Hold the reader's door open for `seconds`, or, over an unresolved red-permit refusal
        at the gate, ask for a second account (the door stays as it is until then). KeyError
        for an unknown reader, DoorError for a time limit that is not a positive number."""
        if reader_id not in self.controls.readers:
            raise KeyError(reader_id)
        if not (math.isfinite(seconds) and seconds > 0):
            raise DoorError("hold-open needs a positive time limit in seconds")
        denials = self._denials()
        if not denials:
            return self.controls.set_mode(DoorMode.HOLD_OPEN, actor=actor, reason=reason,
                                          reader_id=reader_id, seconds=seconds,
                                          snapshot=snapshot)
        return self._ask("hold_open", reader_id, denials, actor=actor, reason=reason,
                         snapshot=snapshot, address=address, seconds=seconds)

    def _denials(self) -> list[dict[str, Any]]:
        return self.red_denials() if self.rules.policy.red_override.second_approval else []

    def _ask(self, action: Action, reader_id: str, denials: list[dict[str, Any]], *,
             actor: str, reason: str, snapshot: str | None, address: str | None,
             seconds: float | None = None) -> PendingOverride:
        """Journal a request for a second account's approval and keep it waiting."""
        policy = self.rules.policy.red_override
        self.expire()
        now = self.clock.now()
        with self._lock:
            if len(self._pending) >= MAX_PENDING:
                raise ApprovalError("approvals_full", f"{MAX_PENDING} overrides already wait "
                                    "for approval; approve or let them lapse first")
        denial = denials[0]
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
            denied_passage=denial, alert_id=alert.row["id"], action=action, seconds=seconds,
            denials=tuple(d["id"] for d in denials))
        what = ("open once" if seconds is None
                else f"hold open for {seconds / 60:g} min")
        refused = ", ".join(f"{d['person_id']} at {d['reader_id']} ({d['event_id']})"
                            for d in denials)
        record_audit(self.journal, AuditKind.OVERRIDE_REQUESTED, actor=actor, address=address,
                     target=reader_id,
                     detail=f"request {pending.request_id}: {what} over the red-permit "
                     f"refusal of {refused}: {reason}")
        with self._lock:
            self._pending[pending.request_id] = pending
        return pending

    def pending(self) -> list[PendingOverride]:
        """Requests still waiting, oldest first (lapsed ones are audited and dropped)."""
        self.expire()
        with self._lock:
            return sorted(self._pending.values(), key=lambda p: p.requested_at)

    def approve(self, request_id: str, *, approver: str,
                address: str | None = None) -> Approved:
        """A second account approves: the door opens once or is held open, with both names
        journaled; the refusals the request named are resolved once the door opened."""
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
        reason = f"{pending.reason}; approved by {approver}"
        outcome = None
        if pending.action == "hold_open":
            doors = self.controls.set_mode(
                DoorMode.HOLD_OPEN, actor=pending.requested_by, reason=reason,
                reader_id=pending.reader_id, seconds=pending.seconds, snapshot=pending.snapshot)
            released = all(d.mode is DoorMode.HOLD_OPEN for d in doors)
            done = (f"door held open for {(pending.seconds or 0) / 60:g} min" if released
                    else "door not held open")
        else:
            outcome = self.controls.open_once(pending.reader_id, actor=pending.requested_by,
                                              reason=reason, snapshot=pending.snapshot)
            released = outcome.released
            passage = next((e.event_id for e in outcome.events if e.kind == "passage"), "-")
            done = (f"{'door opened' if released else 'door stayed shut'}, "
                    f"override passage {passage}")
        if released:
            with self._lock:
                self._resolved.update(dict.fromkeys(pending.denials, pending.requested_at))
        record_audit(self.journal, AuditKind.OVERRIDE_APPROVED, actor=approver,
                     address=address, target=pending.requested_by,
                     detail=f"request {request_id} at {pending.reader_id}: {done}")
        if pending.alert_id is not None:
            self.journal.acknowledge_alerts([pending.alert_id], approver,
                                            f"approved {pending.requested_by}'s override")
        return Approved(pending, released, outcome)

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

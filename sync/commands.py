"""Remote door commands from the platform: open once, lockdown, hold-open, back to normal.

Write access to the broker alone must never open a door, so a command is obeyed only when it
is signed by a platform key (checked before this module sees it), addressed to this compound
and gate, inside its short validity window, and carries a nonce never seen before (nonces are
kept in the database for a week after their command expired, so a restart allows no replay).

Nonce memory alone trusts the wall clock, and a Pi without a real-time clock can boot with an
old time. So the newest `issued_at` ever obeyed is kept too (a high-water mark): a command
issued more than the allowed skew before it is refused, and so is every command while the
gate's clock is behind it. The same nonce with the same command id is a QoS 1 redelivery of a
command already handled: acknowledged quietly, without a second result.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlite_utils import Database

from gate.clock import Clock
from gate.controls import DoorControls
from gate.door import DoorMode
from gate.errors import DoorError
from gate.journal.queries import utc_text
from gate.store import immediate
from sync.bodies import Id, Text

log = logging.getLogger(__name__)

LEEWAY = timedelta(seconds=30)  # clock difference tolerated between platform and gate
NONCE_KEEP = timedelta(days=7)  # as long as a persistent broker session may redeliver
_HIGH_WATER = "command_high_water_us"  # sync_counters: newest issued_at obeyed, unix µs


class Action(StrEnum):
    OPEN = "open"  # release one reader's door once, recorded as an override passage
    LOCKDOWN = "lockdown"  # all doors locked; grants and the exit button do not release
    HOLD_OPEN = "hold_open"  # all doors released for `seconds`, then normal
    NORMAL = "normal"  # end lockdown or hold-open


class Command(BaseModel):
    """A signed command's payload."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["command"] = "command"
    command_id: Id
    action: Action
    compound_id: Id
    gate_id: Id
    reader_id: Id | None = None
    seconds: float | None = Field(None, gt=0, le=86400)
    reason: Text = ""
    issuer: Text = "platform"
    issued_at: AwareDatetime
    expires_at: AwareDatetime
    nonce: str = Field(..., pattern=r"^[A-Za-z0-9_-]{16,64}$")


@dataclass(frozen=True)
class Verdict:
    """Whether a command was carried out, and why not."""

    accepted: bool
    reason: str
    forged: bool = False  # deserves an alert: someone tried to misuse the channel
    duplicate: bool = False  # a redelivery of a command handled before: no second result


class Commands:
    """Checks and carries out commands for one gate."""

    def __init__(self, db: Database, *, compound_id: str, gate_id: str, clock: Clock,
                 controls: DoorControls | None, max_lifetime_s: int = 300,
                 hold_open_max_s: float = 4 * 3600) -> None:
        self.db = db
        self.compound_id = compound_id
        self.gate_id = gate_id
        self.clock = clock
        self.controls = controls
        self.max_lifetime = timedelta(seconds=max_lifetime_s)
        self.hold_open_max_s = hold_open_max_s

    def handle(self, command: Command, key_id: str) -> Verdict:
        """Check a verified command and carry it out."""
        problem = self._check(command)
        if problem is not None:
            log.warning("command %s (%s) refused: %s", command.command_id, command.action,
                        problem.reason)
            return problem
        if self.controls is None:
            return Verdict(False, "this gate has no doors to command")
        actor = f"platform:{command.issuer}"
        reason = command.reason or f"remote {command.action.value} (key {key_id})"
        try:
            verdict = self._execute(command, self.controls, actor, reason)
        except DoorError as exc:
            verdict = Verdict(False, str(exc))
        log.warning("command %s %s from %s: %s", command.command_id, command.action.value,
                    actor, "done" if verdict.accepted else verdict.reason)
        return verdict

    def _check(self, c: Command) -> Verdict | None:
        now = self.clock.now()
        if c.compound_id != self.compound_id or c.gate_id != self.gate_id:
            return Verdict(False, f"addressed to {c.compound_id}/{c.gate_id}", forged=True)
        seen = self.db.execute("SELECT command_id FROM sync_nonces WHERE nonce = ?",
                               [c.nonce]).fetchone()
        if seen is not None:
            if seen[0] == c.command_id:
                return Verdict(False, "delivered again; handled before", duplicate=True)
            return Verdict(False, "nonce seen before: a replay", forged=True)
        high = self._high_water()
        if high is not None and c.issued_at < high - LEEWAY:
            return Verdict(False, f"issued before the newest command obeyed ({high.isoformat()})"
                                  ": a replay", forged=True)
        if high is not None and now < high - LEEWAY:
            return Verdict(False, f"the gate's clock ({now.isoformat()}) is behind the newest "
                                  f"command obeyed ({high.isoformat()}); set the clock")
        if c.expires_at <= c.issued_at:
            return Verdict(False, "expires before it was issued")
        if c.expires_at - c.issued_at > self.max_lifetime:
            return Verdict(False, f"valid for longer than {self.max_lifetime.total_seconds():g} s")
        if c.issued_at > now + LEEWAY:
            return Verdict(False, "issued in the future (check the clocks)")
        if now > c.expires_at + LEEWAY:
            return Verdict(False, "expired")
        if c.action is Action.OPEN and (
                c.reader_id is None or self.controls is None
                or c.reader_id not in self.controls.readers):
            return Verdict(False, f"open needs a reader of this gate, not {c.reader_id!r}")
        if c.action is Action.HOLD_OPEN and (c.seconds is None
                                             or c.seconds > self.hold_open_max_s):
            return Verdict(False, f"hold_open needs seconds up to {self.hold_open_max_s:g}")
        if not self._first_use(c):
            return Verdict(False, "nonce seen before: a replay", forged=True)
        return None

    def _first_use(self, c: Command) -> bool:
        now = self.clock.now()
        try:
            with immediate(self.db):
                self.db.execute("DELETE FROM sync_nonces WHERE expires_at < ?", [utc_text(now)])
                self.db.execute(
                    "INSERT INTO sync_nonces (nonce, command_id, expires_at, seen_at) "
                    "VALUES (?, ?, ?, ?)",
                    [c.nonce, c.command_id, utc_text(c.expires_at + NONCE_KEEP),
                     utc_text(now)])
                self.db.execute(
                    "INSERT INTO sync_counters (name, value) VALUES (?, ?) ON CONFLICT (name) "
                    "DO UPDATE SET value = max(value, excluded.value)",
                    [_HIGH_WATER, _micros(c.issued_at)])
        except sqlite3.IntegrityError:
            return False
        return True

    def _high_water(self) -> datetime | None:
        row = self.db.execute("SELECT value FROM sync_counters WHERE name = ?",
                              [_HIGH_WATER]).fetchone()
        return None if row is None else datetime.fromtimestamp(row[0] / 1e6, UTC)

    def _execute(self, c: Command, controls: DoorControls, actor: str,
                 reason: str) -> Verdict:
        if c.action is Action.OPEN:
            if c.reader_id is None:  # _check refuses it already; kept for the type checker
                return Verdict(False, "open needs a reader of this gate")
            outcome = controls.open_once(c.reader_id, actor=actor, reason=reason)
            if not outcome.released:
                return Verdict(False, "the door did not release (lockdown?)")
            return Verdict(True, "door released once")
        mode = {Action.LOCKDOWN: DoorMode.LOCKDOWN, Action.HOLD_OPEN: DoorMode.HOLD_OPEN,
                Action.NORMAL: DoorMode.NORMAL}[c.action]
        doors = controls.set_mode(mode, actor=actor, reason=reason, seconds=c.seconds)
        unsaved = controls.unsaved(doors)
        if unsaved:  # in force; the platform must know a restart would lose it
            return Verdict(True, f"{len(doors)} door(s) now {mode.value}; not saved yet on "
                           f"{', '.join(unsaved)} (the gate's storage cannot be written): a "
                           "restart before it is would lose it")
        return Verdict(True, f"{len(doors)} door(s) now {mode.value}")


def _micros(at: datetime) -> int:
    return round(at.timestamp() * 1e6)

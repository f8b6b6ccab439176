"""Remote door commands from the platform: open once, lockdown, hold-open, back to normal.

Write access to the broker alone must never open a door, so a command is obeyed only when it
is signed by a platform key (checked before this module sees it), addressed to this compound
and gate, inside its short validity window, and carries a nonce never seen before (nonces are
kept in the database until well after their command expired, so a restart allows no replay).
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlite_utils import Database

from gate.checkpoint import Checkpoint
from gate.clock import Clock
from gate.door import Door, DoorMode
from gate.errors import DoorError
from gate.journal.queries import utc_text
from gate.model import Reader
from sync.bodies import Id, Text
from sync.schema import immediate

log = logging.getLogger(__name__)

LEEWAY = timedelta(seconds=30)  # clock difference tolerated between platform and gate


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
class GateControls:
    """What commands act on: the checkpoint (for recorded openings) and the doors."""

    checkpoint: Checkpoint
    doors: dict[str, Door]  # reader id -> its door
    readers: dict[str, Reader]


@dataclass(frozen=True)
class Verdict:
    """Whether a command was carried out, and why not."""

    accepted: bool
    reason: str
    forged: bool = False  # deserves an alert: someone tried to misuse the channel


class Commands:
    """Checks and carries out commands for one gate."""

    def __init__(self, db: Database, *, compound_id: str, gate_id: str, clock: Clock,
                 controls: GateControls | None, max_lifetime_s: int = 300,
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
                self.db.execute("DELETE FROM sync_nonces WHERE expires_at < ?",
                                [utc_text(now - LEEWAY)])
                self.db.execute(
                    "INSERT INTO sync_nonces (nonce, command_id, expires_at, seen_at) "
                    "VALUES (?, ?, ?, ?)",
                    [c.nonce, c.command_id, utc_text(c.expires_at + 2 * LEEWAY),
                     utc_text(now)])
        except sqlite3.IntegrityError:
            return False
        return True

    def _execute(self, c: Command, controls: GateControls, actor: str,
                 reason: str) -> Verdict:
        if c.action is Action.OPEN:
            reader = controls.readers[c.reader_id]  # type: ignore[index]
            outcome = controls.checkpoint.override(reader, actor=actor, reason=reason)
            if not outcome.released:
                return Verdict(False, "the door did not release (lockdown?)")
            return Verdict(True, "door released once")
        doors = list({id(d): d for d in controls.doors.values()}.values())
        mode = {Action.LOCKDOWN: DoorMode.LOCKDOWN, Action.HOLD_OPEN: DoorMode.HOLD_OPEN,
                Action.NORMAL: DoorMode.NORMAL}[c.action]
        for door in doors:
            door.set_mode(mode, seconds=c.seconds, actor=actor, reason=reason)
        return Verdict(True, f"{len(doors)} door(s) now {mode.value}")

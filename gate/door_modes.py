"""Door modes kept across restarts: a watchdog restart in the middle of a lockdown comes back in
lockdown, a timed hold-open with the time it had left, and back to normal once that ran out.

Each door's mode is written when it changes (a door listener on its "mode" events, the ones
a hold-open's end raises included) into a table of its own, on a connection of its own, and
read back when the gate builds its doors. The end of a hold-open is kept as wall time (UTC):
monotonic time does not survive a restart.

The names ("gridgate.door_modes", "0001_door_modes") are recorded in existing databases:
never rename them; add a migration instead.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from gate.clock import Clock
from gate.door import Door, DoorEvent
from gate.errors import JournalError
from gate.journal.queries import utc_text
from gate.store import immediate
from gate.vocabulary import DoorEventKind, DoorMode

log = logging.getLogger(__name__)
migrations = Migrations("gridgate.door_modes")
RESTORED = "restored after a restart"


@migrations(name="0001_door_modes")
def _create_table(db: Database) -> None:
    db.execute(
        """
        CREATE TABLE door_modes (
            door TEXT PRIMARY KEY,                 -- e.g. 'relay17'
            mode TEXT NOT NULL,                    -- normal, lockdown, hold_open
            until TEXT,                            -- UTC end of a hold-open
            detail TEXT NOT NULL DEFAULT '',       -- the mode event's detail: why
            actor TEXT,
            set_at TEXT NOT NULL
        )
        """
    )


@dataclass(frozen=True)
class SavedMode:
    """A door's mode as it was last set."""

    door: str
    mode: DoorMode
    until: datetime | None
    detail: str
    actor: str | None


class DoorModeStore:
    """The door_modes table; thread-safe (doors change modes from any thread)."""

    def __init__(self, db: Database, *, clock: Clock) -> None:
        self.db = db
        self.clock = clock
        self._lock = threading.Lock()
        self._restoring: set[str] = set()  # doors whose mode events come from `restore`
        try:
            migrations.apply(db)
        except sqlite3.Error as exc:
            raise JournalError(f"cannot prepare the door_modes table: {exc}") from exc

    def load(self) -> dict[str, SavedMode]:
        """Every door's saved mode, by door name."""
        rows = self.db.execute("SELECT door, mode, until, detail, actor FROM door_modes")
        saved = {}
        for door, mode, until, detail, actor in rows.fetchall():
            try:
                kind = DoorMode(mode)
            except ValueError:
                log.error("door %s: unknown saved mode %r ignored; the door starts normal",
                          door, mode)
                continue
            saved[door] = SavedMode(door, kind, datetime.fromisoformat(until) if until else None,
                                    detail, actor)
        return saved

    def save(self, door: Door, detail: str = "", actor: str | None = None) -> None:
        """Write the door's current mode (and when a hold-open ends)."""
        remaining = door.mode_remaining_s
        now = self.clock.now()
        until = utc_text(now + timedelta(seconds=remaining)) if remaining is not None else None
        with self._lock:
            restoring = door.name in self._restoring
            try:
                with immediate(self.db):
                    if restoring:  # why and by whom stay those of the original change
                        self.db.execute("UPDATE door_modes SET mode = ?, until = ? WHERE door = ?",
                                        [door.mode.value, until, door.name])
                    else:
                        self.db.execute(
                            "INSERT INTO door_modes (door, mode, until, detail, actor, set_at) "
                            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (door) DO UPDATE SET "
                            "mode = excluded.mode, until = excluded.until, "
                            "detail = excluded.detail, actor = excluded.actor, "
                            "set_at = excluded.set_at",
                            [door.name, door.mode.value, until, detail, actor, utc_text(now)])
            except sqlite3.Error as exc:
                raise JournalError(f"cannot save the mode of door {door.name}: {exc}") from exc

    def restore(self, door: Door) -> SavedMode | None:
        """Put the door back in its saved mode; the saved mode, or None when it starts normal
        (nothing saved, normal saved, or a hold-open whose time ran out meanwhile)."""
        saved = self.load().get(door.name)
        if saved is None or saved.mode is DoorMode.NORMAL:
            return None
        seconds = None
        if saved.mode is DoorMode.HOLD_OPEN:
            left = (saved.until - self.clock.now()).total_seconds() if saved.until else 0.0
            if left <= 0:
                log.info("door %s: the hold-open saved before the restart has ended", door.name)
                with self._lock:
                    self._restoring.add(door.name)
                try:
                    self.save(door)  # normal now
                finally:
                    self._restoring.discard(door.name)
                return None
            seconds = left
        with self._lock:
            self._restoring.add(door.name)
        try:
            door.set_mode(saved.mode, seconds=seconds, actor=saved.actor, reason=RESTORED)
        finally:
            with self._lock:
                self._restoring.discard(door.name)
        log.warning("door %s: %s again after a restart (%s)", door.name, saved.mode.value,
                    saved.detail)
        return saved

    def recorder(self, door: Door) -> None:
        """Keep this door's mode from now on: saved each time it changes."""

        def record(event: DoorEvent) -> None:
            if event.kind is DoorEventKind.MODE:
                self.save(door, event.detail, event.actor)

        door.add_listener(record)


def keep_modes(store: DoorModeStore, doors: Iterable[Door]) -> list[SavedMode]:
    """Restore each door's saved mode, then save every change; the modes restored."""
    restored = []
    for door in doors:
        store.recorder(door)
        saved = store.restore(door)
        if saved is not None:
            restored.append(saved)
    return restored

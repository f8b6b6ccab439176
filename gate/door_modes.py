"""Door modes kept across restarts: a watchdog restart in the middle of a lockdown comes back in
lockdown, a timed hold-open with the time it had left, and back to normal once that ran out.

Each door's mode is written when it changes (a door listener on its "mode" events, the ones
a hold-open's end raises included) into a table of its own, and read back when the gate builds
its doors. The write goes through the record keeper (gate/journal/keeper.py), in order with
the gate's other records: while the database cannot be written it waits and is retried (the
disk reserve is freed on a full disk), and a lockdown that could not be saved at once raises
an urgent alert, and `waiting()` tells the caller (panel, platform command).

The end of a hold-open is kept as wall time (UTC): monotonic time does not survive a restart.
A wall clock can be wrong at boot (no battery clock, fake-hwclock an hour behind, no NTP yet),
so a hold-open comes back for at most the time it was set for and the configured maximum, and
not at all when the clock cannot be trusted: the door comes back normal (locked), with an alert.

The names ("gridgate.door_modes", "0001_door_modes") are recorded in existing databases:
never rename them; add a migration instead.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from gate.clock import Clock
from gate.door import Door, DoorEvent
from gate.errors import JournalError
from gate.events import JournalEvent
from gate.freshness import clock_doubt
from gate.journal.journal import Journal
from gate.journal.keeper import RecordKeeper
from gate.journal.queries import utc_text
from gate.model import AlertSpec, Severity
from gate.vocabulary import AlertKind, DoorEventKind, DoorMode

log = logging.getLogger(__name__)
migrations = Migrations("gridgate.door_modes")
RESTORED = "restored after a restart"
HOLD_OPEN_MAX_S = 24 * 3600.0  # the longest hold-open any setting allows


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


@migrations(name="0002_door_modes_requested")
def _add_requested(db: Database) -> None:
    # How long a hold-open was set for: a restored one never lasts longer, whatever the clock.
    # Also when it was set, in wall time, is compared with the clock at restore (set_at).
    db.execute("ALTER TABLE door_modes ADD COLUMN seconds REAL")


@dataclass(frozen=True)
class SavedMode:
    """A door's mode as it was last set."""

    door: str
    mode: DoorMode
    until: datetime | None
    detail: str
    actor: str | None
    seconds: float | None = None  # a hold-open's time as set (None: saved before it was kept)
    set_at: datetime | None = None


@dataclass(eq=False)
class ModeRecord:
    """A door's mode as it changed, to write now or, kept by the record keeper, once the
    database can be written (a LaterRecord: it writes itself in a journal transaction)."""

    store: DoorModeStore
    door: str
    mode: DoorMode
    until: str | None
    seconds: float | None
    detail: str
    actor: str | None
    set_at: str
    restoring: bool  # why and by whom stay those of the original change
    saved: bool = False

    def after(self, events: list[JournalEvent]) -> ModeRecord:
        return self

    def write(self, journal: Journal) -> list[JournalEvent]:
        """Write the row in one transaction on the journal's connection; no event."""
        journal.write(self._row)
        self.saved = True
        self.store.written(self)
        return []

    def _row(self, db: Database) -> list[JournalEvent]:
        if self.restoring:
            db.execute("UPDATE door_modes SET mode = ?, until = ? WHERE door = ?",
                       [self.mode.value, self.until, self.door])
        else:
            db.execute(
                "INSERT INTO door_modes (door, mode, until, seconds, detail, actor, set_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (door) DO UPDATE SET "
                "mode = excluded.mode, until = excluded.until, seconds = excluded.seconds, "
                "detail = excluded.detail, actor = excluded.actor, set_at = excluded.set_at",
                [self.door, self.mode.value, self.until, self.seconds, self.detail, self.actor,
                 self.set_at])
        return []


class DoorModeStore:
    """The door_modes table; thread-safe (doors change modes from any thread). Reads on `db`,
    writes through `keeper`; `synchronised` says whether the wall clock is (None: unknown)."""

    def __init__(self, db: Database, *, clock: Clock, keeper: RecordKeeper,
                 synchronised: Callable[[], bool | None] = lambda: None,
                 hold_open_max_s: float = HOLD_OPEN_MAX_S) -> None:
        self.db = db
        self.clock = clock
        self.keeper = keeper
        self.synchronised = synchronised
        self.hold_open_max_s = hold_open_max_s
        self._lock = threading.Lock()
        # Taken before the keeper's lock, never while holding it (the keeper's writes take
        # `_lock` through `written`): saves reach the keeper in the order they were made.
        self._saving = threading.Lock()
        self._restoring: set[str] = set()  # doors whose mode events come from `restore`
        self._waiting: dict[str, ModeRecord] = {}  # each door's latest save not yet written
        try:
            migrations.apply(db)
        except sqlite3.Error as exc:
            raise JournalError(f"cannot prepare the door_modes table: {exc}") from exc

    def load(self) -> dict[str, SavedMode]:
        """Every door's saved mode, by door name."""
        rows = self.db.execute(
            "SELECT door, mode, until, detail, actor, seconds, set_at FROM door_modes")
        saved = {}
        for door, mode, until, detail, actor, seconds, set_at in rows.fetchall():
            try:
                kind = DoorMode(mode)
            except ValueError:
                log.error("door %s: unknown saved mode %r ignored; the door starts normal",
                          door, mode)
                continue
            saved[door] = SavedMode(door, kind, _utc(until), detail, actor, seconds,
                                    _utc(set_at))
        return saved

    def save(self, door: Door, detail: str = "", actor: str | None = None) -> bool:
        """Keep the door's current mode (and when a hold-open ends); True when written now,
        False when it waits for the database (retried; a lockdown raises an urgent alert)."""
        with self._saving:  # kept in the order they were taken: the last one is the door's now
            remaining = door.mode_remaining_s
            now = self.clock.now()
            with self._lock:
                until = now + timedelta(seconds=remaining) if remaining is not None else None
                record = ModeRecord(self, door.name, door.mode, utc_text(until) if until else None,
                                    remaining, detail, actor, utc_text(now),
                                    restoring=door.name in self._restoring)
                self._waiting[door.name] = record
            self.keeper.keep(record)
        if record.saved:
            return True
        log.error("door %s: %s is in force but not saved yet (the database cannot be written); "
                  "it is retried", door.name, door.mode.value)
        if record.mode is DoorMode.LOCKDOWN and not record.restoring:
            self.keeper.alert(_unsaved_alert(door.name, actor, detail))
        return False

    def written(self, record: ModeRecord) -> None:
        """A save reached the database (the keeper writes them in order)."""
        with self._lock:
            if self._waiting.get(record.door) is record:
                del self._waiting[record.door]

    def waiting(self, door: str) -> bool:
        """True while the door's latest mode is not yet in the database."""
        with self._lock:
            return door in self._waiting

    def restore(self, door: Door) -> SavedMode | None:
        """Put the door back in its saved mode; the saved mode, or None when it starts normal
        (nothing saved, normal saved, a hold-open whose time ran out meanwhile, or one the
        clock cannot be trusted to time)."""
        saved = self.load().get(door.name)
        if saved is None or saved.mode is DoorMode.NORMAL:
            return None
        seconds = None
        if saved.mode is DoorMode.HOLD_OPEN:
            seconds = self._hold_left(door, saved)
            if seconds is None:
                self._restoring_save(door)  # normal now
                return None
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

    def _hold_left(self, door: Door, saved: SavedMode) -> float | None:
        """Seconds a saved hold-open still has: at most what was set and the configured
        maximum; None when it has ended or the clock cannot be trusted (then alerted)."""
        now = self.clock.now()
        doubt = clock_doubt(now, self.synchronised())
        if doubt is None and saved.set_at is not None and now < saved.set_at:
            doubt = f"it says {now:%Y-%m-%d %H:%M} UTC, before the hold-open was set"
        if doubt is not None:
            log.warning("door %s: the hold-open saved before the restart is not restored: the "
                        "clock cannot be trusted (%s)", door.name, doubt)
            self.keeper.alert(_not_restored_alert(door.name, saved, doubt))
            return None
        left = (saved.until - now).total_seconds() if saved.until else 0.0
        left = min(left, saved.seconds if saved.seconds is not None else left,
                   self.hold_open_max_s)
        if left <= 0:
            log.info("door %s: the hold-open saved before the restart has ended", door.name)
            return None
        return left

    def _restoring_save(self, door: Door) -> None:
        with self._lock:
            self._restoring.add(door.name)
        try:
            self.save(door)
        finally:
            with self._lock:
                self._restoring.discard(door.name)

    def recorder(self, door: Door) -> None:
        """Keep this door's mode from now on: saved each time it changes."""

        def record(event: DoorEvent) -> None:
            if event.kind is DoorEventKind.MODE:
                self.save(door, event.detail, event.actor)

        door.add_listener(record)


def _utc(text: str | None) -> datetime | None:
    if not text:
        return None
    at = datetime.fromisoformat(text)
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)  # written by hand: UTC


def _unsaved_alert(door: str, actor: str | None, detail: str) -> AlertSpec:
    who = actor or "?"
    return AlertSpec(
        AlertKind.OVERRIDE, Severity.URGENT,
        f"{door} 已封锁（{who}：{detail}），但数据库无法写入，封锁未保存：闸机重启后门将恢复正常。"
        "请立即清理存储，并在重启后核对封锁",
        f"{door} is locked down ({who}: {detail}) but the database cannot be written, so the "
        "lockdown is not saved: after a restart the door would be back to normal. Free "
        "storage now, and check the lockdown after any restart")


def _not_restored_alert(door: str, saved: SavedMode, doubt: str) -> AlertSpec:
    who = saved.actor or "?"
    return AlertSpec(
        AlertKind.OVERRIDE, Severity.WARNING,
        f"{door} 重启前由 {who} 设为常开（{saved.detail}），重启后闸机时钟不可信（{doubt}），"
        "未恢复常开：门已恢复正常（锁闭）。如仍需常开请重新设置",
        f"{door} was held open by {who} ({saved.detail}) before a restart; the gate's clock "
        f"cannot be trusted now ({doubt}), so the hold-open was not restored: the door is "
        "normal (locked). Set it again if it is still needed")


def keep_modes(store: DoorModeStore, doors: Iterable[Door]) -> list[SavedMode]:
    """Restore each door's saved mode, then save every change; the modes restored."""
    restored = []
    for door in doors:
        store.recorder(door)
        saved = store.restore(door)
        if saved is not None:
            restored.append(saved)
    return restored

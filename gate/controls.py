"""Door controls beyond a decision: open once, lockdown, hold-open, back to normal.

Guards (the panel) and the platform (signed commands) both come through here, so an override
is the same fact whoever asks: an open-once is an override passage decided by the checkpoint
(its listeners hear it like any other outcome), a lockdown or hold-open changes the door's mode
and raises an "override" alert naming who and why. What the doors report by themselves
(forced, held open) is journaled by `door_event_recorder`, with the alerts guards must hear of.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from gate.checkpoint import Checkpoint, Outcome
from gate.door import Door, DoorEvent, DoorListener, DoorMode
from gate.door_modes import DoorModeStore
from gate.journal.keeper import RecordKeeper
from gate.model import AlertSpec, Reader, Severity
from gate.vocabulary import AlertKind, DoorEventKind

log = logging.getLogger(__name__)

# Door events that are alerts: kind -> (alert kind, severity, Chinese, English).
DOOR_ALERTS = {
    DoorEventKind.FORCED: (AlertKind.DOOR_FORCED, Severity.URGENT, "门被强行打开",
                           "door forced open"),
    DoorEventKind.HELD_OPEN: (AlertKind.DOOR_HELD_OPEN, Severity.WARNING, "门长时间未关",
                              "door held open"),
}


def door_event_alert(event: DoorEvent) -> AlertSpec | None:
    """The alert a door event raises, or None for the ordinary ones."""
    if not event.alert or event.kind not in DOOR_ALERTS:
        return None
    kind, severity, zh, en = DOOR_ALERTS[event.kind]
    return AlertSpec(kind, severity, f"{zh}（{event.door}）", f"{en} ({event.door})")


def mode_alert(mode: DoorMode, *, reader_id: str | None, actor: str, reason: str,
               seconds: float | None) -> AlertSpec | None:
    """The override alert of a mode change of one reader's door (or of all doors, without
    `reader_id`); None for back to normal."""
    where_zh, where_en = (reader_id, reader_id) if reader_id else ("所有门", "all doors")
    if mode is DoorMode.LOCKDOWN:
        zh, en = f"{actor} 封锁了 {where_zh}", f"{actor} locked {where_en} down"
    elif mode is DoorMode.HOLD_OPEN:
        minutes = (seconds or 0.0) / 60
        zh = f"{actor} 将 {where_zh} 设为常开 {minutes:g} 分钟"
        en = f"{actor} held {where_en} open for {minutes:g} min"
    else:
        return None
    return AlertSpec(AlertKind.OVERRIDE, Severity.INFO, f"{zh}：{reason}", f"{en}: {reason}")


def door_event_recorder(keeper: RecordKeeper) -> DoorListener:
    """A door listener that records each door event, with its alert when it is one guards must
    hear of; given to each door as it is built, so no event goes unrecorded (on a full disk
    they wait in the keeper)."""

    def record(event: DoorEvent) -> None:
        keeper.door_event(event.door, event.kind, event.detail, event.actor)
        alert = door_event_alert(event)
        if alert is not None:
            keeper.alert(alert)

    return record


class DoorControls:
    """The doors of one gate as guards and the platform command them."""

    def __init__(self, *, checkpoint: Checkpoint, doors: Mapping[str, Door],
                 readers: Mapping[str, Reader], modes: DoorModeStore | None = None) -> None:
        self.checkpoint = checkpoint
        self.keeper = checkpoint.keeper
        self.doors = dict(doors)  # reader id -> its door (readers may share one)
        self.readers = dict(readers)
        self.modes = modes  # where modes are kept across restarts (None: not kept)

    def unique_doors(self) -> list[Door]:
        """Each door once, in the order of the readers."""
        return list({id(d): d for d in self.doors.values()}.values())

    def door(self, reader_id: str) -> Door | None:
        """The door behind a reader, or None for an unknown reader."""
        return self.doors.get(reader_id)

    def open_once(self, reader_id: str, *, actor: str, reason: str,
                  snapshot: str | None = None) -> Outcome:
        """Release the reader's door once, recorded as an override passage with its alert;
        KeyError for an unknown reader. In lockdown the passage says the door stayed shut."""
        reader = self.readers[reader_id]
        outcome = self.checkpoint.override(reader, actor=actor, reason=reason, snapshot=snapshot)
        log.info("%s opened %s once (%s): %s", actor, reader_id,
                 "released" if outcome.released else "refused", reason)
        return outcome

    def set_mode(self, mode: DoorMode, *, actor: str, reason: str = "",
                 reader_id: str | None = None, seconds: float | None = None,
                 snapshot: str | None = None) -> list[Door]:
        """Put one reader's door (or, without `reader_id`, every door) in `mode`; lockdown and
        hold-open raise an override alert. DoorError when the door refuses (hold-open without
        a time limit), KeyError for an unknown reader."""
        doors = [self.doors[reader_id]] if reader_id is not None else self.unique_doors()
        detail = f"{reason} [snapshot {snapshot}]" if snapshot else reason
        for door in doors:
            door.set_mode(mode, seconds=seconds, actor=actor, reason=detail)
        target = reader_id if reader_id is not None else "all doors"
        alert = mode_alert(mode, reader_id=reader_id, actor=actor, reason=reason,
                           seconds=seconds)
        if alert is not None:
            self.keeper.alert(alert, reader_id=reader_id)  # waits if the disk is full
        log.info("%s set %s to %s: %s", actor, target, mode.value, reason)
        return doors

    def unsaved(self, doors: list[Door]) -> list[str]:
        """The names of these doors whose mode is in force but not yet saved (the database
        cannot be written: it is retried; lost if the gate restarts before)."""
        if self.modes is None:
            return []
        return [door.name for door in doors if self.modes.waiting(door.name)]

    def lock_all(self) -> None:
        """Drive every door locked and release its pins (the gate is stopping)."""
        for door in self.unique_doors():
            door.close()

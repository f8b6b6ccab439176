"""Folding repeated alerts into one with a count, so a flood is one alert guards can answer.

An alert of one kind, reader and person that repeats within `window_s` seconds of the first
while that first is still open (not acknowledged) is not written again: the first one's count
grows, and an `alert_update` event carries the new count (and the time of the last one) to the
platform on the alert's own topic. Patterns of refusals (gate/probing.py) become one `probing`
alert the same way. The platform therefore sees the first alert at once and each count as it
grows: an update is small, carries the whole count (a lost or repeated one does no harm), and
needs no timer that a restart could lose; work-chat webhooks get only the first alert.

The record keeper asks `split` before it writes a passage or an alert: what stays new is
written with the passage in its own transaction, as before; what folds (and a new `probing`
alert, whose count is known only then) comes back as a `FoldRecord`, which the keeper writes
next, in order, in one transaction of its own: a fold costs one more commit (an fsync) than the
alert it replaces, and the door was commanded before either. A crash between the two loses at
most one count or a pattern alert, never the passage or its own alerts.
"""

from __future__ import annotations

import logging
import sqlite3
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlite_utils import Database

from gate.events import JournalEvent
from gate.journal import Journal
from gate.journal.keeper import AlertRecord, PassageRecord
from gate.journal.queries import utc_text
from gate.model import AlertSpec
from gate.probing import Probe, ProbingRules, probe_of, recent_count
from gate.vocabulary import AlertKind, EventType

log = logging.getLogger(__name__)

# Alerts of decisions and doors repeat with the scene; the others are each a fact of their own
# (an override, a configuration change, a trouble of the gate itself) and are never folded.
FOLDED = frozenset({
    AlertKind.FORGED_PASS, AlertKind.REVOKED_PASS, AlertKind.PASS_SHARED,
    AlertKind.RED_EXIT_ATTEMPT, AlertKind.RED_ENTRY, AlertKind.PASSBACK, AlertKind.TAILGATING,
    AlertKind.DOOR_FORCED, AlertKind.DOOR_HELD_OPEN, AlertKind.PROBING, AlertKind.CAMERA_DOWN,
})
_ALERT = ("event_id", "kind", "severity", "reader_id", "person_id", "household_id", "grid_id",
          "passage_id")


def fold_key(kind: str, reader_id: str | None, person_id: str | None) -> str:
    """What makes two alerts "the same": kind, reader and person."""
    return f"{kind}|{reader_id or ''}|{person_id or ''}"


@dataclass(frozen=True)
class FoldRules:
    """How alerts fold: the window of one alert, and the probing patterns."""

    window_s: float = 600.0
    probing: ProbingRules = field(default_factory=ProbingRules)


@dataclass(frozen=True)
class Fold:
    """One more occurrence of an open alert, or a new alert to write with its count."""

    spec: AlertSpec
    key: str
    at: datetime
    who: dict[str, str | None]
    alert_id: int | None = None  # the open alert it folds into; None: a new alert
    count: int = 1  # for a new alert: occurrences it stands for already


@dataclass(frozen=True)
class FoldRecord:
    """Counts to raise and pattern alerts to write, after the passage they came from."""

    folds: tuple[Fold, ...]
    passage_id: int | None = None  # the passage whose refusal a new pattern alert counts

    def after(self, events: list[JournalEvent]) -> FoldRecord:
        """The same, tied to the passage just written (its events)."""
        passage = next((e for e in events if e.kind is EventType.PASSAGE), None)
        return replace(self, passage_id=passage.row["id"]) if passage else self

    def write(self, journal: Journal) -> list[JournalEvent]:
        """Write every fold in one transaction; their events."""
        return journal.write(lambda db: [self._one(journal, db, fold) for fold in self.folds])

    def _one(self, journal: Journal, db: Database, fold: Fold) -> JournalEvent:
        at = utc_text(fold.at)
        if fold.alert_id is not None:
            grown = db.execute(
                "UPDATE alert_folds SET count = count + 1, last_at = max(last_at, ?) "
                "WHERE alert_id = ? AND alert_id IN (SELECT id FROM alerts WHERE id = ? AND "
                "acknowledged_at IS NULL)", [at, fold.alert_id, fold.alert_id]).rowcount
            if grown == 1:
                return _update_event(db, journal.gate_id, fold.alert_id, at)
            # Acknowledged since it was planned: the occurrence is a new alert after all.
        event = journal.insert_alert(fold.spec, at=fold.at, passage_id=self.passage_id,
                                     **fold.who)
        db.execute("INSERT INTO alert_folds (alert_id, fold_key, count, first_at, last_at) "
                   "VALUES (?, ?, ?, ?, ?)", [event.row["id"], fold.key, fold.count, at, at])
        event.row["count"] = fold.count  # before the outbox's hook reads the row
        return event


def _update_event(db: Database, gate_id: str, alert_id: int, at: str) -> JournalEvent:
    alert = dict(zip(_ALERT, db.execute(f"SELECT {', '.join(_ALERT)} FROM alerts WHERE id = ?",
                                        [alert_id]).fetchone(), strict=True))
    count, first_at, last_at = db.execute(
        "SELECT count, first_at, last_at FROM alert_folds WHERE alert_id = ?",
        [alert_id]).fetchone()
    row: dict[str, Any] = {"event_id": uuid.uuid4().hex, "at": at, "gate_id": gate_id,
                           "alert_id": alert_id, "alert_event_id": alert.pop("event_id"),
                           **alert, "count": count, "first_at": first_at, "last_at": last_at}
    return JournalEvent(row["event_id"], EventType.ALERT_UPDATE, row, row["grid_id"])


class AlertFolder:
    """Plans, for each record the keeper writes, which of its alerts fold into open ones."""

    def __init__(self, journal: Journal, rules: FoldRules | None = None) -> None:
        self.journal = journal
        self.rules = rules or FoldRules()
        journal.add_transaction_hook(self._count_new_alert)

    def _count_new_alert(self, db: Database, event: JournalEvent) -> None:
        """Every alert written gets its fold row (count 1) in its own transaction."""
        row = event.row
        if event.kind is not EventType.ALERT or row.get("escalated"):
            return
        db.execute("INSERT OR IGNORE INTO alert_folds (alert_id, fold_key, count, first_at, "
                   "last_at) VALUES (?, ?, 1, ?, ?)",
                   [row["id"], fold_key(row["kind"], row.get("reader_id"), row.get("person_id")),
                    row["at"], row["at"]])

    def open_alert(self, key: str, at: datetime) -> int | None:
        """The open alert of `key` whose first occurrence is within the window before `at`."""
        if self.rules.window_s <= 0:
            return None
        since = utc_text(at - timedelta(seconds=self.rules.window_s))
        row = self.journal.db.execute(
            "SELECT f.alert_id FROM alert_folds f JOIN alerts a ON a.id = f.alert_id "
            "WHERE f.fold_key = ? AND f.first_at >= ? AND f.first_at <= ? "
            "AND a.acknowledged_at IS NULL ORDER BY f.alert_id DESC LIMIT 1",
            [key, since, utc_text(at)]).fetchone()
        return int(row[0]) if row else None

    def split(self, record: PassageRecord | AlertRecord
              ) -> tuple[PassageRecord | AlertRecord | None, FoldRecord | None]:
        """The record to write now (None: nothing left) and what folds, to write after it."""
        try:
            if isinstance(record, AlertRecord):
                return self._split_alert(record)
            return self._split_passage(record)
        except sqlite3.Error as exc:  # the record itself must still be written, unfolded
            log.error("alert folding could not read the journal, writing as it is: %s", exc)
            return record, None

    def _split_alert(self, record: AlertRecord
                     ) -> tuple[AlertRecord | None, FoldRecord | None]:
        if record.spec.kind not in FOLDED:
            return record, None
        at = self.journal.clock.now()
        key = fold_key(record.spec.kind, record.reader_id, record.person_id)
        alert_id = self.open_alert(key, at)
        if alert_id is None:
            return record, None
        who = {"reader_id": record.reader_id, "person_id": record.person_id,
               "household_id": record.household_id, "grid_id": record.grid_id}
        return None, FoldRecord((Fold(record.spec, key, at, who, alert_id),))

    def _split_passage(self, record: PassageRecord
                       ) -> tuple[PassageRecord, FoldRecord | None]:
        obs, decision = record.observation, record.decision
        person = record.person
        who = {"reader_id": obs.reader.reader_id,
               "person_id": decision.person_id or (person.person_id if person else None),
               "household_id": person.household_id if person else None,
               "grid_id": person.grid_id if person else None}
        claims = obs.pass_check.claims if obs.pass_check else None
        if person is None and claims is not None:
            who["household_id"], who["grid_id"] = claims.household_id, claims.grid_id
        folds: list[Fold] = []
        covered: frozenset[AlertKind] = frozenset()
        probe = probe_of(obs, decision.rule, decision.granted)
        if probe is not None:
            fold = self._probing(probe, who)
            if fold is not None:
                folds.append(fold)
                covered = probe.covers
        keep: list[AlertSpec] = []
        for spec in decision.alerts:
            if spec.kind in covered:
                continue
            key = fold_key(spec.kind, who["reader_id"], who["person_id"])
            alert_id = self.open_alert(key, obs.seen_at) if spec.kind in FOLDED else None
            if alert_id is None:
                keep.append(spec)
            else:
                folds.append(Fold(spec, key, obs.seen_at, who, alert_id))
        if not folds:
            return record, None
        now = replace(record, decision=replace(decision, alerts=tuple(keep)))
        return now, FoldRecord(tuple(folds))

    def _probing(self, probe: Probe, who: dict[str, str | None]) -> Fold | None:
        """One more refusal of an open pattern, a pattern now reached, or None."""
        key = probe.fold_key
        spec = probe.alert()
        pattern_who = {**who, "reader_id": probe.reader_id}
        if probe.pattern != "pass":  # a reader's pattern is about no one person
            pattern_who = dict.fromkeys(who) | {"reader_id": probe.reader_id}
        alert_id = self.open_alert(key, probe.at)
        if alert_id is not None:
            return Fold(spec, key, probe.at, pattern_who, alert_id)
        rules = self.rules.probing
        count = 1 + recent_count(self.journal.db, probe, gate_id=self.journal.gate_id,
                                 window_s=rules.window_s)
        if count < rules.count:
            return None
        return Fold(spec, key, probe.at, pattern_who, None, count)


def fold_counts(db: Database, alert_ids: Iterable[int]) -> dict[int, tuple[int, str]]:
    """Count and last occurrence of each alert (alerts without a fold row count once)."""
    ids = list(alert_ids)
    if not ids:
        return {}
    rows = db.execute(f"SELECT alert_id, count, last_at FROM alert_folds WHERE alert_id IN "
                      f"({', '.join('?' for _ in ids)})", ids).fetchall()
    return {int(a): (int(c), str(last)) for a, c, last in rows}

"""The outbox's storage bound: when full, drop routine events oldest first, count and alert.

Passages and alerts are never dropped: the outbox then grows past its bound and an alert says
so. Dropped events leave holes in the per-gate sequence; the alert lists them so the platform
can tell a drop from a loss.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlite_utils import Database

from gate.model import AlertSpec, Severity
from gate.vocabulary import AlertKind
from sync.schema import counter

log = logging.getLogger(__name__)

MAX_RANGES_SHOWN = 20


def ranges_text(seqs: list[int]) -> str:
    """'3-7, 9, 12-14' for sorted sequence numbers (at most MAX_RANGES_SHOWN ranges)."""
    parts: list[str] = []
    start: int | None = None  # of the range being collected
    prev = 0
    for s in sorted(seqs):
        if start is not None and s != prev + 1:
            parts.append(f"{start}" if start == prev else f"{start}-{prev}")
            start = None
        if start is None:
            start = s
        prev = s
    if start is not None:
        parts.append(f"{start}" if start == prev else f"{start}-{prev}")
    shown = ", ".join(parts[:MAX_RANGES_SHOWN])
    return shown + (f" (+{len(parts) - MAX_RANGES_SHOWN} more ranges)"
                    if len(parts) > MAX_RANGES_SHOWN else "")


class OutboxBound:
    """Keeps the outbox at or below `max_rows` rows by dropping routine rows."""

    def __init__(self, max_rows: int, *, monotonic: Callable[[], float],
                 alert_interval_s: float = 600.0) -> None:
        self.max_rows = max_rows
        self.monotonic = monotonic
        self.alert_interval_s = alert_interval_s
        self._lock = threading.Lock()
        self._dropped: list[int] = []  # seqs dropped since the last alert
        self._over = False
        self._last_alert: float | None = None

    def enforce(self, db: Database) -> int:
        """Inside the writer's transaction: drop routine rows while over the bound."""
        rows = counter(db, "outbox_rows")
        if rows <= self.max_rows:
            return 0
        # Drop a little more than needed so a full outbox does not pay this on every insert.
        excess = rows - self.max_rows + max(1, self.max_rows // 100)
        dropped = [r[0] for r in db.execute(
            "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE routine = 1 "
            "ORDER BY id LIMIT ?) RETURNING seq", [excess]).fetchall()]
        if dropped:
            db.execute("UPDATE sync_counters SET value = value + ? WHERE name = 'dropped_routine'",
                       [len(dropped)])
        with self._lock:
            self._dropped.extend(dropped)
            if rows - len(dropped) > self.max_rows:
                self._over = True
        return len(dropped)

    def pending_alert(self) -> AlertSpec | None:
        """After commit: the alert to record, at most once per interval, or None."""
        with self._lock:
            if not self._dropped and not self._over:
                return None
            now = self.monotonic()
            if self._last_alert is not None and now - self._last_alert < self.alert_interval_s:
                return None
            self._last_alert = now
            dropped, over = sorted(set(self._dropped)), self._over
            self._dropped, self._over = [], False
        parts_zh, parts_en = [], []
        if dropped:
            text = ranges_text(dropped)
            parts_zh.append(f"存储已满，丢弃 {len(dropped)} 条例行门事件（序号 {text}）")
            parts_en.append(f"outbox full: dropped {len(dropped)} routine door events "
                            f"(seq {text})")
        if over:
            parts_zh.append(f"待发送通行记录和告警超过上限 {self.max_rows} 条，仍全部保留")
            parts_en.append(f"passages and alerts waiting exceed the bound of {self.max_rows} "
                            "rows; all are kept")
        log.warning("outbox bound: %s", "; ".join(parts_en))
        return AlertSpec(AlertKind.OUTBOX_FULL, Severity.WARNING, "；".join(parts_zh),
                         "; ".join(parts_en))

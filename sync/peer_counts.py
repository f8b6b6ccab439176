"""What the peer link counts (the `peer_` counters of the state message's `inbound`), the
refusals it logs (a few lines a minute per reason) and the `forged_peer` alerts it raises (one a
minute: a flood cannot fill the outbox)."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable

from gate.model import AlertSpec, Severity
from gate.vocabulary import AlertKind

log = logging.getLogger("sync.peers")

ALERT_INTERVAL_S = 60.0
LOG_BURST = 10  # refusal lines per reason a minute; the rest are only counted


class PeerCounts:
    """Counters, refusal lines and forgery alerts of one peer link; safe from any thread."""

    def __init__(self, alert: Callable[[AlertSpec], None] | None) -> None:
        self.alert = alert
        self._counters: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._log_window: dict[str, tuple[float, int]] = {}
        self._last_alert: float | None = None
        self._held_back_alerts = 0

    def count(self, name: str, n: int = 1) -> str:
        """Add `n` to `peer_<name>`; returns the counter's name."""
        with self._lock:
            self._counters[f"peer_{name}"] += n
        return f"peer_{name}"

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counters)

    def refuse(self, reason: str, topic: str, detail: str) -> str:
        """Count a refused message, and log it unless too many of its kind were this minute."""
        name = self.count(reason)
        if reason == "echo":
            return name
        now = time.monotonic()
        with self._lock:
            start, lines = self._log_window.get(reason, (now, 0))
            if now - start >= ALERT_INTERVAL_S:
                start, lines = now, 0
            self._log_window[reason] = (start, lines + 1)
        if lines < LOG_BURST:
            log.warning("peer message on %s refused: %s", topic, detail[:300])
        return name

    def forged(self, topic: str, detail: str) -> None:
        """An urgent alert, at most one a minute (the next one says how many were held back)."""
        if self.alert is None:
            return
        now = time.monotonic()
        with self._lock:
            if self._last_alert is not None and now - self._last_alert < ALERT_INTERVAL_S:
                self._held_back_alerts += 1
                return
            self._last_alert = now
            more, self._held_back_alerts = self._held_back_alerts, 0
        extra_zh = f"（另有 {more} 条同类消息）" if more else ""
        extra_en = f" ({more} more like it)" if more else ""
        self.alert(AlertSpec(
            AlertKind.FORGED_PEER, Severity.URGENT,
            f"收到未通过签名校验的其他门岗消息，已拒绝{extra_zh}",
            f"rejected a peer gate's message on {topic}: {detail[:200]}{extra_en}"))

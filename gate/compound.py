"""The compound as one unit: what a gate concludes from the other gates' passages it holds.

Each gate decides alone, on what it knows (doors never wait on the network). Two gates can
therefore both let out a member of one yellow household when they cannot hear each other (a
partition) or within the propagation delay. Once both passages are known, the quota period
holds more exits than the household's quota, through more than one gate: a quota conflict for
the grid worker. Every gate that holds both sees it; exactly one raises it, the gate whose own
exit is the latest of them (ties broken by event id), so the grid hears it once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gate.journal.queries import JournalQueries
from gate.model import AlertSpec, Severity
from gate.policy import Policy
from gate.quota import period_bounds
from gate.vocabulary import AlertKind


@dataclass(frozen=True)
class QuotaConflict:
    """A household's yellow exits in one quota period, over its quota, through several gates."""

    household_id: str
    exits: tuple[dict[str, Any], ...]  # the passages, oldest first
    own: dict[str, Any]  # this gate's exit among them, the latest: the alert is about it
    quota: int

    def alert(self) -> AlertSpec:
        """The grid worker's alert: both gates, both passages."""
        who = ", ".join(f"{e['person_id']}@{e['gate_id']} {e['at'][11:19]}" for e in self.exits)
        return AlertSpec(
            AlertKind.QUOTA_CONFLICT, Severity.URGENT,
            f"黄码户 {self.household_id} 本期外出 {len(self.exits)} 次，超过 {self.quota} 次"
            f"（多个门同时放行）：{who}",
            f"yellow household {self.household_id} went out {len(self.exits)} times this "
            f"period, over its {self.quota} (let out by several gates): {who}")


def quota_conflict(queries: JournalQueries, *, gate_id: str, household_id: str | None,
                   at: datetime, policy: Policy) -> QuotaConflict | None:
    """The quota conflict of the household's period around `at` that this gate must raise,
    or None (no conflict, not this gate's to raise, or raised already)."""
    if not household_id:
        return None
    rules = policy.yellow
    start, end = period_bounds(rules, at, policy.zone)
    exits = tuple(queries.yellow_exits(household_id, start, end))
    if len(exits) <= rules.exits_per_household or len({e["gate_id"] for e in exits}) < 2:
        return None
    latest = exits[-1]
    if latest["gate_id"] != gate_id:
        return None
    raised = queries.conn.execute("SELECT 1 FROM alerts WHERE kind = ? AND passage_id = ?",
                                  [AlertKind.QUOTA_CONFLICT.value, latest["id"]]).fetchone()
    if raised is not None:
        return None
    return QuotaConflict(household_id, exits, latest, rules.exits_per_household)


class CompoundView:
    """How current this gate's picture of the other gates is, for the partition rules.

    The platform link says when the broker connection is up and when a peer gate goes offline
    (its Last Will) or comes back; the age is the time since the gate last could hear every
    gate it knows of: 0 while all is well, None for a gate without a compound link.
    """

    def __init__(self, monotonic: Callable[[], float]) -> None:
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._link_down_since: float | None = monotonic()  # not connected yet
        self._peers_down: dict[str, float] = {}  # peer gate -> since when it is not heard

    def link_up(self) -> None:
        """The broker connection is up: the gate hears its peers again."""
        with self._lock:
            self._link_down_since = None

    def link_down(self) -> None:
        """The broker connection is lost."""
        with self._lock:
            if self._link_down_since is None:
                self._link_down_since = self._monotonic()

    def peer_offline(self, gate_id: str) -> None:
        """A peer gate lost its link (its Last Will): what it decides now, we do not hear."""
        with self._lock:
            self._peers_down.setdefault(gate_id, self._monotonic())

    def peer_online(self, gate_id: str) -> None:
        """A peer gate is back; what it decided meanwhile arrives from its outbox."""
        with self._lock:
            self._peers_down.pop(gate_id, None)

    def age_s(self) -> float:
        """Seconds since this gate last heard all the gates of the compound (0: current)."""
        with self._lock:
            since = [t for t in (self._link_down_since, *self._peers_down.values())
                     if t is not None]
        return max(0.0, self._monotonic() - min(since)) if since else 0.0

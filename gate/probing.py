"""Patterns, not just events: refusals that repeat are one `probing` alert with a count.

Three patterns, each counted over the journal's own passages (so a restart forgets nothing):
- "passes": forged, unknown-key, not-allowed-key or unreadable passes at one reader;
- "pass": one pass (by its id) refused again and again, for any other reason;
- "faces": unknown faces at one reader.
A passage belongs to at most one pattern, the first of that list it fits. When `count`
refusals of one pattern fall within `window_s` seconds, one `probing` alert is raised with
that count; later refusals of the pattern fold into it (gate/alert_folding.py) while it is open.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlite_utils import Database

from gate.journal.queries import utc_text
from gate.model import AlertSpec
from gate.observation import Observation
from gate.reasons import probing_alert
from gate.vocabulary import AlertKind, Rule

PASS_FAILURES = frozenset({Rule.PASS_MALFORMED, Rule.PASS_BAD_SIGNATURE, Rule.PASS_UNKNOWN_KEY,
                           Rule.PASS_KEY_NOT_ALLOWED})
# The alerts a pattern stands for while it is raised: each refusal no longer raises its own.
COVERED = {"passes": frozenset({AlertKind.FORGED_PASS}),
           "pass": frozenset({AlertKind.FORGED_PASS, AlertKind.REVOKED_PASS}),
           "faces": frozenset[AlertKind]()}


@dataclass(frozen=True)
class ProbingRules:
    """How many refusals of one pattern, within how many seconds, make a `probing` alert."""

    count: int = 3
    window_s: float = 60.0


@dataclass(frozen=True)
class Probe:
    """The pattern one refused passage belongs to."""

    pattern: str  # "passes", "pass" or "faces"
    subject: str  # the reader id, or the pass id for "pass"
    reader_id: str
    at: datetime

    @property
    def fold_key(self) -> str:
        """The key the pattern's alert folds under (alert_folds.fold_key)."""
        return f"{AlertKind.PROBING}|{self.pattern}|{self.subject}"

    @property
    def covers(self) -> frozenset[AlertKind]:
        return COVERED[self.pattern]

    def alert(self) -> AlertSpec:
        return probing_alert(self.pattern, reader=self.reader_id, pass_id=self.subject)


def probe_of(observation: Observation, rule: Rule, granted: bool) -> Probe | None:
    """The pattern a passage belongs to; None for a granted one or one of no pattern."""
    if granted:
        return None
    reader = observation.reader.reader_id
    at = observation.seen_at
    if rule in PASS_FAILURES:
        return Probe("passes", reader, reader, at)
    check = observation.pass_check
    if check is not None and check.claims is not None and check.claims.pass_id:
        return Probe("pass", check.claims.pass_id, reader, at)
    if rule is Rule.FACE_UNKNOWN:
        return Probe("faces", reader, reader, at)
    return None


def recent_count(db: Database, probe: Probe, *, gate_id: str, window_s: float) -> int:
    """Refusals of the probe's pattern recorded at this gate within `window_s` before it."""
    since = utc_text(probe.at - timedelta(seconds=window_s))
    until = utc_text(probe.at)
    base = ("SELECT count(*) FROM passages WHERE gate_id = ? AND at >= ? AND at <= ? "
            "AND granted = 0 AND received_at IS NULL")
    rules = sorted(PASS_FAILURES)
    marks = ", ".join("?" for _ in rules)
    if probe.pattern == "passes":
        sql, args = f"{base} AND reader_id = ? AND rule IN ({marks})", [probe.subject, *rules]
    elif probe.pattern == "pass":
        sql, args = f"{base} AND pass_id = ? AND rule NOT IN ({marks})", [probe.subject, *rules]
    else:
        sql, args = f"{base} AND reader_id = ? AND rule = ?", [probe.subject, Rule.FACE_UNKNOWN]
    return int(db.execute(sql, [gate_id, since, until, *args]).fetchone()[0])

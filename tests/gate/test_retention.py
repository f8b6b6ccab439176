"""Retention on a real file: each class goes when its days are over, in small transactions,
and never a passage a rule still reads; wipes hold those back until the rules are done."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from gate.clock import ManualClock
from gate.journal import Journal
from gate.journal.retention import Retention, prune, rules_need
from gate.journal.verify import verify
from gate.journal.wipe import finish_held, wipe_person
from gate.model import Colour, Person
from gate.policy import AntiPassbackRules, Policy, YellowRules
from gate.vocabulary import DoorEventKind, Rule
from sync.peer_messages import lookback
from tests.gate.journal_support import IN, OUT, T0, door, open_journal, record, red_alert

NOW = T0 + timedelta(days=30)
Y1, Y2 = Person("y-1", "h-1", grid_id="grid-7"), Person("y-2", "h-1", grid_id="grid-7")
G = Person("g-1", "h-2", grid_id="grid-7")
SHORT = Retention(passages_days=1, denied_days=1, alerts_days=2, door_events_days=1)


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    """Yellow household h-1 and green g-1 going out and in over 30 days, with denials,
    alerts and door events."""
    journal = open_journal(tmp_path / "gridgate.db", ManualClock(T0))
    for hours in range(0, 30 * 24, 7):
        at = T0 + timedelta(hours=hours)
        person = (Y1, Y2, G)[hours % 3]
        colour = Colour.GREEN if person is G else Colour.YELLOW
        rule = Rule.GREEN_OUT if person is G else Rule.YELLOW_EXIT
        record(journal, person, OUT, at, colour=colour, rule=rule)
        door(journal, at + timedelta(seconds=1))
        record(journal, person, IN, at + timedelta(hours=3), colour=colour,
               rule=Rule.GREEN_IN if person is G else Rule.YELLOW_IN)
        if hours % 5 == 0:
            record(journal, G, OUT, at + timedelta(hours=4), granted=False, colour=Colour.RED,
                   alerts=(red_alert(G),))
    journal.clock.set(NOW)  # type: ignore[attr-defined]
    return journal


def ages(journal: Journal, granted: bool) -> list[float]:
    return sorted((NOW - _at(r["at"])) / timedelta(days=1)
                  for r in journal.passages_between(T0 - timedelta(days=1), NOW + timedelta(1))
                  if r["granted"] is granted)


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.mark.parametrize("policy", [
    Policy(),
    Policy(yellow=YellowRules(exits_per_household=1, period_days=5)),
    Policy(anti_passback=AntiPassbackRules(reset_hours=24 * 9)),
])
def test_pruning_leaves_exactly_what_the_rules_need(journal: Journal, policy: Policy) -> None:
    need = rules_need(policy)
    assert need >= lookback(policy)  # the peers' catch-up reads no further back either
    decisions = {p.person_id: journal.history(person_id=p.person_id,
                                              household_id=p.household_id, gate_id="gate-east",
                                              policy=policy, now=NOW) for p in (Y1, Y2, G)}
    report = prune(journal, SHORT, policy, now=NOW, batch=7)
    assert report.kept_for_rules  # one day asked for, the rules need more
    assert max(ages(journal, True)) <= need / timedelta(days=1)  # older granted ones went
    assert min(a for a in ages(journal, True)) >= 0
    assert len(ages(journal, True)) == sum(  # and none the rules read
        1 for h in range(0, 30 * 24, 7) for extra in (0, 3)
        if NOW - (T0 + timedelta(hours=h + extra)) <= need)
    assert all(age < 1 for age in ages(journal, False))  # denied: no rule reads them
    assert all(NOW - _at(d["at"]) < timedelta(days=1) for d in journal.door_events(1000))
    assert all(NOW - _at(a["at"]) < timedelta(days=2) for a in journal.alerts(limit=1000))
    after = {p.person_id: journal.history(person_id=p.person_id, household_id=p.household_id,
                                          gate_id="gate-east", policy=policy, now=NOW)
             for p in (Y1, Y2, G)}
    assert after == decisions  # every decision reads what it read before
    assert report.batches > 10 and max(report.lock_ms) > 0  # small transactions, timed
    assert verify(journal).broken is None


def test_a_dry_run_counts_what_a_prune_removes(journal: Journal) -> None:
    counted = prune(journal, SHORT, Policy(), now=NOW, dry_run=True)
    assert verify(journal).records == journal.chain_head()["seq"]  # nothing removed
    removed = prune(journal, SHORT, Policy(), now=NOW)
    assert counted.removed == removed.removed and sum(counted.removed.values()) > 100


def test_a_prune_stopped_early_leaves_a_journal_that_verifies(journal: Journal) -> None:
    report = prune(journal, SHORT, Policy(), now=NOW, batch=5, max_batches=3)
    assert not report.complete and report.batches == 3
    assert sum(report.removed.values()) == 15 and verify(journal).broken is None


def test_a_wipe_holds_back_what_a_rule_needs_and_finishes_later(journal: Journal) -> None:
    policy = Policy()
    report = wipe_person(journal, "y-1", policy, now=NOW)
    assert report.removed > 0 and report.kept_for_rules > 0
    assert report.held_until is not None
    kept = journal.trajectory("y-1")
    assert kept and all(r["granted"] and NOW - _at(r["at"]) <= rules_need(policy) for r in kept)
    quota = journal.history(person_id="y-2", household_id="h-1", gate_id="gate-east",
                            policy=policy, now=NOW).household_exits
    assert "y-1" in {p.person_id for p in quota}  # y-2 still sees the household's exit
    assert finish_held(journal, now=NOW).removed == 0  # not yet
    later = _at(report.held_until) + timedelta(seconds=1)
    journal.clock.set(later)  # type: ignore[attr-defined]
    done = finish_held(journal, now=later)
    assert done.removed == len(kept) and done.events[0].row["completed"] is True
    assert journal.trajectory("y-1") == []
    names = journal.db.execute("SELECT name FROM journal_names WHERE kind = 3").fetchall()
    assert ("y-1",) not in names and ("y-2",) in names
    assert verify(journal).broken is None
    door(journal, later, DoorEventKind.LOCKED)
    record(journal, Y2, OUT, later, colour=Colour.YELLOW, rule=Rule.YELLOW_EXIT)
    assert verify(journal).broken is None


def test_alerts_with_a_fold_or_an_escalation_are_pruned_and_wiped(journal: Journal) -> None:
    # Their count and escalation rows refer to them (a foreign key): they go first.
    old = [int(a["id"]) for a in journal.alerts(limit=1000)][-2:]
    journal.db.conn.execute("INSERT INTO alert_folds VALUES (?, 'k', 3, '2026-01-01', "
                            "'2026-01-01')", [old[0]])
    journal.db.conn.execute("INSERT INTO alert_escalations VALUES (?, ?, '2026-01-01', "
                            "'street_office')", [old[1], "e" * 32])
    journal.db.conn.commit()
    removed = prune(journal, SHORT, Policy(), now=NOW)
    assert removed.removed["alerts"] > 0
    assert journal.db.conn.execute("SELECT count(*) FROM alert_folds").fetchone()[0] == 0
    assert journal.db.conn.execute("SELECT count(*) FROM alert_escalations").fetchone()[0] == 0
    assert verify(journal).broken is None

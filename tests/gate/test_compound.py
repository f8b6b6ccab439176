"""The compound's history in each gate's journal (two real SQLite journals exchanging passages
as the peer link does): quota, anti-passback and who-is-out across gates, trajectories with
their gates, contacts, and quota conflicts raised by exactly one gate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gate.clock import ManualClock
from gate.compound import quota_conflict
from gate.decide import decide
from gate.journal import Journal
from gate.model import (
    Colour,
    Decision,
    Direction,
    Method,
    Permit,
    Person,
    Reader,
)
from gate.observation import Observation
from gate.passes.claims import PassCheck, PassReason
from gate.policy import Policy
from gate.store import open_database
from gate.vocabulary import AlertKind, EventType, Rule
from tests.gate.passes_support import claims

T0 = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
Y1, Y2 = Person("y1", "h-7", grid_id="grid-7"), Person("y2", "h-7", grid_id="grid-7")
GREEN = Person("g1", "h-9", grid_id="grid-7")


def out_reader(gate: str) -> Reader:
    return Reader(f"{gate}-out", gate, Direction.OUT)


@pytest.fixture
def gates(tmp_path: Path) -> dict[str, Journal]:
    clock = ManualClock(T0)
    return {g: Journal(open_database(tmp_path / f"{g}.db"), gate_id=g, clock=clock)
            for g in ("gate-a", "gate-b")}


def decide_and_record(journal: Journal, person: Person, colour: Colour, reader: Reader,
                      at: datetime, policy: Policy | None = None) -> Decision:
    """What the checkpoint does: history from this gate's journal, the pure decide, record."""
    policy = policy or Policy()
    check = PassCheck(True, PassReason.OK, "valid", claims(
        person_id=person.person_id, household_id=person.household_id, colour=colour), "k")
    observation = Observation(reader=reader, method=Method.PASS, seen_at=at, pass_check=check)
    history = journal.history(person_id=person.person_id, household_id=person.household_id,
                              gate_id=reader.gate_id, policy=policy, now=at)
    decision = decide(observation, person, Permit(person.person_id, colour), history, policy, at)
    events = journal.record_passage(observation, decision, person)
    for other in share.targets.get(journal.gate_id, []):
        for event in events:
            if event.kind is EventType.PASSAGE:
                other.record_peer_passage(event.row, seq=event.row["id"])
    return decision


class share:
    """Which journals hear a gate's passages (the peer link, or a partition when empty)."""

    targets: dict[str, list[Journal]] = {}


def link(gates: dict[str, Journal], *, up: bool) -> None:
    share.targets = ({"gate-a": [gates["gate-b"]], "gate-b": [gates["gate-a"]]} if up else {})


def sync_all(source: Journal, target: Journal) -> int:
    """Catching up: every passage `source` decided, given to `target`; how many were new."""
    rows = source.db.execute("SELECT * FROM passages WHERE received_at IS NULL").fetchall()
    names = [c[0] for c in source.db.execute("SELECT * FROM passages LIMIT 0").description]
    return sum(target.record_peer_passage(dict(zip(names, r, strict=True)), seq=r[0])
               for r in rows)


def test_the_household_quota_and_anti_passback_hold_across_gates(
        gates: dict[str, Journal]) -> None:
    link(gates, up=True)
    a, b = gates["gate-a"], gates["gate-b"]
    assert decide_and_record(a, Y1, Colour.YELLOW, out_reader("gate-a"), T0).rule \
        == Rule.YELLOW_EXIT
    second = decide_and_record(b, Y2, Colour.YELLOW, out_reader("gate-b"), T0 + timedelta(
        seconds=5))
    assert not second.granted and second.rule == Rule.YELLOW_HOUSEHOLD_QUOTA
    # The same person leaving again by the other gate is a passback (soft: alerted).
    decide_and_record(a, GREEN, Colour.GREEN, out_reader("gate-a"), T0)
    again = decide_and_record(b, GREEN, Colour.GREEN, out_reader("gate-b"),
                              T0 + timedelta(seconds=8))
    assert again.granted and AlertKind.PASSBACK in [x.kind for x in again.alerts]
    # Who is out, and the trajectory, are the compound's at either gate.
    assert [r["person_id"] for r in b.who_is_out()] == ["y1", "g1"]
    assert [r["gate_id"] for r in b.trajectory("g1")] == ["gate-a", "gate-b"]


def test_merging_is_idempotent_and_order_free(gates: dict[str, Journal],
                                              tmp_path: Path) -> None:
    link(gates, up=False)
    a, b = gates["gate-a"], gates["gate-b"]
    for i in range(5):
        decide_and_record(a, Person(f"p-{i}", f"h-{i}"), Colour.GREEN, out_reader("gate-a"),
                          T0 + timedelta(minutes=i))
    assert sync_all(a, b) == 5
    assert sync_all(a, b) == 0  # a replay changes nothing
    assert b.peer_high_water() == {"gate-a": 5}
    rows = a.db.execute("SELECT * FROM passages ORDER BY id DESC").fetchall()  # newest first
    names = [c[0] for c in a.db.execute("SELECT * FROM passages LIMIT 0").description]
    fresh = Journal(open_database(tmp_path / "gate-c.db"), gate_id="gate-c",
                    clock=ManualClock(T0))
    for row in rows:  # arriving backwards
        fresh.record_peer_passage(dict(zip(names, row, strict=True)), seq=row[0])
    key = "SELECT event_id, at, gate_id, person_id FROM passages ORDER BY event_id"
    assert fresh.db.execute(key).fetchall() == b.db.execute(key).fetchall()
    assert [r["person_id"] for r in fresh.trajectory("p-0")] == ["p-0"]
    with pytest.raises(ValueError, match="this gate's id"):
        a.record_peer_passage(dict(zip(names, rows[0], strict=True)), seq=1)


def test_a_peer_passage_that_arrives_late_is_ordered_by_its_time(
        gates: dict[str, Journal]) -> None:
    link(gates, up=False)
    a, b = gates["gate-a"], gates["gate-b"]
    decide_and_record(a, GREEN, Colour.GREEN, out_reader("gate-a"), T0)  # out by gate-a
    decide_and_record(b, GREEN, Colour.GREEN, Reader("gate-b-in", "gate-b", Direction.IN),
                      T0 + timedelta(hours=1))  # back in by gate-b
    sync_all(a, b)  # gate-a's exit reaches gate-b after gate-b's later entry
    assert [r["direction"] for r in b.trajectory("g1")] == ["out", "in"]
    assert b.who_is_out() == []  # back in: the later passage decides


def test_contacts_and_passages_of_a_gate(gates: dict[str, Journal]) -> None:
    link(gates, up=True)
    a, b = gates["gate-a"], gates["gate-b"]
    decide_and_record(a, GREEN, Colour.GREEN, out_reader("gate-a"), T0)
    near = Person("n1", "h-1")
    decide_and_record(a, near, Colour.GREEN, out_reader("gate-a"), T0 + timedelta(minutes=4))
    far = Person("f1", "h-2")
    decide_and_record(a, far, Colour.GREEN, out_reader("gate-a"), T0 + timedelta(minutes=30))
    other_gate = Person("o1", "h-3")
    decide_and_record(b, other_gate, Colour.GREEN, out_reader("gate-b"), T0)
    contacts = b.contacts("g1", timedelta(minutes=10))  # asked at gate-b, about gate-a
    assert [(c["person_id"], c["gap_s"]) for c in contacts] == [("n1", 240.0)]
    assert contacts[0]["near_at"].startswith("2026-03-10T02:00")
    assert [r["person_id"] for r in b.passages_between(T0, T0 + timedelta(hours=1),
                                                        gate_id="gate-a")] == ["g1", "n1", "f1"]


def test_a_partition_that_lets_out_two_of_a_yellow_household_is_one_conflict(
        gates: dict[str, Journal]) -> None:
    link(gates, up=False)
    a, b = gates["gate-a"], gates["gate-b"]
    assert decide_and_record(a, Y1, Colour.YELLOW, out_reader("gate-a"), T0).granted
    assert decide_and_record(b, Y2, Colour.YELLOW, out_reader("gate-b"),
                             T0 + timedelta(minutes=3)).granted  # it could not know
    sync_all(a, b)
    sync_all(b, a)
    policy = Policy()
    found = {g: quota_conflict(j, gate_id=g, household_id="h-7", at=T0, policy=policy)
             for g, j in gates.items()}
    assert found["gate-a"] is None  # not its to raise: gate-b's exit is the latest
    conflict = found["gate-b"]
    assert conflict is not None and [e["person_id"] for e in conflict.exits] == ["y1", "y2"]
    assert conflict.alert().kind is AlertKind.QUOTA_CONFLICT
    assert "gate-a" in conflict.alert().message_en and "gate-b" in conflict.alert().message_en
    b.record_alert(conflict.alert(), household_id="h-7", passage_id=conflict.own["id"])
    assert quota_conflict(b, gate_id="gate-b", household_id="h-7", at=T0,
                          policy=policy) is None  # raised once

"""Writes journal-0002.db and journal-0002.json with the gridgate of commit 046724b, the last
release before migration 0003 (compact storage and the hash chain), as a gate ran it:

    git archive 046724b | tar -x -C /tmp/old
    cd /tmp/old && PYTHONPATH=/tmp/old python tests/gate/data/make_journal_0002.py OUT_DIR

Not a test: tests/gate/test_journal_storage.py reads what it wrote.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from gate.clock import ManualClock
from gate.journal import Journal
from gate.model import AlertSpec, Colour, Decision, Direction, Method, Person, Reader, Severity
from gate.observation import Observation
from gate.passes.claims import PassCheck, PassClaims, PassReason
from gate.store import open_database
from gate.vocabulary import AlertKind, DoorEventKind, Rule

T0 = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
OUT = Reader("out-cam", "gate-east", Direction.OUT)
IN = Reader("in-cam", "gate-east", Direction.IN)
PEOPLE = [Person("p-1", "h-1", "grid-7"), Person("p-2", "h-1", "grid-7"), Person("p-3", "h-2")]
RED = AlertSpec(AlertKind.RED_EXIT_ATTEMPT, Severity.URGENT, "红码人员试图外出：p-2",
                "red-permit holder tried to leave: p-2")


def passage(journal: Journal, i: int, at: datetime) -> None:
    p = PEOPLE[i % 3]
    reader = OUT if i % 2 == 0 else IN
    claims = PassClaims(f"pass-{p.person_id}", p.person_id, p.household_id, "wenjiang-01",
                        Colour.GREEN, T0, T0, T0 + timedelta(days=9), grid_id=p.grid_id)
    face = i % 4 == 1
    obs = Observation(reader, Method.FACE if face else Method.PASS, at,
                      pass_check=None if face else PassCheck(True, PassReason.OK, "", claims),
                      face_checked=face, face_person_id=p.person_id if face else None,
                      face_distance=0.41 + i / 1000 if face else None,
                      faces_in_view=1 if face else 0,
                      snapshot=f"snapshots/2026-03-01/{i:032x}.jpg" if i == 5 else None)
    granted = i != 4
    rule = ((Rule.GREEN_OUT if reader is OUT else Rule.GREEN_IN) if granted
            else Rule.RED_EXIT_DENIED)
    journal.record_passage(obs, Decision(
        granted, rule, "绿码，请通行" if granted else "红码，居家观察期间禁止外出",
        "Green" if granted else "Red: home observation, you may not leave",
        () if granted else (RED,), p.person_id, Colour.GREEN), p)
    if granted and reader is OUT:
        journal.record_door_event("relay17", DoorEventKind.RELEASED, f"{rule} (3 s)")


def main(out: Path) -> None:
    clock = ManualClock(T0)
    db = open_database(out / "journal-0002.db")
    journal = Journal(db, gate_id="gate-east", clock=clock)
    for i in range(12):
        at = T0 + timedelta(minutes=17 * i, microseconds=1234 * i)
        clock.set(at)
        passage(journal, i, at)
        if i == 7:  # the clock stepped back a minute (NTP), and a guard opened the door
            clock.set(at - timedelta(minutes=1))
            journal.record_passage(
                Observation(IN, Method.OVERRIDE, at - timedelta(minutes=1)),
                Decision(True, Rule.OVERRIDE_OPEN_ONCE, "人工放行（guard-li）：救护车",
                         "opened by guard-li: ambulance"), None, actor="guard-li")
        if i in (3, 9):  # another gate's passage of half an hour ago, heard now
            clock.set(at + timedelta(seconds=3))
            then = (at - timedelta(minutes=30)).isoformat(timespec="microseconds")
            journal.record_peer_passage({
                "event_id": f"{0xABC000 + i:032x}", "at": then, "gate_id": "gate-west",
                "reader_id": "west-in", "direction": "in", "person_id": "p-1",
                "household_id": "h-1", "grid_id": "grid-7", "pass_id": None, "method": "face",
                "colour": "green", "granted": True, "rule": "green.in",
                "reason_zh": "绿码，请通行", "reason_en": "Green: welcome home",
                "face_distance": 0.3, "faces_in_view": 1, "actor": None, "order_at": then},
                seq=40 + i)
    journal.acknowledge_alert(1, "guard-li", "checked")
    journal.record_alert(AlertSpec(AlertKind.DOOR_FORCED, Severity.URGENT, "门被强行打开",
                                   "door forced open"), reader_id="in-cam")

    def rows(sql: str) -> list[dict[str, Any]]:
        cursor = db.execute(sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]

    expected = {"passages": rows("SELECT * FROM passages ORDER BY id"),
                "door_events": rows("SELECT * FROM door_events ORDER BY id"),
                "alerts": rows("SELECT * FROM alerts ORDER BY id"),
                "who_is_out": journal.who_is_out(), "trajectory_p1": journal.trajectory("p-1"),
                "peer_high_water": journal.peer_high_water()}
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    (out / "journal-0002.json").write_text(json.dumps(expected, ensure_ascii=False, indent=1)
                                           + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]))

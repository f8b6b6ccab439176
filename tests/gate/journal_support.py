"""Helpers for the journal's tests: a journal on a real file, passages of every kind, and the
sqlite3 shell an investigator (or an intruder) would use on that file."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from gate.clock import ManualClock
from gate.journal import Journal
from gate.model import AlertSpec, Colour, Decision, Direction, Method, Person, Reader, Severity
from gate.observation import Observation
from gate.passes.claims import PassCheck, PassReason
from gate.store import open_database
from gate.vocabulary import AlertKind, DoorEventKind, Rule
from tests.gate.passes_support import claims

T0 = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
GATE = "gate-east"
OUT = Reader("out-cam", GATE, Direction.OUT)
IN = Reader("in-cam", GATE, Direction.IN)


def open_journal(path: Path, clock: ManualClock) -> Journal:
    return Journal(open_database(path), gate_id=GATE, clock=clock)


def record(journal: Journal, person: Person | None, reader: Reader, at: datetime, *,
           granted: bool = True, colour: Colour = Colour.GREEN, rule: Rule | None = None,
           alerts: tuple[AlertSpec, ...] = (), face_distance: float | None = None,
           snapshot: str | None = None, actor: str | None = None) -> int:
    """One passage of this gate (by pass, or by face with a distance); its id."""
    check = None
    if person is not None and face_distance is None:
        check = PassCheck(True, PassReason.OK, "", claims(
            person_id=person.person_id, household_id=person.household_id,
            pass_id=f"pass-{person.person_id}", colour=colour))
    method = Method.OVERRIDE if actor else Method.FACE if face_distance else Method.PASS
    obs = Observation(reader=reader, method=method,
                      seen_at=at, pass_check=check, face_distance=face_distance,
                      face_checked=face_distance is not None, snapshot=snapshot,
                      faces_in_view=1 if face_distance else 0)
    entering = reader.direction is Direction.IN
    rule = rule or ((Rule.GREEN_IN if entering else Rule.GREEN_OUT) if granted
                    else Rule.RED_EXIT_DENIED)
    decision = Decision(granted, rule, "绿码，请通行" if granted else "红码，禁止外出",
                        "Green" if granted else "Red: you may not leave", alerts,
                        person.person_id if person else None, colour)
    journal.clock.set(at)  # type: ignore[attr-defined]
    events = journal.record_passage(obs, decision, person, actor=actor)
    return int(events[0].row["id"])


def red_alert(person: Person) -> AlertSpec:
    who = person.person_id
    return AlertSpec(AlertKind.RED_EXIT_ATTEMPT, Severity.URGENT, f"红码人员试图外出：{who}",
                     f"red-permit holder tried to leave: {who}")


def door(journal: Journal, at: datetime, kind: DoorEventKind = DoorEventKind.RELEASED) -> int:
    journal.clock.set(at)  # type: ignore[attr-defined]
    return int(journal.record_door_event("relay17", kind, "green.out (3 s)").row["id"])


def shell(path: Path, sql: str) -> str:
    """Run SQL on the file as an investigator would: the sqlite3 command-line shell when
    installed, else Python's sqlite3 module (the same SQLite library, on the same file)."""
    binary = shutil.which("sqlite3")
    if binary is not None:
        done = subprocess.run([binary, str(path), sql], capture_output=True, text=True,
                              timeout=30, check=True)
        return done.stdout
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(sql).fetchall()
        conn.commit()
    finally:
        conn.close()
    return "\n".join("|".join("" if v is None else str(v) for v in r) for r in rows)

"""`gridgate trajectory`, `who-is-out`, `contacts` and `passages` on a real SQLite journal that
holds this gate's passages and another gate's of the same compound (as the peer link keeps
them)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from edge.cli.main import cli
from gate.clock import ManualClock
from gate.journal import Journal
from gate.journal.queries import utc_text
from gate.model import Colour, Decision, Direction, Method, Person, Reader
from gate.observation import Observation
from gate.store import database_path, open_database
from tests.edge.panel.conftest import gate_settings

T0 = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai, the policy's time zone
LOCAL, PEER = "gate-east", "gate-west"


def local_passage(journal: Journal, person: str, direction: Direction, at: datetime) -> None:
    reader = Reader("out-cam" if direction is Direction.OUT else "in-cam", LOCAL, direction)
    decision = Decision(granted=True, rule="green.out", reason_zh="放行", reason_en="granted",
                        person_id=person, colour=Colour.GREEN)
    journal.record_passage(Observation(reader=reader, method=Method.PASS, seen_at=at), decision,
                           Person(person, f"h-{person}", "grid-7"))


def peer_passage(journal: Journal, person: str, direction: Direction, at: datetime,
                 seq: int) -> None:
    assert journal.record_peer_passage({
        "event_id": f"{seq:032x}", "at": utc_text(at), "gate_id": PEER,
        "reader_id": f"west-{direction.value}", "direction": direction.value,
        "person_id": person, "household_id": f"h-{person}", "grid_id": "grid-7",
        "pass_id": None, "method": "pass", "colour": "green", "granted": True,
        "rule": "green.out", "reason_zh": "放行", "reason_en": "granted",
        "face_distance": None, "faces_in_view": 0, "actor": None, "order_at": utc_text(at),
    }, seq=seq)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A gate (gate-east) whose journal holds its own passages and gate-west's.

    p-1 goes out by gate-east at 10:00 and comes back in by gate-west at 11:00 (local);
    near:  out by gate-east at 10:04 (4 minutes after p-1 there)
    far:   out by gate-east at 10:30
    other: out by gate-west at 10:01 (a minute after p-1, but at the other gate)
    west:  in by gate-west at 10:55 (5 minutes before p-1's return there)
    away:  out by gate-west at 09:00 and never back.
    """
    settings = gate_settings(tmp_path)
    db = open_database(database_path(settings.storage.state_dir))
    journal = Journal(db, gate_id=LOCAL, clock=ManualClock(T0))
    local_passage(journal, "p-1", Direction.OUT, T0)
    local_passage(journal, "near", Direction.OUT, T0 + timedelta(minutes=4))
    local_passage(journal, "far", Direction.OUT, T0 + timedelta(minutes=30))
    peer_passage(journal, "other", Direction.OUT, T0 + timedelta(minutes=1), seq=1)
    peer_passage(journal, "away", Direction.OUT, T0 - timedelta(hours=1), seq=2)
    peer_passage(journal, "west", Direction.IN, T0 + timedelta(minutes=55), seq=3)
    peer_passage(journal, "p-1", Direction.IN, T0 + timedelta(hours=1), seq=4)
    db.close()
    return tmp_path / "gridgate.toml"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_trajectory_shows_the_gate_of_each_passage(config: Path) -> None:
    code, out = run("trajectory", "p-1", "-c", str(config))
    assert code == 0, out
    lines = out.splitlines()
    assert len(lines) == 2
    assert LOCAL in lines[0] and "out-cam" in lines[0] and lines[0].startswith(
        "2026-03-10 10:00:00+08:00")
    assert PEER in lines[1] and "west-in" in lines[1]
    code, out = run("trajectory", "p-1", "-c", str(config), "--json")
    assert code == 0, out
    data = json.loads(out)
    assert data["person_id"] == "p-1"
    assert [(p["gate_id"], p["direction"]) for p in data["passages"]] == [
        (LOCAL, "out"), (PEER, "in")]
    code, out = run("trajectory", "p-1", "-c", str(config), "--limit", "1", "--json")
    assert [p["gate_id"] for p in json.loads(out)["passages"]] == [PEER]


def test_who_is_out_is_compound_wide(config: Path) -> None:
    code, out = run("who-is-out", "-c", str(config), "--json")
    assert code == 0, out
    data = json.loads(out)
    by_person = {r["person_id"]: r["gate_id"] for r in data["out"]}
    assert by_person == {"away": PEER, "other": PEER, "near": LOCAL, "far": LOCAL}
    assert data["count"] == 4 and data["compound_id"] == "wenjiang-01"
    assert data["journal_gate_id"] == LOCAL
    code, out = run("who-is-out", "-c", str(config))
    assert code == 0, out
    assert "compound wenjiang-01" in out.splitlines()[0]
    [away] = [line for line in out.splitlines() if line.startswith("away")]
    assert f"by gate {PEER}" in away and "out since 2026-03-10 09:00:00+08:00" in away


def test_contacts_finds_the_near_one_only(config: Path) -> None:
    code, out = run("contacts", "p-1", "--within", "10m", "-c", str(config), "--json")
    assert code == 0, out
    rows = json.loads(out)
    assert isinstance(rows, list)
    # near (gate-east, 4 min after p-1 went out) and west (gate-west, 5 min before p-1 came
    # back in); not far (30 min), not other (gate-west at 10:01, while p-1 was at gate-east).
    assert [(r["person_id"], r["gate_id"], r["gap_s"]) for r in rows] == [
        ("near", LOCAL, 240.0), ("west", PEER, 300.0)]
    assert rows[0]["near_at"].startswith("2026-03-10T02:00")
    assert rows[1]["near_event_id"] == f"{4:032x}"
    code, out = run("contacts", "p-1", "--within", "10m", "-c", str(config))
    assert code == 0, out
    assert "2 contacts of p-1 within 10m" in out
    assert "far" not in out and "other" not in out
    [near] = [i for i, line in enumerate(out.splitlines()) if line.startswith("near")]
    detail = out.splitlines()[near + 1]
    assert f"gate {LOCAL}" in detail and "4m00s after p-1's passage of 2026-03-10 10:00:00" \
        in detail
    assert "5m00s before p-1's passage of 2026-03-10 11:00:00" in out


def test_contacts_window_and_since(config: Path) -> None:
    code, out = run("contacts", "p-1", "--within", "30s", "-c", str(config), "--json")
    assert code == 0 and json.loads(out) == []
    code, out = run("contacts", "p-1", "--within", "1h", "-c", str(config), "--json")
    assert {r["person_id"] for r in json.loads(out)} == {"near", "far", "west", "other"}
    # Only p-1's passages from 10:30 local (naive: the policy's time zone): the return by
    # gate-west at 11:00.
    code, out = run("contacts", "p-1", "--since", "2026-03-10T10:30", "-c", str(config),
                    "--json")
    assert code == 0, out
    assert [r["person_id"] for r in json.loads(out)] == ["west"]
    code, out = run("contacts", "p-1", "--since", "2026-03-10T02:30Z", "-c", str(config),
                    "--json")
    assert [r["person_id"] for r in json.loads(out)] == ["west"]
    code, out = run("contacts", "p-1", "--within", "30s", "-c", str(config))
    assert code == 0 and "nobody passed the same gate within 30s" in out
    code, out = run("contacts", "nobody", "-c", str(config))
    assert code == 0 and "no passages recorded for nobody" in out


def test_passages_of_one_gate_or_all(config: Path) -> None:
    window = ["--from", "2026-03-10T09:30", "--to", "2026-03-10T12:00+08:00"]
    code, out = run("passages", "--gate", LOCAL, *window, "-c", str(config), "--json")
    assert code == 0, out
    rows = json.loads(out)
    assert [r["person_id"] for r in rows] == ["p-1", "near", "far"]
    assert {r["gate_id"] for r in rows} == {LOCAL}
    code, out = run("passages", "--gate", PEER, *window, "-c", str(config), "--json")
    assert [r["person_id"] for r in json.loads(out)] == ["other", "west", "p-1"]
    code, out = run("passages", *window, "-c", str(config), "--json")
    assert [r["person_id"] for r in json.loads(out)] == [
        "p-1", "other", "near", "far", "west", "p-1"]
    code, out = run("passages", *window, "-c", str(config))
    assert code == 0 and len(out.splitlines()) == 6 and PEER in out and LOCAL in out
    code, out = run("passages", "--gate", "gate-none", *window, "-c", str(config))
    assert code == 0 and "no passages at gate gate-none" in out
    # --to defaults to now: everything since 09:00 local (in 2026, long past for the test).
    code, out = run("passages", "--from", "2026-03-10T08:59:59+08:00", "-c", str(config),
                    "--json")
    assert len(json.loads(out)) == 7


@pytest.mark.parametrize(("args", "option", "says"), [
    (["contacts", "p-1", "--within", "10"], "--within", "not a duration"),
    (["contacts", "p-1", "--within", "ten minutes"], "--within", "not a duration"),
    (["contacts", "p-1", "--within", "0m"], "--within", "no time at all"),
    (["contacts", "p-1", "--within", "25h"], "--within", "longer than 24h"),
    (["contacts", "p-1", "--since", "yesterday"], "--since", "not an ISO 8601 time"),
    (["passages", "--from", "2026-13-01"], "--from", "not an ISO 8601 time"),
    (["passages", "--from", "2026-03-10T12:00", "--to", "2026-03-10T09:00"], "--to",
     "not later than --from"),
])
def test_bad_values_are_refused_naming_the_option(config: Path, args: list[str], option: str,
                                                  says: str) -> None:
    code, out = run(*args, "-c", str(config))
    assert code == 2, out
    assert f"'{option}'" in out and says in out


def test_help_says_how_times_are_read() -> None:
    for command in ("contacts", "passages"):
        code, out = run(command, "--help")
        assert code == 0 and "policy's time zone" in " ".join(out.split())
    code, out = run("contacts", "--help")
    assert "--within DURATION" in out and "30s, 10m, 2h" in " ".join(out.split())

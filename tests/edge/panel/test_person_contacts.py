"""The person page across the compound: the gate of each passage and the person's contacts
(who passed the same gate near one of their passages), on a journal holding this gate's
passages and another gate's."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from gpiozero.pins.mock import MockFactory

from edge.app import GateApp
from edge.panel.deps import LANG_COOKIE
from gate.clock import ManualClock
from gate.journal.queries import utc_text
from gate.model import Colour, Decision, Direction, Method, Person
from gate.observation import Observation
from tests.edge.panel.conftest import Panel, make_panel

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
PEER = "gate-west"


def local(panel: Panel, person: str, direction: Direction, at: datetime) -> None:
    reader = panel.gate.readers["in-cam" if direction is Direction.IN else "out-cam"]
    decision = Decision(granted=True, rule="green.out", reason_zh="放行", reason_en="granted",
                        person_id=person, colour=Colour.GREEN)
    panel.gate.journal.record_passage(Observation(reader=reader, method=Method.PASS, seen_at=at),
                                      decision, Person(person, "h-1", "grid-7"))


def peer(panel: Panel, person: str, direction: Direction, at: datetime, seq: int) -> None:
    assert panel.gate.journal.record_peer_passage({
        "event_id": f"{seq:032x}", "at": utc_text(at), "gate_id": PEER,
        "reader_id": f"west-{direction.value}", "direction": direction.value,
        "person_id": person, "household_id": "h-2", "grid_id": "grid-7", "pass_id": None,
        "method": "pass", "colour": "green", "granted": True, "rule": "green.out",
        "reason_zh": "放行", "reason_en": "granted", "face_distance": None,
        "faces_in_view": 0, "actor": None, "order_at": utc_text(at)}, seq=seq)


@pytest.fixture
def compound(gate: GateApp, factory: MockFactory) -> Iterator[Panel]:
    """p-1 went out by gate-east at 10:00 and came back by gate-west at 11:00."""
    panel = make_panel(gate, factory, clock=ManualClock(NOW))
    # Weeks ago (recorded first, as they happened): out of the contact period.
    local(panel, "p-1", Direction.OUT, NOW - timedelta(days=20))
    local(panel, "old", Direction.OUT, NOW - timedelta(days=20, minutes=-1))
    t0 = NOW - timedelta(hours=2)
    local(panel, "p-1", Direction.OUT, t0)
    local(panel, "near", Direction.OUT, t0 + timedelta(minutes=4))      # 4 min after, same gate
    local(panel, "far", Direction.OUT, t0 + timedelta(minutes=25))      # 25 min after
    peer(panel, "other", Direction.OUT, t0 + timedelta(minutes=1), 1)   # same time, other gate
    peer(panel, "west", Direction.IN, t0 + timedelta(minutes=58), 2)    # 2 min before the return
    peer(panel, "p-1", Direction.IN, t0 + timedelta(hours=1), 3)
    yield panel
    panel.svc.close()


def contacts_of(page: str) -> list[str]:
    section = page.split('id="contacts"', 1)[1]
    return list(dict.fromkeys(re.findall(r'data-contact="([^"]+)"', section)))


def test_the_trajectory_shows_the_gate_of_each_passage(compound: Panel) -> None:
    guard = compound.guard()
    page = guard.get("/persons/p-1")
    assert page.status_code == 200
    table = page.text.split('class="table trajectory"', 1)[1].split("</table>", 1)[0]
    assert "<th>门</th>" in table
    gates = re.findall(r'<td class="gate">([\w-]+)', table)
    assert gates == [PEER, "gate-east", "gate-east"]  # newest first
    assert table.count("本门") == 2  # this gate's passages are marked
    api = guard.get("/api/persons/p-1").json()
    assert [(p["gate_id"], p["direction"]) for p in api["passages"]] == [
        (PEER, "in"), ("gate-east", "out"), ("gate-east", "out")]
    assert api["is_out"] is False  # back in, by the other gate
    # Who is out: the compound's, with the gate they left by.
    out = guard.get("/persons").text.split("</table>")[0]
    assert 'href="/persons/other"' in out and f'<td class="gate">{PEER}</td>' in out


def test_contacts_within_the_chosen_window(compound: Panel) -> None:
    guard = compound.guard()
    page = guard.get("/persons/p-1").text
    # Default 10 minutes: near (gate-east) and west (gate-west); not far (25 min), not other
    # (gate-west while p-1 was at gate-east), not old (before the last 14 days).
    assert contacts_of(page) == ["near", "west"]
    assert '<option value="10" selected>' in page and "10 分钟" in page
    section = page.split('id="contacts"', 1)[1]
    assert "晚 4:00" in section and "早 2:00" in section
    assert 'href="/persons/near"' in section
    assert contacts_of(guard.get("/persons/p-1", params={"within": 30}).text) == [
        "near", "far", "west"]
    assert contacts_of(guard.get("/persons/p-1", params={"within": 60}).text) == [
        "other", "near", "far", "west"]
    rows = guard.get("/api/persons/p-1/contacts", params={"within": 5}).json()
    assert [(r["person_id"], r["gate_id"], r["gap_s"], r["offset_s"]) for r in rows] == [
        ("near", "gate-east", 240.0, 240.0), ("west", PEER, 120.0, -120.0)]
    assert rows[1]["near_event_id"] == f"{3:032x}"
    english = compound.guard()
    english.cookies.set(LANG_COOKIE, "en")
    page = english.get("/persons/p-1").text
    assert "Contacts" in page and "4:00 after" in page and "2:00 before" in page
    assert "<th>Gate</th>" in page and "this gate" in page
    assert contacts_of(guard.get("/persons/near").text) == ["p-1"]


def test_only_the_fixed_windows_are_accepted(compound: Panel) -> None:
    guard = compound.guard()
    for value in ("7", "1e9", "10; DROP TABLE passages", "-10", ""):
        page = guard.get("/persons/p-1", params={"within": value})
        assert page.status_code == 400, value
        assert "within" in page.text
        api = guard.get("/api/persons/p-1/contacts", params={"within": value})
        assert api.status_code == 422, value
    assert guard.get("/api/persons/p-1/contacts").status_code == 200


def test_contacts_need_a_guard_and_keep_the_page_safe(compound: Panel) -> None:
    anonymous = compound.client()
    page = anonymous.get("/persons/p-1", params={"within": 10})
    assert page.status_code == 303 and page.headers["location"].startswith("/login")
    assert anonymous.get("/api/persons/p-1/contacts").status_code == 401
    # What another gate sends is shown as text, never as markup.
    peer(compound, "<img src=x onerror=alert(1)>", Direction.IN,
         NOW - timedelta(hours=1, minutes=1), 9)
    guard = compound.guard()
    page = guard.get("/persons/p-1")
    assert "<img src=x" not in page.text and "&lt;img src=x onerror=alert(1)&gt;" in page.text
    assert 'href="/persons/%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E"' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert not re.search(r"<script(?![^>]*\bsrc=)", page.text)  # no inline script
    assert " style=" not in page.text and "<style" not in page.text


def test_a_long_contact_list_is_cut_with_a_pointer_to_the_cli(
        compound: Panel, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("edge.panel.routes.persons.CONTACTS_SHOWN", 1)
    page = compound.guard().get("/persons/p-1").text
    assert contacts_of(page) == ["near"]
    assert "仅显示前 1 条，共 2 条" in page and "gridgate contacts PERSON" in page

"""Visitor passes signed by the gate's local key (visitors only), and looking people up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import cv2
import numpy as np
import zxingcpp
from gpiozero.pins.mock import MockFactory

from edge.app import GateApp
from gate.clock import ManualClock
from gate.model import Colour, Decision, Direction, Method, Permit, Person, PersonKind
from gate.observation import Observation
from gate.passes import TrustList, encode_pass, load_signing_key
from gate.passes.claims import PassClaims, PassReason
from tests.edge.panel.conftest import Panel, make_panel


def register(panel: Panel, **fields: object):  # type: ignore[no-untyped-def]
    guard = panel.guard()
    body = {"name": "李伟", "host_household_id": "h-5",
            "valid_until": (datetime.now(UTC) + timedelta(hours=4)).isoformat(), **fields}
    return guard, guard.post("/api/visitors", headers={"X-CSRF-Token": guard.csrf}, json=body)


def test_visitor_pass_verifies_with_the_gate_trust_list_as_a_visitor_pass(panel: Panel) -> None:
    guard, response = register(panel)
    assert response.status_code == 200, response.text
    visitor = response.json()
    check = panel.gate.checkpoint.check_pass(visitor["pass_text"], datetime.now(UTC))
    assert check.valid and check.reason is PassReason.OK
    assert check.claims is not None and check.claims.kind is PersonKind.VISITOR
    assert check.claims.host_household_id == "h-5" and check.claims.colour is Colour.GREEN
    assert check.key_id == visitor["key_id"]
    scopes = {k["key_id"]: k["scope"] for k in guard.get("/api/health").json()["versions"]["keys"]}
    assert scopes[visitor["key_id"]] == "visitor" and "all" in scopes.values()
    # The printed QR code carries exactly the signed pass.
    png = guard.get(f"/visitors/{visitor['pass_id']}/qr.png")
    image = cv2.imdecode(np.frombuffer(png.content, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert [r.text for r in zxingcpp.read_barcodes(image)] == [visitor["pass_text"]]
    page = guard.get(f"/visitors/{visitor['pass_id']}")
    assert "李伟" in page.text and "名册中无此住户" in page.text
    # Expired once its time is over.
    late = panel.gate.checkpoint.check_pass(visitor["pass_text"],
                                            datetime.now(UTC) + timedelta(hours=5))
    assert late.reason is PassReason.EXPIRED


def test_local_key_is_trusted_for_visitors_only(panel: Panel) -> None:
    key = load_signing_key(panel.svc.visitors.key_path)
    now = datetime.now(UTC)
    claims = PassClaims(pass_id="forged-1", person_id="p-101", household_id="h-1",
                        compound_id="wenjiang-01", colour=Colour.GREEN, issued_at=now,
                        not_before=now - timedelta(minutes=1), expires_at=now + timedelta(days=1))
    check = panel.gate.checkpoint.check_pass(encode_pass(claims, key), now)
    assert not check.valid and check.reason is PassReason.KEY_NOT_ALLOWED


def test_bad_visitor_registrations_are_refused(panel: Panel) -> None:
    now = datetime.now(UTC)
    for fields, status in [({"valid_until": (now - timedelta(hours=1)).isoformat()}, 400),
                           ({"valid_until": (now + timedelta(hours=73)).isoformat()}, 400),
                           ({"name": "   "}, 400), ({"host_household_id": "h 5;drop"}, 400),
                           ({"valid_until": "tomorrow"}, 422), ({"name": "x" * 81}, 422)]:
        _, response = register(panel, **fields)
        assert response.status_code == status, (fields, response.text)
    assert panel.svc.visitors.recent() == []
    guard = panel.guard()
    form = guard.post("/visitors", data={"name": "王芳", "host": "h-5", "until": "not a time",
                                         "csrf_token": guard.csrf})
    assert form.status_code == 400 and "时间格式不正确" in form.text


def test_visitor_form_takes_local_time_and_shows_the_pass(panel: Panel) -> None:
    guard = panel.guard()
    zone = panel.gate.rules.policy.zone
    until = (datetime.now(UTC) + timedelta(hours=2)).astimezone(zone).replace(second=0,
                                                                               microsecond=0)
    response = guard.post("/visitors", data={"name": "王芳", "host": "h-5",
                                             "until": until.strftime("%Y-%m-%dT%H:%M"),
                                             "csrf_token": guard.csrf})
    assert response.status_code == 303
    pass_id = response.headers["location"].split("/visitors/")[1].split("?")[0]
    visitor = panel.svc.visitors.get(pass_id)
    assert visitor is not None and datetime.fromisoformat(visitor.valid_until) == until
    assert "王芳" in guard.get("/visitors").text


def record(panel: Panel, person: str, household: str, direction: Direction, granted: bool,
           at: datetime) -> None:
    reader = panel.gate.readers["in-cam" if direction is Direction.IN else "out-cam"]
    observation = Observation(reader=reader, method=Method.PASS, seen_at=at)
    decision = Decision(granted=granted, rule="green.out" if granted else "red.exit_denied",
                        reason_zh="放行" if granted else "红码不得外出",
                        reason_en="granted" if granted else "red may not leave",
                        person_id=person, colour=Colour.GREEN)
    panel.gate.journal.record_passage(observation, decision, Person(person, household, "grid-7"))


def test_person_lookup_trajectory_who_is_out_and_counts_today(gate: GateApp,
                                                              factory: MockFactory) -> None:
    # 10:00 in the gate's time zone, so "today" cannot straddle midnight.
    now = datetime(2026, 2, 14, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    panel = make_panel(gate, factory, clock=ManualClock(now))
    registry = panel.gate.registry
    registry.put_persons([Person("p-101", "h-1", "grid-7", name="张三")])
    registry.put_permits([Permit("p-101", Colour.YELLOW, reason="返回人员",
                                 observation_until=now - timedelta(days=1))])
    record(panel, "p-101", "h-1", Direction.IN, True, now - timedelta(days=1))  # yesterday
    record(panel, "p-101", "h-1", Direction.OUT, True, now - timedelta(minutes=30))
    record(panel, "p-101", "h-1", Direction.IN, True, now - timedelta(minutes=20))
    record(panel, "p-101", "h-1", Direction.OUT, True, now - timedelta(minutes=10))
    record(panel, "p-202", "h-2", Direction.OUT, False, now - timedelta(minutes=5))
    guard = panel.guard()
    person = guard.get("/api/persons/p-101").json()
    assert person["name"] == "张三" and person["permit"]["colour"] == "yellow"
    assert person["permit"]["observation_over"] is True and person["is_out"] is True
    assert [p["direction"] for p in person["passages"]] == ["out", "in", "out", "in"]
    page = guard.get("/persons/p-101")
    assert "观察期已满，等待社区确认" in page.text and "张三" in page.text
    assert [p["person_id"] for p in guard.get("/api/who-is-out").json()] == ["p-101"]
    today = guard.get("/api/counts/today").json()
    assert today["date"] == "2026-02-14" and len(today["hours"]) == 11
    hours = today["hours"]
    assert hours[9]["granted_out"] == 2 and hours[9]["granted_in"] == 1
    assert sum(h["granted_out"] for h in hours) == 2 and sum(h["denied"] for h in hours) == 1
    assert sum(h["granted_in"] for h in hours) == 1
    found = guard.get("/persons", params={"q": "张"}).text
    assert 'href="/persons/p-101"' in found
    assert "p-101" in guard.get("/persons", params={"q": "h-1"}).text
    assert "没有找到" in guard.get("/persons", params={"q": "%"}).text
    unknown = guard.get("/api/persons/p-999").json()
    assert unknown["permit"] is None and unknown["passages"] == []
    panel.svc.close()


def test_visitor_key_follows_a_trust_list_the_platform_replaced(panel: Panel) -> None:
    # The platform's trust list replaces the gate's at run time (sync documents do this).
    platform_only = TrustList([k for k in panel.gate.rules.trust if k.scope == "all"])
    panel.gate.rules.set_trust(platform_only)
    _, response = register(panel)
    assert response.status_code == 200
    check = panel.gate.checkpoint.check_pass(response.json()["pass_text"], datetime.now(UTC))
    in_force = panel.gate.rules.trust.get(response.json()["key_id"])
    assert check.valid and in_force is not None and in_force.scope == "visitor"
    assert platform_only.get(response.json()["key_id"]) is None  # replaced whole, not edited

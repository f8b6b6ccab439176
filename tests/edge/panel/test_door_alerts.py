"""Guards open the door once, lock it down, hold it open; alerts are filtered and acknowledged."""

from __future__ import annotations

import time

import numpy as np

from gate.door import DoorMode
from gate.model import AlertSpec, Severity
from gate.vocabulary import AlertKind
from tests.edge.panel.conftest import IN_PIN, OUT_PIN, Panel
from vision.facts import Frame


def wait_until(condition, timeout: float = 3.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


def test_open_once_pulses_the_relay_and_records_guard_reason_and_snapshot(panel: Panel) -> None:
    scene = np.full((480, 640, 3), 90, np.uint8)
    panel.svc.frames.put("in-cam", Frame(scene, seq=1, arrived=time.monotonic()), [])
    guard = panel.guard()
    pin = panel.factory.pin(IN_PIN)
    pin.clear_states()
    response = guard.post("/door/in-cam/open", data={"reason": "delivery", "note": "parcel  x",
                                                     "csrf_token": guard.csrf})
    assert response.status_code == 303 and "msg=msg.opened" in response.headers["location"]
    assert pin.state is True
    assert wait_until(lambda: pin.state is False)
    assert [s.state for s in pin.states] == [False, True, False]
    assert 0.15 < pin.states[2].timestamp < 0.6  # open_seconds = 0.2
    assert panel.factory.pin(OUT_PIN).states[-1].state is False  # the other door stayed shut
    passage = panel.svc.queries().recent_passages(1)[0]
    assert passage["method"] == "override" and passage["actor"] == "guard1"
    assert passage["reader_id"] == "in-cam" and passage["granted"]
    assert "快递外卖 / Delivery: parcel x" in passage["reason_en"]
    assert passage["snapshot"] and panel.svc.snapshots.path(passage["snapshot"]) is not None
    assert guard.get(f"/{passage['snapshot']}").headers["content-type"] == "image/jpeg"
    alert = panel.svc.queries().alerts(limit=1)[0]
    assert alert["kind"] == "override" and "guard1" in alert["message_en"]
    other = guard.post("/door/in-cam/open", data={"reason": "other", "note": "  ",
                                                  "csrf_token": guard.csrf})
    assert other.status_code == 400  # "other" needs a typed reason


def test_lockdown_refuses_open_once_and_hold_open_ends_by_itself(panel: Panel) -> None:
    scene = np.full((480, 640, 3), 60, np.uint8)
    panel.svc.frames.put("out-cam", Frame(scene, seq=1, arrived=time.monotonic()), [])
    guard = panel.guard()
    headers = {"X-CSRF-Token": guard.csrf}
    no_reason = guard.post("/api/doors/out-cam/mode", headers=headers,
                           json={"mode": "lockdown", "reason": "  "})
    assert no_reason.status_code == 400 and no_reason.json()["detail"] == "error.reason_required"
    assert panel.gate.doors["out-cam"].mode is DoorMode.NORMAL
    door = guard.post("/api/doors/out-cam/mode", headers=headers,
                      json={"mode": "lockdown", "reason": "fight at the gate"})
    assert door.status_code == 200 and door.json()["mode"] == "lockdown"
    # Recorded with the guard, the reason and a snapshot, and raised as an override alert.
    snapshot = door.json()["snapshot"]
    assert snapshot and panel.svc.snapshots.path(snapshot) is not None
    event = panel.svc.queries().door_events(1)[0]
    assert event["kind"] == "mode" and event["actor"] == "guard1"
    assert "fight at the gate" in event["detail"] and snapshot in event["detail"]
    alert = panel.svc.queries().alerts(limit=1)[0]
    assert alert["kind"] == "override" and alert["reader_id"] == "out-cam"
    assert alert["message_en"] == "guard1 locked out-cam down: fight at the gate"
    pin = panel.factory.pin(OUT_PIN)
    pin.clear_states()
    refused = guard.post("/api/doors/out-cam/open", headers=headers, json={"reason": "please"})
    assert refused.status_code == 409 and refused.json()["detail"] == "error.lockdown"
    assert [s.state for s in pin.states] == [False]
    events = panel.svc.queries().door_events(5)
    assert any(e["kind"] == "mode" and e["actor"] == "guard1" and "fight" in e["detail"]
               for e in events)
    held = guard.post("/api/doors/out-cam/mode", headers=headers,
                      json={"mode": "hold_open", "minutes": 0.005, "reason": "fire drill"})
    assert held.status_code == 200 and held.json()["mode"] == "hold_open"
    assert pin.state is True and held.json()["mode_remaining_s"] <= 0.3
    assert wait_until(lambda: panel.gate.doors["out-cam"].mode is DoorMode.NORMAL)
    assert pin.state is False
    assert "held out-cam open for 0.005 min: fire drill" in panel.svc.queries().alerts(
        limit=1)[0]["message_en"]
    too_long = guard.post("/api/doors/out-cam/mode", headers=headers,
                          json={"mode": "hold_open", "minutes": 241, "reason": "party"})
    no_limit = guard.post("/door/out-cam/mode", data={"mode": "hold_open", "reason": "drill",
                                                      "csrf_token": guard.csrf})
    assert too_long.status_code == 400 and no_limit.status_code == 400
    assert guard.post("/api/doors/nope/open", headers=headers,
                      json={"reason": "x"}).status_code == 404
    assert guard.post("/api/doors/out-cam/mode", headers=headers,
                      json={"mode": "party"}).status_code == 422


def test_door_states_page_and_api(panel: Panel) -> None:
    guard = panel.guard()
    panel.gate.doors["in-cam"].set_mode(DoorMode.HOLD_OPEN, seconds=600)
    states = guard.get("/door/states").json()
    assert set(states) == {"in-cam", "out-cam"}
    assert "常开" in states["in-cam"] and "剩余 10 分钟" in states["in-cam"]
    assert {d["reader_id"]: d["mode"] for d in guard.get("/api/doors").json()} == {
        "in-cam": "hold_open", "out-cam": "normal"}


def test_alerts_filter_by_severity_and_grid_and_acknowledge_with_comment(panel: Panel) -> None:
    journal = panel.gate.journal
    red = journal.record_alert(AlertSpec(AlertKind.RED_EXIT_ATTEMPT, Severity.URGENT, "红码外出",
                                         "red exit"), person_id="p-301", grid_id="grid-7").row["id"]
    journal.record_alert(AlertSpec(AlertKind.PASSBACK, Severity.WARNING, "超出次数", "quota"),
                         grid_id="grid-8")
    journal.record_alert(AlertSpec(AlertKind.OVERRIDE, Severity.INFO, "人工放行", "override"))
    guard = panel.guard()
    assert len(guard.get("/api/alerts").json()) == 3
    urgent = guard.get("/api/alerts", params={"severity": "urgent"}).json()
    assert [a["id"] for a in urgent] == [red]
    assert [a["kind"] for a in guard.get("/api/alerts", params={"grid": "grid-8"}).json()] == [
        "passback"]
    assert guard.get("/api/alerts", params={"severity": "bogus"}).status_code == 422
    page = guard.get("/alerts", params={"severity": "urgent"})
    assert "红码外出" in page.text and "超出次数" not in page.text
    done = guard.post(f"/alerts/{red}/ack", data={"comment": "grid worker called",
                                                 "back": "/alerts?severity=urgent",
                                                 "csrf_token": guard.csrf})
    assert done.status_code == 303
    assert done.headers["location"] == "/alerts?severity=urgent&msg=msg.acknowledged"
    row = guard.get("/api/alerts", params={"state": "all", "severity": "urgent"}).json()[0]
    assert row["acknowledged_by"] == "guard1" and row["ack_comment"] == "grid worker called"
    assert len(guard.get("/api/alerts").json()) == 2  # open ones only
    again = guard.post(f"/api/alerts/{red}/ack", headers={"X-CSRF-Token": guard.csrf},
                       json={"comment": ""})
    assert again.status_code == 409
    assert guard.post("/api/alerts/9999/ack", headers={"X-CSRF-Token": guard.csrf},
                      json={}).status_code == 404
    evil = guard.post(f"/alerts/{red + 1}/ack", data={"back": "//evil.example/x",
                                                     "csrf_token": guard.csrf})
    assert evil.headers["location"].startswith("/?msg=")  # never redirected off the gate


def test_mode_form_takes_a_listed_reason_and_back_to_normal_needs_none(panel: Panel) -> None:
    guard = panel.guard()
    door = panel.gate.doors["in-cam"]
    refused = guard.post("/door/in-cam/mode", data={"mode": "lockdown", "reason": "",
                                                    "note": "", "csrf_token": guard.csrf})
    assert refused.status_code == 400 and "请填写原因" in refused.text
    assert door.mode is DoorMode.NORMAL
    held = guard.post("/door/in-cam/mode", data={"mode": "hold_open", "minutes": "15",
                                                 "reason": "drill", "note": "fire brigade",
                                                 "csrf_token": guard.csrf})
    assert held.status_code == 303 and held.headers["location"] == "/?msg=msg.mode_hold_open"
    assert door.mode is DoorMode.HOLD_OPEN and 14 * 60 < (door.mode_remaining_s or 0) <= 15 * 60
    assert panel.factory.pin(IN_PIN).state is True
    detail = panel.svc.queries().door_events(1)[0]["detail"]
    assert detail.startswith("hold_open for 900 s; 演练 / Drill: fire brigade")
    assert "snapshot" not in detail  # no camera image yet: nothing to keep
    normal = guard.post("/door/in-cam/mode", data={"mode": "normal", "csrf_token": guard.csrf})
    assert normal.status_code == 303 and door.mode is DoorMode.NORMAL
    assert panel.factory.pin(IN_PIN).state is False
    page = guard.get("/").text
    assert 'formaction="/door/in-cam/mode"' in page and 'value="lockdown"' in page

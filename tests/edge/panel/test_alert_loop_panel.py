"""The panel's side of the alert loop: bulk acknowledgement, folded counts, a red override that
waits for a second account (gpiozero MockFactory relay), and audit records of logins, accounts
and settings with the client's address."""

from __future__ import annotations

from typing import Any

from gate.audit import audit_records
from gate.model import AlertSpec, Severity
from gate.vocabulary import AlertKind, AuditKind
from tests.edge.panel.conftest import (
    ADMIN_PASSWORD,
    IN_PIN,
    OUT_PIN,
    PASSWORD,
    Panel,
    red_denial,
)

FORCED = AlertSpec(AlertKind.DOOR_FORCED, Severity.URGENT, "门被强行打开", "door forced open")


def audits(panel: Panel, kind: AuditKind | None = None) -> list[dict[str, Any]]:
    return audit_records(panel.svc.db.conn(), kind=kind)


def test_bulk_acknowledge_by_form_and_api(panel: Panel) -> None:
    ids = [int(panel.gate.journal.record_alert(FORCED, reader_id=f"r{n}").row["id"])
           for n in range(4)]
    guard = panel.guard()
    page = guard.get("/alerts").text
    assert 'id="bulk-ack"' in page and page.count('class="bulk-pick"') == 4
    done = guard.post("/alerts/ack", data={"ids": [str(ids[0]), str(ids[1])],
                                           "comment": "one  walk round", "back": "/alerts",
                                           "csrf_token": guard.csrf})
    assert done.status_code == 303
    assert done.headers["location"] == "/alerts?msg=msg.acknowledged_many"
    acked = {a["id"]: a for a in guard.get("/api/alerts", params={"state": "all"}).json()}
    assert [acked[i]["acknowledged_by"] for i in ids] == ["guard1", "guard1", None, None]
    assert acked[ids[0]]["ack_comment"] == "one walk round"
    headers = {"X-CSRF-Token": guard.csrf}
    answer = guard.post("/api/alerts/ack", headers=headers,
                        json={"ids": [ids[1], ids[2], ids[3], 9999], "comment": "done"})
    assert answer.status_code == 200
    assert answer.json() == {"acknowledged": [ids[2], ids[3]], "skipped": [ids[1], 9999]}
    assert guard.get("/api/alerts").json() == []
    # Bad input: nothing ticked, too many, not ids at all; nothing is acknowledged by them.
    assert guard.post("/alerts/ack", data={"csrf_token": guard.csrf}).status_code == 400
    assert guard.post("/api/alerts/ack", headers=headers,
                      json={"ids": list(range(1, 202))}).status_code == 422
    assert guard.post("/api/alerts/ack", headers=headers, json={"ids": []}).status_code == 422
    assert guard.post("/api/alerts/ack", headers=headers,
                      json={"ids": ["x"]}).status_code == 422
    assert guard.post("/api/alerts/ack", headers=headers,
                      json={"ids": [0]}).status_code == 422


def test_a_folded_alert_shows_its_count(panel: Panel) -> None:
    for _ in range(5):
        panel.gate.keeper.alert(FORCED, reader_id="in-cam")
    guard = panel.guard()
    [alert] = guard.get("/api/alerts").json()
    assert alert["count"] == 5 and alert["last_at"] >= alert["at"]
    assert "5 次" in guard.get("/alerts").text
    english = panel.login("guard1", PASSWORD)
    english.post("/language", data={"lang": "en", "csrf_token": english.csrf})
    assert "×5" in english.get("/alerts").text


def test_a_red_override_waits_for_a_second_account(panel: Panel) -> None:
    pin = panel.factory.pin(OUT_PIN)
    red_denial(panel.gate, "out-cam")
    guard = panel.guard()
    asked = guard.post("/door/out-cam/open", data={"reason": "emergency", "note": "fever",
                                                   "csrf_token": guard.csrf})
    assert asked.status_code == 303 and asked.headers["location"] == "/?msg=msg.approval_needed"
    assert pin.state is False
    [waiting] = guard.get("/api/approvals").json()
    assert waiting["requested_by"] == "guard1" and waiting["person_id"] == "p-301"
    page = guard.get("/alerts").text
    assert "待第二人批准" in page and f'/approvals/{waiting["request_id"]}/approve' in page
    same = guard.post(f"/api/approvals/{waiting['request_id']}/approve",
                      headers={"X-CSRF-Token": guard.csrf})
    assert same.status_code == 409 and same.json()["detail"] == "error.approval_same_account"
    assert pin.state is False
    api = guard.post("/api/doors/out-cam/open", headers={"X-CSRF-Token": guard.csrf},
                     json={"reason": "again"})
    assert api.status_code == 200 and api.json()["approval_request"] and not api.json()[
        "released"]
    assert pin.state is False
    admin = panel.admin()
    done = admin.post(f"/approvals/{waiting['request_id']}/approve",
                      data={"csrf_token": admin.csrf})
    assert done.status_code == 303 and done.headers["location"] == "/alerts?msg=msg.opened"
    assert pin.state is True
    passage = panel.svc.queries().recent_passages(1)[0]
    assert passage["actor"] == "guard1" and "approved by root" in passage["reason_en"]
    [approved] = audits(panel, AuditKind.OVERRIDE_APPROVED)
    assert approved["actor"] == "root" and approved["target"] == "guard1"
    assert approved["address"] == "testclient"
    gone = admin.post(f"/api/approvals/{waiting['request_id']}/approve",
                      headers={"X-CSRF-Token": admin.csrf})
    assert gone.status_code == 404 and gone.json()["detail"] == "error.approval_gone"
    assert admin.post("/api/approvals/not-hex/approve",
                      headers={"X-CSRF-Token": admin.csrf}).status_code == 422


def test_logins_accounts_and_settings_are_audited_with_the_address(panel: Panel) -> None:
    client = panel.client()
    page = client.get("/login")
    token = page.cookies.get("gridgate_csrf") or client.cookies.get("gridgate_csrf")
    failed = client.post("/login", data={"name": "guard1", "password": "not it",
                                         "csrf_token": token})
    assert failed.status_code == 401
    admin = panel.login("root", ADMIN_PASSWORD)
    headers = {"X-CSRF-Token": admin.csrf}
    admin.post("/users", data={"name": "guard7", "role": "guard", "password": "g" * 12,
                               "password2": "g" * 12, "csrf_token": admin.csrf})
    admin.post("/users/guard7/password", data={"password": "h" * 12, "password2": "h" * 12,
                                               "csrf_token": admin.csrf})
    admin.post("/users/guard7/remove", data={"csrf_token": admin.csrf})
    assert panel.svc.config_path is not None
    text = panel.svc.config_path.read_text().replace("open_seconds = 0.2", "open_seconds = 0.4")
    saved = admin.post("/api/settings", headers=headers, json={"text": text})
    assert saved.status_code == 200, saved.text
    admin.post("/logout", data={"csrf_token": admin.csrf})
    rows = list(reversed(audits(panel)))
    kinds = [(r["kind"], r["actor"], r["target"]) for r in rows]
    assert kinds == [
        ("login_failed", "guard1", None), ("login", "root", None),
        ("account_added", "root", "guard7"), ("password_set", "root", "guard7"),
        ("account_removed", "root", "guard7"),
        ("settings_changed", "root", str(panel.svc.config_path)), ("logout", "root", None)]
    assert all(r["address"] == "testclient" for r in rows)
    assert rows[0]["detail"] == "wrong name or password" and "not it" not in str(rows)
    assert rows[2]["detail"] == "role guard"
    assert rows[5]["detail"].startswith("changed: door.open_seconds; new file sha256 ")


def test_a_hold_open_after_a_red_refusal_waits_for_a_second_account(panel: Panel) -> None:
    pin = panel.factory.pin(OUT_PIN)
    red_denial(panel.gate, "out-cam")
    guard = panel.guard()
    headers = {"X-CSRF-Token": guard.csrf}
    api = guard.post("/api/doors/out-cam/mode", headers=headers,
                     json={"mode": "hold_open", "minutes": 15, "reason": "moving day"})
    assert api.status_code == 200, api.text
    assert api.json()["approval_request"] and api.json()["mode"] == "normal"
    assert pin.state is False
    # The other door of the gate, from the live page's form: the same.
    form = guard.post("/door/in-cam/mode", data={"mode": "hold_open", "minutes": "5",
                                                 "reason": "delivery", "csrf_token": guard.csrf})
    assert form.status_code == 303 and form.headers["location"] == "/?msg=msg.approval_needed"
    assert panel.factory.pin(IN_PIN).state is False
    waiting = guard.get("/api/approvals").json()
    assert [(w["reader_id"], w["action"], w["minutes"]) for w in waiting] == [
        ("out-cam", "hold_open", 15), ("in-cam", "hold_open", 5)]
    assert "常开 15 分钟" in guard.get("/alerts").text
    # Lockdown shuts the door: it asks nobody.
    locked = guard.post("/api/doors/in-cam/mode", headers=headers,
                        json={"mode": "lockdown", "reason": "fight at the gate"})
    assert locked.status_code == 200 and locked.json()["approval_request"] is None
    admin = panel.admin()
    done = admin.post(f"/approvals/{waiting[0]['request_id']}/approve",
                      data={"csrf_token": admin.csrf})
    assert done.status_code == 303 and done.headers["location"] == "/alerts?msg=msg.mode_hold_open"
    assert pin.state is True
    [door] = [d for d in guard.get("/api/doors").json() if d["reader_id"] == "out-cam"]
    assert door["mode"] == "hold_open"
    [approved] = audits(panel, AuditKind.OVERRIDE_APPROVED)
    assert approved["actor"] == "root" and "door held open for 15 min" in approved["detail"]

"""Every state-changing request is refused without login, with a wrong role, without a CSRF
token; and the refused requests change nothing (relay, journal, accounts, visitors)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.routing import APIRoute

from gate.approvals import PendingOverride
from gate.door import DoorMode
from gate.model import AlertSpec, Severity
from tests.edge.panel.conftest import IN_PIN, OUT_PIN, PASSWORD, Panel, red_denial

ANONYMOUS = {"/login", "/setup", "/language"}  # used before login: CSRF by double-submit cookie
ADMIN_ONLY = {"/users", "/users/{name}/password", "/users/{name}/remove", "/settings",
              "/api/settings"}


def _until() -> str:
    return (datetime.now(UTC) + timedelta(hours=2)).isoformat()


def _local_until() -> str:
    # The form's datetime-local field is in the gate's time zone (the policy's).
    shanghai = ZoneInfo("Asia/Shanghai")
    return (datetime.now(UTC) + timedelta(hours=3)).astimezone(shanghai).strftime("%Y-%m-%dT%H:%M")


def config_text(panel: Panel) -> str:
    assert panel.svc.config_path is not None
    return panel.svc.config_path.read_text()


PROMPT = "ab" * 16  # the event id of a passage left to the guard


def prompt_waiting(panel: Panel, request: dict[str, Any]) -> dict[str, Any]:
    """A guard prompt waiting at in-cam (edge/panel/guard.py), for the guard routes."""
    panel.svc.prompts.offer({"event_id": PROMPT, "reader_id": "in-cam", "rule": "compound.guard",
                             "granted": False, "person_id": "p-1", "reason_zh": "各门暂时失联",
                             "reason_en": "gates out of touch"})
    return request


# What a well-formed request to each state-changing route sends (without its CSRF token).
REQUESTS: dict[str, Callable[[Panel], dict[str, Any]]] = {
    "/login": lambda p: {"data": {"name": "guard1", "password": PASSWORD}},
    "/setup": lambda p: {"data": {"token": "x", "name": "boss", "password": "p" * 12,
                                "password2": "p" * 12}},
    "/language": lambda p: {"data": {"lang": "en", "next": "/"}},
    "/logout": lambda p: {"data": {}},
    "/account/password": lambda p: {"data": {"current": PASSWORD, "password": "n" * 12,
                                           "password2": "n" * 12}},
    "/door/{reader_id}/open": lambda p: {"data": {"reason": "delivery"}},
    "/door/{reader_id}/mode": lambda p: {"data": {"mode": "hold_open", "minutes": "5",
                                                "reason": "maintenance"}},
    "/api/doors/{reader_id}/open": lambda p: {"json": {"reason": "parcel"}},
    "/api/doors/{reader_id}/mode": lambda p: {"json": {"mode": "lockdown", "reason": "drill"}},
    # Sorted, a message comes before its replay: there is then something to replay.
    "/display/{reader_id}/message": lambda p: {"data": {"message": "please_wait"}},
    "/display/{reader_id}/replay": lambda p: {"data": {}},
    "/api/displays/{reader_id}/message": lambda p: {"json": {"message": "other", "text": "稍等"}},
    "/api/displays/{reader_id}/replay": lambda p: {"json": {}},
    "/alerts/{alert_id}/ack": lambda p: {"data": {"comment": "seen"}},
    "/api/alerts/{alert_id}/ack": lambda p: {"json": {"comment": "seen"}},
    "/alerts/ack": lambda p: {"data": {"ids": ["1", "2"], "comment": "seen"}},
    "/api/alerts/ack": lambda p: {"json": {"ids": [1, 2], "comment": "seen"}},
    "/approvals/{request_id}/approve": lambda p: {"data": {}},
    "/api/approvals/{request_id}/approve": lambda p: {"json": {}},
    "/visitors": lambda p: {"data": {"name": "Li Wei", "host": "h-5", "until": _local_until()}},
    "/api/visitors": lambda p: {"json": {"name": "Li Wei", "host_household_id": "h-5",
                                       "valid_until": _until()}},
    "/users": lambda p: {"data": {"name": "newguard", "role": "guard", "password": "q" * 12,
                                "password2": "q" * 12}},
    "/users/{name}/password": lambda p: {"data": {"password": "r" * 12, "password2": "r" * 12}},
    "/users/{name}/remove": lambda p: {"data": {}},
    "/guard/{event_id}/open": lambda p: prompt_waiting(p, {"data": {}}),
    "/guard/{event_id}/refuse": lambda p: prompt_waiting(p, {"data": {}}),
    "/api/guard/{event_id}/open": lambda p: prompt_waiting(p, {}),
    "/api/guard/{event_id}/refuse": lambda p: prompt_waiting(p, {}),
    "/settings": lambda p: {"data": {"text": config_text(p)}},
    "/api/settings": lambda p: {"json": {"text": config_text(p) + "\n# checked\n"}},
}


def api_routes(routes: list[Any]) -> list[APIRoute]:
    """Every endpoint, also inside included routers (FastAPI keeps those nested)."""
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif getattr(route, "original_router", None) is not None:
            found += api_routes(route.original_router.routes)
    return found


def state_changing(panel: Panel) -> list[tuple[str, str]]:
    routes = api_routes(panel.app.routes)
    assert len(routes) > 30
    return sorted((method, route.path) for route in routes
                  for method in route.methods - {"GET", "HEAD", "OPTIONS"})


def fill(path: str, alert_id: int, request_id: str = "0123456789abcdef") -> str:
    return (path.replace("{reader_id}", "in-cam").replace("{alert_id}", str(alert_id))
            .replace("{name}", "guard2").replace("{request_id}", request_id)
            .replace("{event_id}", PROMPT))


def waiting_override(panel: Panel) -> str:
    """A guard2's open-once over a red-permit refusal, waiting for a second account."""
    red_denial(panel.gate, "in-cam")
    pending = panel.gate.approvals.open_once("in-cam", actor="guard2", reason="checked")
    assert isinstance(pending, PendingOverride)
    return pending.request_id


def fingerprint(panel: Panel) -> dict[str, Any]:
    db = panel.svc.db.conn()

    def count(sql: str) -> int:
        return int(db.execute(sql).fetchone()[0])

    return {
        "passages": count("SELECT COUNT(*) FROM passages"),
        "door_events": count("SELECT COUNT(*) FROM door_events"),
        "acknowledged": count("SELECT COUNT(*) FROM alerts WHERE acknowledged_at IS NOT NULL"),
        "users": [(u.name, u.role.value, u.password_changed_at) for u in panel.svc.users.list()],
        "visitors": count("SELECT COUNT(*) FROM panel_visitors"),
        "relay_in": [s.state for s in panel.factory.pin(IN_PIN).states],
        "relay_out": [s.state for s in panel.factory.pin(OUT_PIN).states],
        "modes": [d.mode.value for d in panel.gate.doors.values()],
        "screens": [b.view()["key"] for b in panel.gate.boards.values()],
        "config": panel.svc.config_path.read_text() if panel.svc.config_path else None,
    }


def new_alert(panel: Panel) -> int:
    event = panel.gate.journal.record_alert(AlertSpec("door_forced", Severity.URGENT,
                                                      "门被强行打开", "door forced open"))
    return int(event.row["id"])


@pytest.fixture
def alert_id(panel: Panel) -> int:
    return new_alert(panel)


def test_every_state_changing_route_is_covered(panel: Panel) -> None:
    routes = state_changing(panel)
    assert {path for _, path in routes} == set(REQUESTS)
    assert all(method == "POST" for method, _ in routes)


def test_refused_without_login(panel: Panel, alert_id: int) -> None:
    panel.svc.users.add("guard2", "guard", PASSWORD)
    before = fingerprint(panel)
    client = panel.client()
    client.get("/login")  # even with the pre-login CSRF cookie and its token in the form
    csrf = client.cookies.get("gridgate_csrf")
    for _, path in state_changing(panel):
        if path in ANONYMOUS:
            continue
        request = REQUESTS[path](panel)
        if "data" in request:
            request["data"] = {**request["data"], "csrf_token": csrf}
        response = client.post(fill(path, alert_id), headers={"X-CSRF-Token": csrf}, **request)
        if path.startswith("/api/"):
            assert response.status_code == 401, path
        else:
            assert response.status_code == 303, path
            assert response.headers["location"].startswith("/login"), path
    assert fingerprint(panel) == before


def test_refused_without_csrf_token(panel: Panel, alert_id: int) -> None:
    panel.svc.users.add("guard2", "guard", PASSWORD)
    admin = panel.admin()
    before = fingerprint(panel)
    for _, path in state_changing(panel):
        for headers in ({}, {"X-CSRF-Token": "forged"}, {"X-CSRF-Token": ""}):
            response = admin.post(fill(path, alert_id), headers=headers, **REQUESTS[path](panel))
            assert response.status_code == 403, (path, headers, response.text[:200])
    anonymous = panel.client()
    anonymous.get("/login")
    for path in ANONYMOUS:
        response = anonymous.post(path, **REQUESTS[path](panel))
        assert response.status_code == 403, path
        # A token from another browser (or a stale page) does not pass either.
        request = REQUESTS[path](panel)
        request["data"]["csrf_token"] = "token-of-somebody-else"
        assert anonymous.post(path, **request).status_code == 403, path
    assert "gridgate_session" not in anonymous.cookies
    assert fingerprint(panel) == before
    assert admin.get("/api/me").status_code == 200  # the logout without a token did nothing


def test_refused_with_a_wrong_role(panel: Panel, alert_id: int) -> None:
    panel.svc.users.add("guard2", "guard", PASSWORD)
    guard = panel.guard()
    before = fingerprint(panel)
    for path in ADMIN_ONLY:
        response = guard.post(fill(path, alert_id), headers={"X-CSRF-Token": guard.csrf},
                              **REQUESTS[path](panel))
        assert response.status_code == 403, path
    assert guard.get("/users").status_code == 403
    assert guard.get("/api/users").status_code == 403
    assert fingerprint(panel) == before


def test_the_same_requests_with_login_role_and_token_succeed(panel: Panel) -> None:
    """The control: the refusals above are for the missing piece, not a bad request."""
    panel.svc.users.add("guard2", "guard", PASSWORD)
    for _, path in state_changing(panel):
        if path == "/setup":
            continue  # needs a setup token; see test_setup_token
        client = panel.admin() if path in ADMIN_ONLY else panel.guard()
        request = REQUESTS[path](panel)
        if path == "/login":
            client = panel.client()
            client.get("/login")
            request["data"]["csrf_token"] = client.cookies.get("gridgate_csrf")
            response = client.post(path, **request)
        else:
            request_id = waiting_override(panel) if "{request_id}" in path else ""
            response = client.post(fill(path, new_alert(panel), request_id),
                                   headers={"X-CSRF-Token": client.csrf}, **request)
        assert response.status_code in (200, 204, 303), (path, response.text[:300])
        if path == "/users/{name}/remove":
            panel.svc.users.add("guard2", "guard", PASSWORD)
        if path == "/account/password":
            panel.svc.users.set_password("guard1", PASSWORD)
        if path.endswith("/mode"):
            panel.gate.doors["in-cam"].set_mode(DoorMode.NORMAL)
    assert panel.svc.users.get("newguard") is not None


def test_cookies_are_httponly_and_samesite_strict(panel: Panel) -> None:
    client = panel.client()
    page = client.get("/login")
    assert "httponly" in page.headers["set-cookie"].lower()
    assert "samesite=strict" in page.headers["set-cookie"].lower()
    assert "secure" not in page.headers["set-cookie"].lower()  # plain HTTP on loopback
    token = client.cookies.get("gridgate_csrf")
    response = client.post("/login", data={"name": "guard1", "password": PASSWORD,
                                           "csrf_token": token})
    cookie = response.headers["set-cookie"].lower()
    assert cookie.startswith("gridgate_session=") and "httponly" in cookie
    assert "samesite=strict" in cookie and "max-age=43200" in cookie


def test_security_headers_keep_everything_on_the_gate(panel: Panel) -> None:
    page = panel.client().get("/login")
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
    assert "http://" not in page.text and "https://" not in page.text  # no external hosts


def test_pages_and_data_need_a_login(panel: Panel) -> None:
    client = panel.client()
    for path in ("/", "/alerts", "/visitors", "/persons", "/health", "/users", "/account"):
        response = client.get(path)
        assert response.status_code == 303 and response.headers["location"].startswith(
            f"/login?next={path}")
    for path in ("/api/health", "/api/alerts", "/api/passages", "/api/doors", "/api/events",
                 "/api/readers/in-cam/frame.jpg", "/api/who-is-out", "/api/users"):
        assert client.get(path).status_code == 401, path


def test_text_from_users_is_escaped(panel: Panel) -> None:
    guard = panel.guard()
    response = guard.post("/api/visitors", headers={"X-CSRF-Token": guard.csrf}, json={
        "name": "<script>alert(1)</script>", "host_household_id": "h-5",
        "valid_until": _until()})
    assert response.status_code == 200
    page = guard.get(f"/visitors/{response.json()['pass_id']}").text
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page

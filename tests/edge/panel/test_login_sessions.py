"""Logging in over HTTP: lockout, expiry, revocation, the setup token, the language switch."""

from __future__ import annotations

from datetime import UTC, datetime

from gpiozero.pins.mock import MockFactory

from edge.app import GateApp
from gate.clock import ManualClock
from tests.edge.panel.conftest import CSRF_META, PASSWORD, Panel, make_panel


def try_login(panel: Panel, name: str, password: str, address_client=None):  # type: ignore[no-untyped-def]
    client = address_client or panel.client()
    token = CSRF_META.search(client.get("/login").text).group(1)  # type: ignore[union-attr]
    return client, client.post("/login", data={"name": name, "password": password,
                                               "csrf_token": token})


def test_lockout_after_repeated_failures_even_with_the_right_password(panel: Panel) -> None:
    for _ in range(4):
        _, response = try_login(panel, "guard1", "wrong password!")
        assert response.status_code == 401 and "用户名或密码错误" in response.text
    _, response = try_login(panel, "guard1", "wrong password!")
    assert response.status_code == 429 and "15 分钟" in response.text
    client, response = try_login(panel, "guard1", PASSWORD)
    assert response.status_code == 429 and "gridgate_session" not in client.cookies
    _, other = try_login(panel, "root", "admin password 1")  # other accounts still log in
    assert other.status_code == 303
    # Unknown names are throttled the same way, so a lockout reveals nothing.
    for _ in range(5):
        _, response = try_login(panel, "nobody", "whatever it is")
    assert response.status_code == 429


def test_lockout_ends_after_its_time(gate: GateApp, factory: MockFactory) -> None:
    clock = ManualClock(datetime(2026, 2, 14, 2, 0, tzinfo=UTC))
    panel = make_panel(gate, factory, clock=clock, lockout_account_failures=2,
                       lockout_minutes=5)
    for _ in range(2):
        try_login(panel, "guard1", "wrong password!")
    assert try_login(panel, "guard1", PASSWORD)[1].status_code == 429
    clock.advance(5 * 60 + 1)
    assert try_login(panel, "guard1", PASSWORD)[1].status_code == 303
    panel.svc.close()


def test_sessions_expire_when_idle_and_after_their_lifetime(gate: GateApp,
                                                           factory: MockFactory) -> None:
    clock = ManualClock(datetime(2026, 2, 14, 2, 0, tzinfo=UTC))
    panel = make_panel(gate, factory, clock=clock, session_hours=2, idle_minutes=20)
    guard = panel.guard()
    for _ in range(7):  # in use every 15 minutes: alive for 1 h 45 min
        clock.advance(15 * 60)
        assert guard.get("/api/me").status_code == 200
    clock.advance(16 * 60)  # past 2 h
    assert guard.get("/api/me").status_code == 401
    idle = panel.guard()
    clock.advance(21 * 60)
    assert idle.get("/api/me").status_code == 401
    assert idle.get("/").headers["location"] == "/login?next=/"
    panel.svc.close()


def test_logout_revokes_the_session_on_the_server(panel: Panel) -> None:
    guard = panel.guard()
    stolen = guard.cookies.get("gridgate_session")
    response = guard.post("/logout", data={"csrf_token": guard.csrf})
    assert response.status_code == 303 and "gridgate_session" not in guard.cookies
    replay = panel.client()
    replay.cookies.set("gridgate_session", stolen)
    assert replay.get("/api/me").status_code == 401  # a copied cookie is worthless now


def test_password_change_ends_every_session_of_the_user(panel: Panel) -> None:
    phone, pc, admin = panel.guard(), panel.guard(), panel.admin()
    wrong = phone.post("/account/password", data={"current": "not it at all", "password": "n" * 12,
                                                  "password2": "n" * 12, "csrf_token": phone.csrf})
    assert wrong.status_code == 400 and pc.get("/api/me").status_code == 200
    response = phone.post("/account/password", data={
        "current": PASSWORD, "password": "new password 2", "password2": "new password 2",
        "csrf_token": phone.csrf})
    assert response.status_code == 303
    assert phone.get("/api/me").status_code == 401 and pc.get("/api/me").status_code == 401
    assert admin.get("/api/me").status_code == 200
    assert try_login(panel, "guard1", "new password 2")[1].status_code == 303
    # An admin resetting it (or `gridgate user passwd`) ends the new session as well.
    again = panel.login("guard1", "new password 2")
    admin.post("/users/guard1/password", data={"password": "third password",
                                               "password2": "third password",
                                               "csrf_token": admin.csrf})
    assert again.get("/api/me").status_code == 401


def test_first_admin_by_one_time_setup_token(gate: GateApp, factory: MockFactory) -> None:
    panel = make_panel(gate, factory)
    panel.svc.users.remove("guard1")
    db = panel.svc.db.conn()
    with db.atomic():
        db.execute("DELETE FROM panel_users")  # as on a fresh gate
    token = panel.svc.setup.issue()
    client = panel.client()
    assert client.get("/login").headers["location"] == "/setup"
    page = client.get("/setup")
    csrf = CSRF_META.search(page.text).group(1)  # type: ignore[union-attr]
    form = {"name": "boss", "password": "boss password", "password2": "boss password",
            "csrf_token": csrf}
    assert client.post("/setup", data={**form, "token": "guessed"}).status_code == 401
    assert panel.svc.users.list() == []
    response = client.post("/setup", data={**form, "token": token})
    assert response.status_code == 303 and response.headers["location"] == "/users"
    assert client.get("/api/me").json()["role"] == "admin"
    other = panel.client()
    other.get("/login")
    again = other.post("/setup", data={**form, "name": "mallory", "token": token,
                                       "csrf_token": other.cookies.get("gridgate_csrf")})
    assert again.status_code == 303 and again.headers["location"] == "/login"
    assert [u.name for u in panel.svc.users.list()] == ["boss"]
    panel.svc.close()


def test_language_switch_and_default(panel: Panel) -> None:
    guard = panel.guard()
    assert "告警" in guard.get("/alerts").text and '<html lang="zh-CN">' in guard.get("/").text
    response = guard.post("/language", data={"lang": "en", "next": "/alerts",
                                             "csrf_token": guard.csrf})
    assert response.status_code == 303 and response.headers["location"] == "/alerts"
    page = guard.get("/alerts").text
    assert "Acknowledge" in page or "No alerts." in page
    assert '<html lang="en">' in page and ">Log out<" in page
    bogus = guard.post("/language", data={"lang": "xx", "next": "https://evil.example/",
                                          "csrf_token": guard.csrf})
    assert bogus.headers["location"] == "/"
    assert '<html lang="en">' in guard.get("/").text

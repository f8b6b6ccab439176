"""What guards read: names and flats beside ids, where the permit in force comes from (roster
or pass), one clock with its zone (JSON stays UTC), and errors in the page's language."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from edge.panel.i18n import Translator
from edge.panel.views import local_time, zone_label
from edge.settings.load import Problem
from gate.model import AlertSpec, Colour, Method, Permit, Person, Severity
from gate.observation import Observation
from gate.passes import encode_pass, load_signing_key
from gate.passes.claims import PassClaims
from gate.vocabulary import AlertKind
from tests.edge.panel.conftest import Panel, red_denial

PASSBACK = AlertSpec(AlertKind.PASSBACK, Severity.WARNING, "重复同向通行", "passed twice")


def roster(panel: Panel) -> None:
    registry = panel.gate.registry
    registry.put_households([{"household_id": "h-1", "grid_id": "grid-7", "name": "3-2-301"}])
    registry.put_persons([Person("p-101", "h-1", "grid-7", name="王芳"),
                          Person("p-301", "h-3", "grid-7", name="Zhang Wei")])
    registry.put_permits([Permit("p-301", Colour.RED)])


def show_pass(panel: Panel, person_id: str = "p-101", colour: Colour = Colour.GREEN,
              reader: str = "out-cam") -> PassClaims:
    """A valid pass shown at a reader and decided by the gate's own checkpoint."""
    app = panel.gate
    now = app.clock.now()
    claims = PassClaims(pass_id=f"pass-{person_id}", person_id=person_id, household_id="h-1",
                        compound_id="wenjiang-01", colour=colour, issued_at=now,
                        not_before=now - timedelta(days=1), expires_at=now + timedelta(days=30))
    key = load_signing_key(app.settings.storage.state_dir.parent / "keys" / "signing.key")
    check = app.checkpoint.check_pass(encode_pass(claims, key), now)
    assert check.valid, check
    app.checkpoint.handle(Observation(app.readers[reader], Method.PASS, now, pass_check=check))
    return claims


def test_feed_alerts_and_person_show_names_and_where_the_permit_comes_from(
        panel: Panel) -> None:
    roster(panel)
    claims = show_pass(panel)  # no roster permit for p-101: the pass decides
    panel.gate.keeper.alert(PASSBACK, reader_id="out-cam", person_id="p-101",
                            household_id="h-1")
    guard = panel.guard()
    live = guard.get("/").text
    assert "王芳" in live and "3-2-301" in live and "p-101" in live
    assert "许可来自通行证，有效至" in live
    person = guard.get("/api/persons/p-101").json()
    assert person["permit"]["source"] == "pass" and person["permit"]["colour"] == "green"
    assert person["permit"]["pass_id"] == claims.pass_id
    until = datetime.fromisoformat(person["permit"]["valid_until"])
    assert abs(until - claims.expires_at) < timedelta(seconds=1)  # a pass keeps whole seconds
    page = guard.get("/persons/p-101").text
    assert "来自通行证 pass-p-101" in page and "名册中没有此人的许可" in page
    assert "名册中没有许可，也没有出示过通行证" not in page
    assert "王芳" in guard.get("/alerts").text
    # The roster's own permit wins, and the pages say so.
    show_pass(panel, "p-301", Colour.GREEN, reader="in-cam")
    red = guard.get("/api/persons/p-301").json()["permit"]
    assert red["source"] == "roster" and red["colour"] == "red"
    assert "许可来自名册" in guard.get("/persons/p-301").text
    assert "许可来自名册" in guard.get("/").text
    # Nobody known and no pass: said as such.
    assert guard.get("/api/persons/p-999").json()["permit"] is None
    assert "名册中没有许可，也没有出示过通行证" in guard.get("/persons/p-999").text


def test_an_approval_names_the_person(panel: Panel) -> None:
    panel.gate.registry.put_persons([Person("p-301", "h-3", "grid-7", name="Zhang Wei")])
    red_denial(panel.gate)
    guard = panel.guard()
    opened = guard.post("/door/out-cam/open", data={"reason": "emergency",
                                                    "csrf_token": guard.csrf})
    assert opened.status_code == 303
    assert "Zhang Wei" in panel.admin().get("/alerts").text


def test_a_passage_after_a_restart_still_names_its_pass(panel: Panel) -> None:
    show_pass(panel)
    panel.svc.pass_permits = type(panel.svc.pass_permits)()  # memory gone, journal kept
    permit = panel.guard().get("/api/persons/p-101").json()["permit"]
    assert permit["source"] == "pass" and permit["pass_id"] == "pass-p-101"
    assert permit["valid_until"] is None  # said on the page: known again when next shown


@pytest.mark.parametrize(("zone", "label"), [
    ("Asia/Shanghai", "UTC+8"), ("Asia/Kolkata", "UTC+5:30"), ("America/Sao_Paulo", "UTC-3"),
    ("UTC", "UTC")])
def test_local_times_carry_their_zone(zone: str, label: str) -> None:
    when = datetime(2026, 11, 23, 10, 9, 45, tzinfo=UTC)
    assert zone_label(when.astimezone(ZoneInfo(zone))) == label
    shown = local_time(when.isoformat(), ZoneInfo(zone), "%Y-%m-%d %H:%M:%S")
    assert shown.endswith(f" {label}")
    assert local_time(when, ZoneInfo(zone), "%Y-%m-%d") == when.astimezone(
        ZoneInfo(zone)).date().isoformat()  # a date alone has no zone


def test_pages_show_local_time_with_the_zone_and_json_keeps_utc(panel: Panel) -> None:
    show_pass(panel)
    guard = panel.guard()
    row = guard.get("/api/passages").json()[0]
    assert row["at"].endswith("+00:00")
    at = datetime.fromisoformat(row["at"]).astimezone(ZoneInfo("Asia/Shanghai"))
    assert f"{at:%H:%M:%S} UTC+8" in guard.get("/").text
    assert f"{at:%Y-%m-%d %H:%M:%S} UTC+8" in guard.get("/persons/p-101").text


def test_settings_problems_in_the_admins_language_with_a_fallback(panel: Panel) -> None:
    path = panel.svc.config_path
    assert path is not None
    good = path.read_text()
    admin = panel.admin()
    wrong_type = good.replace("open_seconds = 0.2", 'open_seconds = "soon"')
    refused = admin.post("/settings", data={"text": wrong_type, "csrf_token": admin.csrf})
    assert refused.status_code == 400
    assert "door.open_seconds = &#39;soon&#39;: 必须是不带引号的数字" in refused.text
    unknown_key = good.replace("[door]", "[door]\nopen_secs = 3")
    refused = admin.post("/settings", data={"text": unknown_key, "csrf_token": admin.csrf})
    assert "door.open_secs = 3: 没有这个配置项" in refused.text
    not_toml = admin.post("/settings", data={"text": "[gate\n", "csrf_token": admin.csrf})
    assert "不是有效的 TOML：" in not_toml.text
    # A check of our own with no translation: the original text, whole.
    no_host = good + "\n[mqtt]\nenabled = true\n"
    refused = admin.post("/settings", data={"text": no_host, "csrf_token": admin.csrf})
    assert refused.status_code == 400
    assert "mqtt.host is required when mqtt.enabled is true" in refused.text
    # The JSON API keeps the English lines.
    api = admin.post("/api/settings", headers={"X-CSRF-Token": admin.csrf},
                     json={"text": wrong_type})
    assert "door.open_seconds = 'soon': must be a number" in api.json()["detail"]
    assert path.read_text() == good
    admin.cookies.set("gridgate_lang", "en")
    refused = admin.post("/settings", data={"text": wrong_type, "csrf_token": admin.csrf})
    assert "door.open_seconds = &#39;soon&#39;: must be a number without quotes" in refused.text


def test_a_translation_falls_back_to_the_original() -> None:
    i18n = Translator.load()
    bound = Problem("door.open_seconds = 0: Input should be greater than 0", "door.open_seconds",
                    "0", "greater_than", {"gt": "0"})
    assert i18n.problem("zh", bound) == "door.open_seconds = 0: 必须大于 0"
    assert i18n.problem("en", bound) == "door.open_seconds = 0: must be greater than 0"
    for odd in (Problem("x = 1: something new", "x", "1", "some_new_pydantic_type"),
                Problem("x = 1: a bound", "x", "1", "greater_than"),  # its parameter missing
                Problem("readers: reader_id 'a' is used twice")):
        assert i18n.problem("zh", odd) == odd.text


def test_error_pages_and_form_errors_in_the_pages_language(panel: Panel) -> None:
    guard = panel.guard()
    missing = guard.get("/no/such/page")
    assert missing.status_code == 404 and "找不到这个页面。" in missing.text
    assert "Not Found" not in missing.text
    guard.cookies.set("gridgate_lang", "en")
    assert "There is no such page." in guard.get("/no/such/page").text
    assert guard.get("/api/no/such").json() == {"detail": "Not Found"}  # JSON as it was
    admin = panel.admin()
    weak = admin.post("/users", data={"name": "guard2", "role": "guard", "password": "short",
                                      "password2": "short", "csrf_token": admin.csrf})
    assert weak.status_code == 400 and "密码至少需要 10 个字符。" in weak.text
    visitor = guard.post("/visitors", data={"name": "李伟", "host": "h 1!",
                                            "until": "2099-01-01T10:00",
                                            "csrf_token": guard.csrf})
    assert visitor.status_code == 400 and "The host household id is 1 to 64" in visitor.text
    api = guard.post("/api/visitors", headers={"X-CSRF-Token": guard.csrf},
                     json={"name": "李伟", "host_household_id": "h 1!",
                           "valid_until": "2099-01-01T10:00:00+08:00"})
    assert api.status_code == 400 and "host household id" in api.json()["detail"]


def test_a_bug_shows_a_page_in_the_users_language(panel: Panel) -> None:
    from fastapi.testclient import TestClient

    def fail() -> None:
        raise RuntimeError("a bug")

    panel.app.add_api_route("/broken", fail)
    client = TestClient(panel.app, raise_server_exceptions=False)
    page = client.get("/broken")
    assert page.status_code == 500 and "闸机面板出错了" in page.text

"""Admins edit the gate's configuration file: checked in full, replaced atomically, recorded."""

from __future__ import annotations

import stat

from gpiozero.pins.mock import MockFactory

from edge.app import GateApp
from edge.panel.app import create_app
from edge.settings.panel import PanelSettings
from tests.edge.panel.conftest import ADMIN_PASSWORD, Panel, fast_hasher


def test_admin_sees_and_replaces_the_configuration(panel: Panel) -> None:
    path = panel.svc.config_path
    assert path is not None
    path.chmod(0o640)
    before = path.read_text()
    admin = panel.admin()
    page = admin.get("/settings")
    assert page.status_code == 200 and "gate-east" in page.text and "有效" in page.text
    assert admin.get("/api/settings").json()["running"]["gate"]["name"] == "East gate"
    broken = before.replace("relay_pin = 17", "relay_pin = 99")
    refused = admin.post("/settings", data={"text": broken, "csrf_token": admin.csrf})
    assert refused.status_code == 400 and "readers[0].relay_pin" in refused.text
    assert "relay_pin = 99" in refused.text  # the admin's edit is kept on the page to fix
    not_toml = admin.post("/api/settings", headers={"X-CSRF-Token": admin.csrf},
                          json={"text": "[gate\ngate_id = "})
    assert not_toml.status_code == 400
    assert path.read_text() == before  # a bad edit never replaces a good file
    renamed = before.replace('name = "East gate"', 'name = "North gate"')
    saved = admin.post("/settings", data={"text": renamed, "csrf_token": admin.csrf})
    assert saved.status_code == 303
    assert saved.headers["location"] == "/settings?msg=msg.settings_saved"
    assert path.read_text() == renamed and stat.S_IMODE(path.stat().st_mode) == 0o640
    alert = panel.svc.queries().alerts(limit=1)[0]
    assert alert["kind"] == "config_changed" and "root" in alert["message_en"]
    # In force after a restart: the running gate keeps its settings meanwhile.
    state = admin.get("/api/settings").json()
    assert state["running"]["gate"]["name"] == "East gate" and state["valid"] is True


def test_guards_cannot_see_the_configuration(panel: Panel) -> None:
    guard = panel.guard()
    assert guard.get("/settings").status_code == 403
    assert guard.get("/api/settings").status_code == 403
    assert 'href="/settings"' not in guard.get("/").text
    assert 'href="/settings"' in panel.admin().get("/").text


def test_without_a_config_file_settings_are_view_only(gate: GateApp,
                                                      factory: MockFactory) -> None:
    app = create_app(gate, PanelSettings(), hasher=fast_hasher())
    svc = app.state.panel
    svc.users.add("root", "admin", ADMIN_PASSWORD)
    panel = Panel(app, svc, gate, factory)
    admin = panel.admin()
    assert "只能查看" in admin.get("/settings").text
    refused = admin.post("/api/settings", headers={"X-CSRF-Token": admin.csrf},
                         json={"text": "x = 1"})
    assert refused.status_code == 409 and refused.json()["detail"] == "error.settings_readonly"
    svc.close()

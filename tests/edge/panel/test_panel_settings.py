"""The [panel] section of the config: defaults, bounds and the TLS pair."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edge.settings import SettingsError, parse_settings
from tests.edge.panel.conftest import gate_config


def with_panel(tmp_path: Path, **panel: Any) -> dict[str, Any]:
    return {**gate_config(tmp_path), "panel": panel}


def test_defaults_are_safe(tmp_path: Path) -> None:
    panel = parse_settings(gate_config(tmp_path)).panel
    assert panel.enabled is False and panel.host == "127.0.0.1" and panel.tls is False
    assert panel.language == "zh" and panel.lockout_account_failures == 5


@pytest.mark.parametrize(("panel", "says"), [
    ({"tls_cert": "/etc/gridgate/tls.crt"}, "panel: panel.tls_cert and panel.tls_key go together"),
    ({"language": "fr"}, "panel.language = 'fr'"),
    ({"port": 70000}, "panel.port = 70000"),
    ({"session_hours": 0}, "panel.session_hours = 0"),
    ({"lockout_minutes": -1}, "panel.lockout_minutes"),
    ({"passwords": "plain"}, "panel.passwords"),
])
def test_bad_values_name_the_key(tmp_path: Path, panel: dict[str, Any], says: str) -> None:
    with pytest.raises(SettingsError) as caught:
        parse_settings(with_panel(tmp_path, **panel), "gridgate.toml")
    assert says in str(caught.value)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "gate.local"])
def test_a_network_address_without_tls_is_refused(tmp_path: Path, host: str) -> None:
    with pytest.raises(SettingsError) as caught:
        parse_settings(with_panel(tmp_path, enabled=True, host=host), "gridgate.toml")
    said = str(caught.value)
    assert f"panel.host = {host!r}" in said and "plain text" in said
    assert "gridgate panel cert" in said and "panel.tls = true" in said
    assert "panel.allow_insecure_http = true" in said


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.53", "::1", "localhost"])
def test_loopback_without_tls_is_fine(tmp_path: Path, host: str) -> None:
    assert parse_settings(with_panel(tmp_path, host=host)).panel.host == host


def test_a_network_address_with_tls_or_the_explicit_opt_in(tmp_path: Path) -> None:
    with_tls = parse_settings(with_panel(tmp_path, host="0.0.0.0", tls=True)).panel
    assert with_tls.tls and not with_tls.allow_insecure_http
    insecure = parse_settings(with_panel(tmp_path, host="0.0.0.0", allow_insecure_http=True))
    assert insecure.panel.host == "0.0.0.0" and not insecure.panel.tls

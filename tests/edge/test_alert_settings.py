"""The [alerts] and [freshness] sections: bad values are refused with the key named, and an
escalation webhook must be one of the configured webhooks (which then gets escalations only)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory

from edge.app import GateApp
from edge.settings import SettingsError, parse_settings
from tests.edge.panel.conftest import gate_config


def config(root: Path, **sections: Any) -> dict[str, Any]:
    base = gate_config(root)
    base.update(sections)
    return base


def refused(root: Path, **sections: Any) -> str:
    with pytest.raises(SettingsError) as caught:
        parse_settings(config(root, **sections))
    return "\n".join(caught.value.problems)


def test_bad_alert_and_freshness_values_name_their_key(tmp_path: Path) -> None:
    assert "alerts.escalate_to" in refused(tmp_path, alerts={"escalate_to": "police"})
    assert "alerts.probing_count" in refused(tmp_path, alerts={"probing_count": 1})
    assert "alerts.fold_window_minutes" in refused(tmp_path,
                                                   alerts={"fold_window_minutes": -1})
    assert "freshness.when_stale" in refused(tmp_path, freshness={"when_stale": "deny"})
    assert "freshness.trust_max_age_days" in refused(tmp_path,
                                                     freshness={"trust_max_age_days": "30"})
    assert "policy.red_override.approval_window_s" in refused(
        tmp_path, policy={"red_override": {"approval_window_s": 5}})
    text = refused(tmp_path, alerts={"escalate_to": "webhook:street"})
    assert "no webhook of that name in mqtt.webhooks" in text


def test_the_escalation_webhook_gets_escalated_alerts_only(tmp_path: Path) -> None:
    hooks = [{"name": "street", "url": "http://127.0.0.1:9/hook", "format": "work_chat"},
             {"name": "grid-7-chat", "url": "http://127.0.0.1:9/grid"}]
    settings = parse_settings(config(
        tmp_path, alerts={"escalate_to": "webhook:street", "escalate_after_minutes": 5},
        mqtt={"enabled": True, "host": "127.0.0.1", "port": 1, "webhooks": hooks}))
    factory = MockFactory()
    with GateApp(settings, pin_factory=factory) as app:
        assert app.sync is not None
        routes = {s.route.name: s.route.escalated_only for s in app.sync.senders}
        assert routes == {"street": True, "grid-7-chat": False}
        assert app.sync.outbox.escalation_topic is None  # the MQTT copy: the alert's topic
        assert app.escalator is not None and app.escalator.audience == "webhook:street"
    factory.reset()
    off = parse_settings(config(tmp_path / "off", alerts={"escalate_after_minutes": 0}))
    with GateApp(off, pin_factory=factory) as app:
        assert app.escalator is None
    factory.reset()

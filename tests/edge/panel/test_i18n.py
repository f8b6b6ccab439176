"""Both languages say everything the templates and routes ask for."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

from edge.panel.i18n import LANGUAGES, Translator

PANEL = Path(__file__).resolve().parents[3] / "edge" / "panel"
LITERAL_KEY = re.compile(r"""\bt\(\s*['"]([a-z_]+\.[A-Za-z0-9_.+]+)['"]""")
PREFIX_KEY = re.compile(r"""\bt\(\s*['"]([a-z_]+\.)['"]\s*~""")
ROUTE_KEY = re.compile(r"""['"]((?:error|msg)\.(?!html)[a-z_]+)['"]""")


@pytest.fixture(scope="module")
def i18n() -> Translator:
    return Translator.load()


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_catalogs_have_the_same_keys_and_placeholders(i18n: Translator) -> None:
    zh, en = i18n.catalogs["zh"], i18n.catalogs["en"]
    assert set(zh) == set(en), sorted(set(zh) ^ set(en))
    for key in zh:
        assert _placeholders(zh[key]) == _placeholders(en[key]), key


def test_every_key_used_by_templates_and_routes_exists(i18n: Translator) -> None:
    used: set[str] = set()
    for path in (PANEL / "templates").glob("*.html"):
        used |= set(LITERAL_KEY.findall(path.read_text(encoding="utf-8")))
    for path in [*(PANEL / "routes").glob("*.py"), PANEL / "app.py"]:
        used |= set(ROUTE_KEY.findall(path.read_text(encoding="utf-8")))
    assert len(used) > 100
    missing = sorted(k for k in used if not all(k in i18n.catalogs[lang] for lang in LANGUAGES))
    assert missing == []


def test_dynamic_key_families_are_complete(i18n: Translator) -> None:
    families = {"colour.": ["green", "yellow", "red", "white"], "dir.": ["in", "out"],
                "severity.": ["info", "warning", "urgent"],
                "mode.": ["normal", "lockdown", "hold_open"],
                "method.": ["pass", "face", "pass+face", "override", "button"],
                "broker.": ["connected", "disconnected", "not_configured", "unknown"],
                "role.": ["guard", "admin"], "scope.": ["all", "visitor"],
                "kind.": ["resident", "visitor"],
                "document.": ["roster", "permits", "trust", "revocations", "policy"],
                "msg.mode_": ["normal", "lockdown", "hold_open"],
                "screenmsg.": ["please_wait", "see_guard", "show_again", "one_at_a_time",
                               "other"],
                "reason.": ["resident_no_pass", "delivery", "visitor_checked", "emergency",
                            "security", "drill", "maintenance", "other"]}
    used = set()
    for path in (PANEL / "templates").glob("*.html"):
        used |= set(PREFIX_KEY.findall(path.read_text(encoding="utf-8")))
    assert used <= set(families), used - set(families)
    assert "msg.mode_" in (PANEL / "routes" / "door.py").read_text()
    for prefix, values in families.items():
        for value in values:
            for lang in LANGUAGES:
                assert prefix + value in i18n.catalogs[lang], (lang, prefix + value)


def test_lookup_falls_back_and_fills_placeholders(i18n: Translator) -> None:
    assert i18n.text("zh", "nav.alerts") == "告警"
    assert i18n.text("en", "nav.alerts") == "Alerts"
    assert i18n.text("fr", "nav.alerts") == "告警"  # unknown language: the default
    assert i18n.text("en", "no.such.key") == "no.such.key"
    assert "7" in i18n.text("en", "login.locked", minutes=7)
    assert i18n.language("en") == "en" and i18n.language("<script>") == "zh"

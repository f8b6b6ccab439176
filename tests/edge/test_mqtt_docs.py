"""docs/mqtt.md shows what the gate really sends: its generated blocks match what the code
makes now (regenerate with `gridgate docs`), and every rule id and alert kind is listed with
its meaning in both languages."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from edge.cli.main import cli
from edge.mqttdocs import DocsError, real_messages, render
from gate.reasons import alert_meaning, rule_meaning
from gate.vocabulary import AlertKind, Rule
from sync.messages import EventMessage

REPO = Path(__file__).resolve().parents[2]
MQTT_MD = REPO / "docs" / "mqtt.md"


def test_docs_mqtt_md_is_up_to_date() -> None:
    current = MQTT_MD.read_text(encoding="utf-8")
    assert render(current) == current, (
        "docs/mqtt.md differs from what the gate sends now: run `gridgate docs` and commit it")


def test_every_rule_and_alert_kind_has_a_meaning_in_both_languages() -> None:
    text = MQTT_MD.read_text(encoding="utf-8")
    cjk = re.compile(r"[\u4e00-\u9fff]")
    for rule in Rule:
        zh, en = rule_meaning(rule)  # KeyError: say what the new rule means in gate/reasons.py
        assert cjk.search(zh) and en.isascii() and en, rule
        assert f"| `{rule.value}` | {zh} |" in text, rule
    for kind in AlertKind:
        severity, zh, en = alert_meaning(kind)
        assert cjk.search(zh) and en, kind
        assert f"| `{kind.value}` | {severity.value} | {zh} |" in text, kind


def test_the_examples_are_real_messages_a_consumer_accepts() -> None:
    messages = real_messages()
    kinds = [(m["type"], m["data"].get("rule") or m["data"].get("kind")) for _, m in messages]
    assert ("passage", "green.out") in kinds and ("passage", "red.exit_denied") in kinds
    assert ("alert", "red_exit_attempt") in kinds and ("door", "released") in kinds
    for topic, message in messages:
        parsed = EventMessage.received(message)
        assert parsed.seq == message["seq"] and topic.startswith("gridgate/v1/wenjiang-01/")
    # The blocks in the file hold those very messages.
    text = MQTT_MD.read_text(encoding="utf-8")
    blocks = re.findall(r"```json\n(.*?)\n```", text, re.DOTALL)
    shown = [json.loads(b) for b in blocks if '"schema_version": 1' in b and '"type"' in b]
    assert [m for _, m in messages if m in shown], "no generated message in the file"


def test_a_block_missing_or_unknown_is_an_error(tmp_path: Path) -> None:
    text = MQTT_MD.read_text(encoding="utf-8")
    with pytest.raises(DocsError, match="missing \\['rules'\\]"):
        render(re.sub(r"<!-- BEGIN GENERATED rules -->.*?<!-- END GENERATED rules -->\n", "",
                      text, flags=re.DOTALL))
    with pytest.raises(DocsError, match="unknown \\['nonsense'\\]"):
        render(text + "\n<!-- BEGIN GENERATED nonsense -->\n<!-- END GENERATED nonsense -->\n")


def test_gridgate_docs_check_fails_on_drift(tmp_path: Path) -> None:
    for sub in ("docs", "config"):
        (tmp_path / sub).mkdir()
    for name in ("docs/configuration.md", "config/gridgate.example.toml", "docs/mqtt.md"):
        (tmp_path / name).write_text((REPO / name).read_text(encoding="utf-8"), encoding="utf-8")
    runner = CliRunner()
    assert runner.invoke(cli, ["docs", "--check", "--root", str(tmp_path)]).exit_code == 0
    stale = (tmp_path / "docs/mqtt.md").read_text().replace("green.out", "colour.green")
    (tmp_path / "docs/mqtt.md").write_text(stale)
    result = runner.invoke(cli, ["docs", "--check", "--root", str(tmp_path), "--json"])
    assert result.exit_code == 1
    assert json.loads(result.output.splitlines()[0])[str(tmp_path / "docs/mqtt.md")] == (
        "out of date")
    assert runner.invoke(cli, ["docs", "--root", str(tmp_path)]).exit_code == 0
    assert (tmp_path / "docs/mqtt.md").read_text() == MQTT_MD.read_text()

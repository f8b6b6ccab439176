"""docs/configuration.md and config/gridgate.example.toml are exactly what the model generates."""

from __future__ import annotations

import tomllib
from pathlib import Path

from click.testing import CliRunner

from edge.cli.main import cli
from edge.configdocs import missing_descriptions, render_example, render_markdown, sections
from edge.settings import parse_settings

REPO = Path(__file__).resolve().parents[3]
DOCS = REPO / "docs" / "configuration.md"
EXAMPLE = REPO / "config" / "gridgate.example.toml"


def test_committed_reference_matches_the_model() -> None:
    assert DOCS.read_text(encoding="utf-8") == render_markdown(), (
        "docs/configuration.md differs from the settings model; run `gridgate config docs`")


def test_committed_example_matches_the_model() -> None:
    assert EXAMPLE.read_text(encoding="utf-8") == render_example(), (
        "config/gridgate.example.toml differs from the settings model; "
        "run `gridgate config example`")


def test_every_key_has_a_description() -> None:
    assert missing_descriptions() == []


def test_the_example_is_a_valid_configuration() -> None:
    settings = parse_settings(tomllib.loads(render_example()), "example")
    assert settings.gate.gate_id == "gate-east"
    assert settings.readers[0].relay_pin == 17


def test_reference_names_every_key_with_type_default_and_bounds() -> None:
    text = render_markdown()
    for section in sections():
        assert f"[{section.path}]" in text
        for key in section.keys:
            assert f"| `{key.name}` |" in text
    assert "| `relay_pin` | integer | **required** | >= 0, <= 27 |" in text
    assert "| `direction` | 'in' or 'out' | **required** |" in text
    assert "| `qr_decoder` | string | `\"zxing\"` |" in text
    assert "[[mqtt.webhooks]]" in text


def test_check_mode_of_the_commands(tmp_path: Path) -> None:
    runner = CliRunner()
    stale = tmp_path / "configuration.md"
    stale.write_text("old\n")
    result = runner.invoke(cli, ["config", "docs", "--out", str(stale), "--check"])
    assert result.exit_code == 1 and "out of date" in result.output
    result = runner.invoke(cli, ["config", "docs", "--out", str(stale)])
    assert result.exit_code == 0 and stale.read_text() == render_markdown()
    result = runner.invoke(cli, ["config", "docs", "--out", str(stale), "--check"])
    assert result.exit_code == 0 and "up to date" in result.output
    example = tmp_path / "example.toml"
    assert runner.invoke(cli, ["config", "example", "--out", str(example)]).exit_code == 0
    assert example.read_text() == render_example()

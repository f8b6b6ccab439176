"""`gridgate docs`: regenerate every generated document in one go (after a merge, say)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from edge.cli.output import emit_json, json_option


def _targets(root: Path) -> list[tuple[Path, Callable[[str], str]]]:
    from edge import mqttdocs
    from edge.configdocs import render_example, render_markdown

    return [(root / "docs" / "configuration.md", lambda _old: render_markdown()),
            (root / "config" / "gridgate.example.toml", lambda _old: render_example()),
            (root / "docs" / "mqtt.md", mqttdocs.render)]


@click.command()
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="The source tree (holding docs/ and config/).")
@click.option("--check", "check_only", is_flag=True,
              help="Only compare; exit 1 when a file differs from what the code makes.")
@json_option
def docs(root: Path, check_only: bool, as_json: bool) -> None:
    """Write docs/configuration.md, config/gridgate.example.toml (from the settings model) and
    the generated parts of docs/mqtt.md (payloads the gate really sends, every rule id and
    alert kind)."""
    from edge.configdocs import write_if_changed

    results = {}
    for path, render in _targets(root):
        if not path.exists():
            raise click.ClickException(f"{path} does not exist: give --root, the source tree")
        current = path.read_text(encoding="utf-8")
        text = render(current)
        if check_only:
            results[str(path)] = "up to date" if text == current else "out of date"
        else:
            results[str(path)] = "wrote" if write_if_changed(path, text) else "unchanged"
    if as_json:
        emit_json(results)
    else:
        for path_text, what in results.items():
            click.echo(f"{what}: {path_text}")
    if check_only and "out of date" in results.values():
        click.echo("run `gridgate docs` to regenerate", err=True)
        raise SystemExit(1)

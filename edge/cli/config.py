"""`gridgate config`: check and install configuration files; generate their docs and example."""

from __future__ import annotations

from pathlib import Path

import click

from edge.cli.output import emit_json, friendly_errors, json_option
from edge.cli.state import DEFAULT_CONFIG
from edge.config_guard import check_config, install_config
from edge.configdocs import render_example, render_markdown, write_if_changed
from edge.settings import Settings, SettingsError


@click.group()
def config() -> None:
    """Check, install and document the configuration file."""


def _summary(settings: Settings) -> str:
    readers = ", ".join(f"{r.reader_id} ({r.direction.value}, GPIO {r.relay_pin})"
                        for r in settings.readers)
    return f"gate {settings.gate.gate_id} of {settings.gate.compound_id}; readers: {readers}"


@config.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@json_option
def check(file: Path, as_json: bool) -> None:
    """Validate FILE and the files it names; every problem names its key and the fix.

    Exits 0 when valid, 1 when not.
    """
    try:
        settings = check_config(file)
    except SettingsError as exc:
        if as_json:
            emit_json({"file": str(file), "valid": False, "problems": exc.problems})
        else:
            click.echo(f"{file}: {len(exc.problems)} problem(s):", err=True)
            for problem in exc.problems:
                click.echo(f"  {problem}", err=True)
        raise SystemExit(1) from None
    if as_json:
        emit_json({"file": str(file), "valid": True, "problems": [],
                   "gate_id": settings.gate.gate_id,
                   "readers": [r.reader_id for r in settings.readers]})
    else:
        click.echo(f"{file}: valid; {_summary(settings)}")


@config.command()
@click.argument("new", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--config", "-c", "target", type=click.Path(dir_okay=False, path_type=Path),
              default=DEFAULT_CONFIG, show_default=True,
              help="The configuration file to replace.")
@friendly_errors
def install(new: Path, target: Path) -> None:
    """Validate NEW as it will sit at the target, then atomically replace the target.

    A bad file never replaces a good one: on any problem the target is left untouched.
    """
    settings = install_config(new, target)
    click.echo(f"installed {new} as {target}; {_summary(settings)}")
    click.echo("apply it with: sudo systemctl restart gridgate")


def _generate(text: str, out: Path, check_only: bool, what: str) -> None:
    if check_only:
        current = out.read_text(encoding="utf-8") if out.exists() else None
        if current != text:
            click.echo(f"{out} is out of date with the settings model; run `gridgate config "
                       f"{what}` to regenerate it", err=True)
            raise SystemExit(1)
        click.echo(f"{out} is up to date")
        return
    if str(out) == "-":
        click.echo(text, nl=False)
        return
    changed = write_if_changed(out, text)
    click.echo(f"{'wrote' if changed else 'unchanged:'} {out}")


@config.command()
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("docs/configuration.md"), show_default=True,
              help="Where to write ('-' for standard output).")
@click.option("--check", "check_only", is_flag=True,
              help="Only compare; exit 1 when the file differs from the model.")
def docs(out: Path, check_only: bool) -> None:
    """Write the configuration reference generated from the settings model."""
    _generate(render_markdown(), out, check_only, "docs")


@config.command()
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("config/gridgate.example.toml"), show_default=True,
              help="Where to write ('-' for standard output).")
@click.option("--check", "check_only", is_flag=True,
              help="Only compare; exit 1 when the file differs from the model.")
def example(out: Path, check_only: bool) -> None:
    """Write the example configuration generated from the settings model."""
    _generate(render_example(), out, check_only, "example")

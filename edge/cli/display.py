"""`gridgate display ...`: the gate display beside each door (its prompts and addresses)."""

from __future__ import annotations

from pathlib import Path

import click

from edge.cli.output import emit_json, friendly_errors, json_option
from edge.cli.state import config_option, open_settings
from edge.display.prompts import PROMPTS, PromptError, default_dir, make_prompts

# What a kiosk browser on the gate's own screen runs (docs/display.md).
KIOSK = ("chromium --kiosk --noerrdialogs --disable-infobars --no-first-run "
         "--autoplay-policy=no-user-gesture-required {url}")


@click.group()
def display() -> None:
    """The gate display: verdict, reason and voice for the person at the door."""


@display.command("prompts")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=default_dir,
              show_default="<prefix>/share/gridgate/prompts",
              help="Folder to write the prompt files into.")
@json_option
def prompts(out: Path, as_json: bool) -> None:
    """Make the spoken prompts with espeak-ng (Mandarin and English); unchanged files stay."""
    try:
        written = make_prompts(out)
    except PromptError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None
    if as_json:
        emit_json({"folder": out, "prompts": sorted(PROMPTS), "written": written})
        return
    click.echo(f"{len(PROMPTS)} prompts in {out} ({len(written)} files written)")


@display.command("urls")
@config_option
@json_option
@friendly_errors
def urls(config: Path, as_json: bool) -> None:
    """Each screen's address, and the kiosk browser's command line for it."""
    screens = open_settings(config).display.screens
    rows = []
    for screen in screens:
        host = screen.host if ":" not in screen.host else f"[{screen.host}]"
        url = f"http://{host}:{screen.port}/"
        rows.append({"reader_id": screen.reader_id, "url": url,
                     "kiosk": KIOSK.format(url=url)})
    if as_json:
        emit_json({"screens": rows})
        return
    if not rows:
        click.echo("no screens configured ([[display.screens]] in the configuration)")
    for row in rows:
        click.echo(f"{row['reader_id']}: {row['url']}\n  kiosk: {row['kiosk']}")

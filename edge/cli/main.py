"""Entry point of the `gridgate` command."""

from __future__ import annotations

import logging

import click

from edge.cli.lazy import LazyGroup

COMMANDS = {
    "run": "edge.cli.run:run",
    "demo": "edge.cli.demo:demo",
    "scan": "edge.cli.scan:scan",
    "keys": "edge.cli.keys:keys",
    "pass": "edge.cli.passes:pass_group",
    "trajectory": "edge.cli.journal:trajectory",
    "who-is-out": "edge.cli.journal:who_is_out",
    "contacts": "edge.cli.journal:contacts",
    "passages": "edge.cli.journal:passages",
    "journal": "edge.cli.journal:journal_group",
    "prune": "edge.cli.records:prune",
    "wipe": "edge.cli.records:wipe",
    "bench": "edge.cli.bench:bench",
    "config": "edge.cli.config:config",
    "faces": "edge.cli.faces:faces",
    "platform": "edge.cli.platform:platform",
    "outbox": "edge.cli.outbox:outbox",
    "user": "edge.cli.user:user",
    "panel": "edge.cli.panel:panel",
    "display": "edge.cli.display:display",
    "init": "edge.cli.init:init",
    "doctor": "edge.cli.doctor:doctor",
    "relay": "edge.cli.relay:relay",
    "camera": "edge.cli.camera:camera",
    "homeassistant": "edge.cli.homeassistant:homeassistant",
    "docs": "edge.cli.docs:docs",
    "export": "edge.cli.export:export",
    "backup": "edge.cli.backup:backup",
    "restore": "edge.cli.backup:restore",
}


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.version_option(package_name="gridgate")
def cli(verbose: int) -> None:
    """gridgate: edge gate control for residential compounds."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


if __name__ == "__main__":
    cli()

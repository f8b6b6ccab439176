"""`gridgate user ...`: panel accounts (guards and admins) in the gate's database."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from edge.cli.localtime import local_datetime, parse_utc_text
from edge.cli.output import emit_json, friendly_errors, json_option
from edge.cli.state import config_option, open_settings
from edge.panel.db import PanelDatabase
from edge.panel.errors import UserError
from edge.panel.users import MIN_PASSWORD, Role, UserStore
from gate.store import database_path

password_stdin = click.option(
    "--password-stdin", is_flag=True,
    help="Read the password from the first line of standard input (for scripts).")


def _store(config: Path) -> UserStore:
    settings = open_settings(config)
    return UserStore(PanelDatabase(database_path(settings.storage.state_dir)))


def _password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        if not line.strip():
            raise UserError("no password on standard input")
        return line.rstrip("\r\n")
    return str(click.prompt(f"Password (at least {MIN_PASSWORD} characters)", hide_input=True,
                            confirmation_prompt="Repeat the password"))


@click.group()
def user() -> None:
    """Panel accounts: guards run the gate, admins also manage accounts."""


@user.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice([r.value for r in Role]), default=Role.GUARD.value,
              show_default=True, help="guard: runs the gate; admin: also manages accounts.")
@config_option
@password_stdin
@json_option
@friendly_errors
def add(name: str, role: str, config: Path, password_stdin: bool, as_json: bool) -> None:
    """Create the account NAME, asking for its password twice (hidden)."""
    store = _store(config)
    if store.get(name) is not None:
        raise UserError(f"a user named {name!r} already exists")
    created = store.add(name, role, _password(password_stdin))
    if as_json:
        emit_json({"name": created.name, "role": created.role.value})
    else:
        click.echo(f"added {created.role.value} {created.name}")


@user.command("list")
@config_option
@json_option
@friendly_errors
def list_users(config: Path, as_json: bool) -> None:
    """List the panel accounts."""
    users = _store(config).list()
    zone = open_settings(config).policy.zone
    if as_json:
        emit_json({"users": [{"name": u.name, "role": u.role.value, "created_at": u.created_at,
                              "password_changed_at": u.password_changed_at} for u in users]})
        return
    if not users:
        click.echo("no accounts; create the first with `gridgate user add NAME --role admin`")
    for u in users:
        changed = local_datetime(parse_utc_text(u.password_changed_at), zone, seconds=False)
        click.echo(f"{u.name:<20} {u.role.value:<6} password set {changed}")


@user.command("passwd")
@click.argument("name")
@config_option
@password_stdin
@friendly_errors
def passwd(name: str, config: Path, password_stdin: bool) -> None:
    """Set a new password for NAME; every login of NAME ends at once."""
    store = _store(config)
    if store.get(name) is None:
        raise UserError(f"no user named {name!r}; `gridgate user list` shows them")
    store.set_password(name, _password(password_stdin))
    click.echo(f"password of {name} changed; its sessions have ended")


@user.command("remove")
@click.argument("name")
@config_option
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@friendly_errors
def remove(name: str, config: Path, yes: bool) -> None:
    """Remove the account NAME and end its sessions (the last admin stays)."""
    store = _store(config)
    if store.get(name) is None:
        raise UserError(f"no user named {name!r}; `gridgate user list` shows them")
    if not yes:
        click.confirm(f"remove the account {name}?", abort=True)
    store.remove(name)
    click.echo(f"removed {name}")

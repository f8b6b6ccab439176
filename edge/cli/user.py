"""`gridgate user ...`: panel accounts (guards and admins) in the gate's database.

Every change is journaled as an audit record with the actor `cli:<os user>` (the user behind
sudo when run through it) and goes out as an `audit` event, as the panel's own changes do.
"""

from __future__ import annotations

import logging
import os
import pwd
import sys
from pathlib import Path

import click

from edge.cli.localtime import local_datetime, parse_utc_text
from edge.cli.output import emit_json, friendly_errors, json_option
from edge.cli.state import config_option, open_journal, open_settings
from edge.panel.db import PanelDatabase
from edge.panel.errors import UserError
from edge.panel.users import MIN_PASSWORD, Role, UserStore
from edge.settings import Settings
from gate.audit import record_audit
from gate.errors import GridgateError, JournalError
from gate.store import database_path
from gate.vocabulary import AuditKind

log = logging.getLogger(__name__)

password_stdin = click.option(
    "--password-stdin", is_flag=True,
    help="Read the password from the first line of standard input (for scripts).")


class AuditError(GridgateError, RuntimeError):
    """An account change was made but its audit record could not be journaled."""


def _store(settings: Settings) -> UserStore:
    return UserStore(PanelDatabase(database_path(settings.storage.state_dir)))


def cli_actor() -> str:
    """Who runs this command, as audit records name them: cli:<os user>; through sudo, the
    user who ran sudo (root alone says little)."""
    uid = os.geteuid()
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:  # a uid without an entry (a container)
        name = str(uid)
    sudo_user = os.environ.get("SUDO_USER", "") if uid == 0 else ""
    return f"cli:{sudo_user}" if sudo_user and sudo_user != name else f"cli:{name}"


def _audit(settings: Settings, kind: AuditKind, name: str, detail: str = "") -> None:
    """Journal the change with its event; AuditError (the change stands) when it cannot be."""
    actor = cli_actor()
    log.info("%s: %s %s %s", actor, kind.value, name, detail)
    journal = open_journal(settings)
    try:
        record_audit(journal, kind, actor=actor, target=name, detail=detail)
    except JournalError as exc:
        raise AuditError(f"{kind.value.replace('_', ' ')} for {name!r} is done, but its audit "
                         f"record could not be journaled: {exc}; free storage, then note the "
                         "change by hand") from None
    finally:
        journal.db.close()


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
    settings = open_settings(config)
    store = _store(settings)
    if store.get(name) is not None:
        raise UserError(f"a user named {name!r} already exists")
    created = store.add(name, role, _password(password_stdin))
    _audit(settings, AuditKind.ACCOUNT_ADDED, created.name, f"role {created.role.value}")
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
    settings = open_settings(config)
    users = _store(settings).list()
    zone = settings.policy.zone
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
    settings = open_settings(config)
    store = _store(settings)
    if store.get(name) is None:
        raise UserError(f"no user named {name!r}; `gridgate user list` shows them")
    changed = store.set_password(name, _password(password_stdin))
    _audit(settings, AuditKind.PASSWORD_SET, changed.name)
    click.echo(f"password of {name} changed; its sessions have ended")


@user.command("remove")
@click.argument("name")
@config_option
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@friendly_errors
def remove(name: str, config: Path, yes: bool) -> None:
    """Remove the account NAME and end its sessions (the last admin stays)."""
    settings = open_settings(config)
    store = _store(settings)
    if store.get(name) is None:
        raise UserError(f"no user named {name!r}; `gridgate user list` shows them")
    if not yes:
        click.confirm(f"remove the account {name}?", abort=True)
    removed = store.remove(name)
    _audit(settings, AuditKind.ACCOUNT_REMOVED, removed.name, f"role {removed.role.value}")
    click.echo(f"removed {name}")

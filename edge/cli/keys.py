"""`gridgate keys ...`: signing keys and trust lists."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from edge.cli.output import emit_json, friendly_errors, json_option
from edge.cli.state import config_option, open_settings
from gate.passes import TrustList, load_or_create_signing_key, load_public_key, write_key_pair
from gate.passes.keys import PRIVATE_NAME, PUBLIC_NAME
from gate.passes.trust import TrustedKey, entry_json
from gate.store import gate_key_path


@click.group()
def keys() -> None:
    """Ed25519 keys that sign passes, and the trust lists gates verify them with."""


@keys.command()
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Directory for signing.key (mode 0600) and signing.pub.")
@click.option("--force", is_flag=True, help="Replace an existing key pair.")
@json_option
@friendly_errors
def generate(out: Path, force: bool, as_json: bool) -> None:
    """Write a new signing key pair and print its key id."""
    key_id = write_key_pair(out, overwrite=force)
    if as_json:
        emit_json({"key_id": key_id, "private": out / PRIVATE_NAME, "public": out / PUBLIC_NAME})
    else:
        click.echo(key_id)


@keys.command()
@click.option("--pub", "pub", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="A signing.pub file.")
@click.option("--trust-list", "trust_list", type=click.Path(dir_okay=False, path_type=Path),
              required=True, help="Trust list JSON file to add it to (created if absent).")
@click.option("--scope", type=click.Choice(["all", "visitor", "platform", "gate"]),
              default="all", show_default=True,
              help="'visitor': the key may sign visitor passes only; 'platform': platform "
              "documents and commands only, no passes; 'gate': one gate's passages for the "
              "other gates of its compound, nothing else (needs --gate-id).")
@click.option("--gate-id", "gate_id", default=None, help="The gate a 'gate' key speaks for.")
@json_option
@friendly_errors
def trust(pub: Path, trust_list: Path, scope: str, gate_id: str | None, as_json: bool) -> None:
    """Add a public key to a trust list."""
    current = TrustList.load(trust_list) if trust_list.exists() else TrustList()
    added = current.add(None, load_public_key(pub), scope, gate_id=gate_id)
    current.save(trust_list)
    if as_json:
        emit_json({"key_id": added.key_id, "scope": scope, "keys": len(current)})
    else:
        click.echo(f"trusted {added.key_id} ({scope}); {len(current)} keys in {trust_list}")


@keys.command("gate")
@config_option
@click.option("--trust-list", "trust_list", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Also add the key (scope 'gate') to this trust list file.")
@json_option
@friendly_errors
def gate_key(config: Path, trust_list: Path | None, as_json: bool) -> None:
    """This gate's own key, for the platform's trust list: the other gates of the compound
    accept its passages only once the list holds it with scope 'gate' and this gate's id.
    The key is made on the gate's first run (state_dir/keys/gate.key), or here."""
    settings = open_settings(config)
    path = gate_key_path(settings.storage.state_dir)
    key, created = load_or_create_signing_key(path)
    if created:
        _give_to_state_owner(path, settings.storage.state_dir)
    entry = entry_json(TrustedKey(key.key_id, key.public_key, "gate",
                                  gate_id=settings.gate.gate_id))
    if trust_list is not None:
        current = TrustList.load(trust_list) if trust_list.exists() else TrustList()
        current.add(key.key_id, key.public_key, "gate", gate_id=settings.gate.gate_id)
        current.save(trust_list)
    if as_json:
        emit_json({"gate_id": settings.gate.gate_id, "compound_id": settings.gate.compound_id,
                   "key_id": key.key_id, "public_key": entry["public_key"], "path": path,
                   "created": created, "trust_entry": entry})
        return
    click.echo(f"gate {settings.gate.gate_id} key {key.key_id} ({path}"
               f"{', created now' if created else ''})")
    click.echo("trust list entry for the platform (and every gate of the compound):")
    click.echo(json.dumps(entry, ensure_ascii=False))
    if trust_list is not None:
        click.echo(f"added to {trust_list}")


def _give_to_state_owner(path: Path, state_dir: Path) -> None:
    """Run as root, the key goes to whoever owns the state directory (the service's user)."""
    if os.geteuid() != 0:
        return
    owner = state_dir.stat()
    for target in (path.parent, path):
        os.chown(target, owner.st_uid, owner.st_gid)

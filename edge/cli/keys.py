"""`gridgate keys ...`: signing keys and trust lists."""

from __future__ import annotations

from pathlib import Path

import click

from edge.cli.output import emit_json, friendly_errors, json_option
from gate.passes import TrustList, load_public_key, write_key_pair
from gate.passes.keys import PRIVATE_NAME, PUBLIC_NAME


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
@click.option("--scope", type=click.Choice(["all", "visitor", "platform"]), default="all",
              show_default=True, help="'visitor': the key may sign visitor passes only; "
              "'platform': platform documents and commands only, no passes.")
@json_option
@friendly_errors
def trust(pub: Path, trust_list: Path, scope: str, as_json: bool) -> None:
    """Add a public key to a trust list."""
    current = TrustList.load(trust_list) if trust_list.exists() else TrustList()
    added = current.add(None, load_public_key(pub), scope)
    current.save(trust_list)
    if as_json:
        emit_json({"key_id": added.key_id, "scope": scope, "keys": len(current)})
    else:
        click.echo(f"trusted {added.key_id} ({scope}); {len(current)} keys in {trust_list}")

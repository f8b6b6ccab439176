"""`gridgate panel ...`: the guards' web panel (its TLS certificate)."""

from __future__ import annotations

from pathlib import Path

import click

from edge.cli.output import emit_json, friendly_errors, json_option
from edge.cli.state import config_option, open_settings
from edge.panel.errors import PanelError
from edge.panel.server import tls_paths
from edge.panel.tls import check_pair, create_self_signed, default_hosts, fingerprint
from edge.settings.panel import plain_http_allowed


@click.group()
def panel() -> None:
    """The guards' web panel."""


@panel.command("cert")
@config_option
@click.option("--host", "hosts", multiple=True,
              help="Name or address guards type to reach the gate (repeatable); default: "
              "this machine's host name, localhost and loopback.")
@click.option("--days", type=click.IntRange(1, 36500), default=3650, show_default=True)
@click.option("--force", is_flag=True, help="Replace an existing certificate.")
@click.option("--if-missing", is_flag=True,
              help="Keep an existing certificate and succeed (for installers run again).")
@json_option
@friendly_errors
def cert(config: Path, hosts: tuple[str, ...], days: int, force: bool, if_missing: bool,
         as_json: bool) -> None:
    """Create the panel's self-signed TLS certificate (then set panel.tls = true)."""
    with plain_http_allowed():  # a network host without TLS yet is what this command fixes
        settings = open_settings(config)
    cert_path, key_path = tls_paths(settings.panel, settings.storage.state_dir)
    if cert_path.exists() and key_path.exists() and if_missing and not force:
        check_pair(cert_path, key_path)
        result = {"certificate": str(cert_path), "key": str(key_path), "created": False,
                  "sha256": fingerprint(cert_path)}
        if as_json:
            emit_json(result)
        else:
            click.echo(f"kept {cert_path}; SHA-256 fingerprint: {result['sha256']}")
        return
    if cert_path.exists() and not force:
        raise PanelError(f"{cert_path} already exists; add --force to replace it "
                         "(or --if-missing to keep it)")
    names = list(hosts) or default_hosts()
    if settings.panel.host not in ("0.0.0.0", "::") and settings.panel.host not in names:
        names.append(settings.panel.host)
    create_self_signed(cert_path, key_path, hosts=names, days=days)
    result = {"certificate": str(cert_path), "key": str(key_path), "created": True,
              "hosts": names, "sha256": fingerprint(cert_path)}
    if as_json:
        emit_json(result)
    else:
        click.echo(f"wrote {cert_path} and {key_path} for {', '.join(names)}")
        click.echo(f"SHA-256 fingerprint (compare in the browser): {result['sha256']}")

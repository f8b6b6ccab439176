"""`gridgate user ...` and `gridgate panel cert` on a real config and database."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import tomli_w
from click.testing import CliRunner
from cryptography import x509

from edge.cli.panel import panel as panel_group
from edge.cli.user import user
from edge.panel.db import PanelDatabase
from edge.panel.sessions import SessionStore
from edge.panel.users import UserStore
from gate.clock import SystemClock
from gate.store import database_path
from tests.edge.panel.conftest import gate_config


def config_file(root: Path) -> Path:
    path = root / "gridgate.toml"
    path.write_text(tomli_w.dumps(gate_config(root)))
    return path


def test_add_list_passwd_remove(tmp_path: Path) -> None:
    config = str(config_file(tmp_path))
    runner = CliRunner()
    added = runner.invoke(user, ["add", "root", "--role", "admin", "-c", config],
                          input="root password 1\nroot password 1\n")
    assert added.exit_code == 0, added.output
    assert "Password" in added.output and "root password 1" not in added.output  # hidden
    mismatch = runner.invoke(user, ["add", "li", "-c", config],
                             input="guard password 1\nsomething else\nguard password 1\n"
                             "guard password 1\n")
    assert mismatch.exit_code == 0 and "do not match" in mismatch.output.lower()
    piped = runner.invoke(user, ["add", "wang", "--password-stdin", "--json", "-c", config],
                          input="guard password 2\n")
    assert piped.exit_code == 0 and json.loads(piped.output) == {"name": "wang", "role": "guard"}
    weak = runner.invoke(user, ["add", "zhao", "--password-stdin", "-c", config], input="short\n")
    assert weak.exit_code == 2 and "at least 10" in weak.output and "Traceback" not in weak.output
    again = runner.invoke(user, ["add", "WANG", "--password-stdin", "-c", config],
                          input="guard password 2\n")
    assert again.exit_code == 2 and "already exists" in again.output
    listed = json.loads(runner.invoke(user, ["list", "--json", "-c", config]).output)
    assert [(u["name"], u["role"]) for u in listed["users"]] == [
        ("root", "admin"), ("li", "guard"), ("wang", "guard")]
    # passwd on the command line ends the sessions a running panel holds for that user.
    db = PanelDatabase(database_path(tmp_path / "state"))
    store = UserStore(db)
    sessions = SessionStore(db, clock=SystemClock(), lifetime=timedelta(hours=1),
                            idle=timedelta(hours=1))
    token, _ = sessions.create(store.get("wang"))  # type: ignore[arg-type]
    changed = runner.invoke(user, ["passwd", "wang", "--password-stdin", "-c", config],
                            input="guard password 3\n")
    assert changed.exit_code == 0 and sessions.get(token) is None
    assert store.authenticate("wang", "guard password 3") is not None
    last = runner.invoke(user, ["remove", "root", "--yes", "-c", config])
    assert last.exit_code == 2 and "last admin" in last.output
    removed = runner.invoke(user, ["remove", "li", "-c", config], input="y\n")
    assert removed.exit_code == 0 and store.get("li") is None
    missing = runner.invoke(user, ["passwd", "nobody", "--password-stdin", "-c", config],
                            input="whatever pass 1\n")
    assert missing.exit_code == 2 and "no user" in missing.output
    db.close()


def test_bad_config_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(user, ["list", "-c", str(tmp_path / "nope.toml")])
    assert result.exit_code == 2 and "file not found" in result.output


def test_panel_cert_writes_a_certificate_for_the_gate(tmp_path: Path) -> None:
    config = str(config_file(tmp_path))
    runner = CliRunner()
    result = runner.invoke(panel_group, ["cert", "-c", config, "--host", "gate-east.local",
                                         "--host", "192.168.1.20", "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    cert = x509.load_pem_x509_certificate(Path(info["certificate"]).read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "gate-east.local" in names.get_values_for_type(x509.DNSName)
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == [
        "192.168.1.20", "127.0.0.1"]
    assert info["certificate"].endswith("state/panel/tls.crt") and len(info["sha256"]) == 95
    again = runner.invoke(panel_group, ["cert", "-c", config])
    assert again.exit_code == 2 and "--force" in again.output
    kept = runner.invoke(panel_group, ["cert", "-c", config, "--if-missing", "--json"])
    assert kept.exit_code == 0, kept.output
    kept_info = json.loads(kept.output)
    assert kept_info["created"] is False and kept_info["sha256"] == info["sha256"]
    assert info["created"] is True


def test_panel_cert_fixes_a_network_panel_without_tls(tmp_path: Path) -> None:
    """The config error for a network address without TLS says to run `gridgate panel cert`:
    that command works on such a config, and the gate then starts with tls = true."""
    config = gate_config(tmp_path)
    config["panel"] = {"enabled": True, "host": "0.0.0.0"}
    path = tmp_path / "gridgate.toml"
    path.write_text(tomli_w.dumps(config))
    refused = CliRunner().invoke(user, ["list", "-c", str(path)])
    assert refused.exit_code == 2 and "gridgate panel cert" in refused.output
    made = CliRunner().invoke(panel_group, ["cert", "-c", str(path), "--json"])
    assert made.exit_code == 0, made.output
    assert Path(json.loads(made.output)["certificate"]).exists()
    config["panel"]["tls"] = True
    path.write_text(tomli_w.dumps(config))
    assert CliRunner().invoke(user, ["list", "-c", str(path)]).exit_code == 0

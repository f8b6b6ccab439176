"""`gridgate keys` and `gridgate pass`: through click and through the installed console script."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import cv2
from click.testing import CliRunner

from edge.cli.main import cli
from vision.qr import make_decoder

GRIDGATE = Path(sys.executable).parent / "gridgate"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_keys_generate_writes_a_private_key_only_its_owner_can_read(tmp_path: Path) -> None:
    code, out = run("keys", "generate", "--out", str(tmp_path / "k"), "--json")
    assert code == 0
    info = json.loads(out)
    assert len(info["key_id"]) == 16
    assert stat.S_IMODE((tmp_path / "k" / "signing.key").stat().st_mode) == 0o600
    code, out = run("keys", "generate", "--out", str(tmp_path / "k"))
    assert code == 2 and "already exists" in out


def test_issue_then_verify_then_read_the_png(tmp_path: Path) -> None:
    run("keys", "generate", "--out", str(tmp_path / "k"))
    code, out = run("pass", "issue", "--key", str(tmp_path / "k" / "signing.key"),
                    "--person", "p-101", "--colour", "yellow", "--household", "h-1",
                    "--compound", "c-1", "--valid-until", "2099-01-01T00:00:00+08:00",
                    "--png", str(tmp_path / "pass.png"), "--json")
    assert code == 0, out
    issued = json.loads(out)
    assert issued["qr_version"] <= 10 and issued["claims"]["colour"] == "yellow"
    codes = make_decoder("zxing").decode(cv2.imread(str(tmp_path / "pass.png")))
    assert [c.text for c in codes] == [issued["text"]]
    code, out = run("pass", "verify", issued["text"], "--trust",
                    str(tmp_path / "k" / "signing.pub"), "--compound", "c-1", "--json")
    assert code == 0 and json.loads(out)["valid"] is True
    code, out = run("pass", "verify", issued["text"], "--trust",
                    str(tmp_path / "k" / "signing.pub"), "--compound", "c-2", "--json")
    assert code == 1 and json.loads(out)["reason"] == "other_compound"


def test_naive_times_are_refused_with_the_fix(tmp_path: Path) -> None:
    run("keys", "generate", "--out", str(tmp_path / "k"))
    code, out = run("pass", "issue", "--key", str(tmp_path / "k" / "signing.key"),
                    "--person", "p", "--colour", "green", "--household", "h", "--compound", "c",
                    "--valid-until", "2099-01-01T00:00:00", "--png", str(tmp_path / "p.png"))
    assert code == 2 and "+08:00" in out


def test_trust_list_with_a_visitor_scope(tmp_path: Path) -> None:
    run("keys", "generate", "--out", str(tmp_path / "platform"))
    run("keys", "generate", "--out", str(tmp_path / "local"))
    trust = str(tmp_path / "trust.json")
    assert run("keys", "trust", "--pub", str(tmp_path / "platform" / "signing.pub"),
               "--trust-list", trust)[0] == 0
    assert run("keys", "trust", "--pub", str(tmp_path / "local" / "signing.pub"),
               "--trust-list", trust, "--scope", "visitor")[0] == 0
    scopes = sorted(k["scope"] for k in json.loads(Path(trust).read_text())["keys"])
    assert scopes == ["all", "visitor"]


def test_missing_key_file_is_a_clear_error(tmp_path: Path) -> None:
    code, out = run("pass", "issue", "--key", str(tmp_path / "nope.key"), "--person", "p",
                    "--colour", "green", "--household", "h", "--compound", "c",
                    "--valid-until", "2099-01-01T00:00:00Z", "--png", str(tmp_path / "p.png"))
    assert code == 2 and "cannot read key file" in out


def test_the_installed_console_script(tmp_path: Path) -> None:
    done = subprocess.run([str(GRIDGATE), "keys", "generate", "--out", str(tmp_path / "k")],
                          capture_output=True, text=True, timeout=60, check=True)
    assert len(done.stdout.strip()) == 16
    help_text = subprocess.run([str(GRIDGATE), "pass", "issue", "--help"], capture_output=True,
                               text=True, timeout=60, check=True).stdout
    assert "--valid-until" in help_text


def test_issue_a_pass_bound_to_a_holder_key_and_the_link_that_hands_it_over(
        tmp_path: Path) -> None:
    from urllib.parse import unquote

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from gate.passes import TrustList, decode_unverified, verify_pass
    from gate.passes.live import encode_live, holder_key_text, public_raw
    from gate.passes.trust import Revocations

    run("keys", "generate", "--out", str(tmp_path / "k"))
    holder = Ed25519PrivateKey.generate()
    key_text = holder_key_text(public_raw(holder))
    code, out = run("pass", "issue", "--key", str(tmp_path / "k" / "signing.key"),
                    "--person", "p-101", "--colour", "green", "--household", "h-1",
                    "--compound", "c-1", "--valid-until", "2099-01-01T00:00:00+08:00",
                    "--holder-key", key_text, "--page-url", "https://gate.example/holder/",
                    "--png", str(tmp_path / "link.png"), "--json")
    assert code == 0, out
    issued = json.loads(out)
    assert issued["claims"]["holder_key"] == key_text
    assert decode_unverified(issued["text"])[1].holder_key == public_raw(holder)
    link = issued["link"]
    assert link.startswith("https://gate.example/holder/#pass=")
    assert unquote(link.split("#pass=", 1)[1]) == issued["text"]
    codes = make_decoder("zxing").decode(cv2.imread(str(tmp_path / "link.png")))
    assert [c.text for c in codes] == [link]  # the phone's camera opens the page with the pass
    # At the gate the pass alone is a copy; its live code opens.
    trust = TrustList.load(tmp_path / "k" / "signing.pub")
    now = datetime.now(UTC)
    assert verify_pass(issued["text"], trust, Revocations(), "c-1", now).reason.value \
        == "bad_proof"
    assert verify_pass(encode_live(issued["text"], holder, now), trust, Revocations(), "c-1",
                       now).valid
    code, out = run("pass", "verify", issued["text"], "--trust",
                    str(tmp_path / "k" / "signing.pub"), "--compound", "c-1", "--json")
    assert code == 1 and json.loads(out)["reason"] == "bad_proof"


def test_a_holder_key_that_is_not_one_is_refused_with_the_form(tmp_path: Path) -> None:
    run("keys", "generate", "--out", str(tmp_path / "k"))
    base = ["pass", "issue", "--key", str(tmp_path / "k" / "signing.key"), "--person", "p",
            "--colour", "green", "--household", "h", "--compound", "c",
            "--valid-until", "2099-01-01T00:00:00Z"]
    code, out = run(*base, "--holder-key", "not-a-key")
    assert code == 2 and "43 characters" in out
    code, out = run(*base, "--page-url", "https://gate.example/holder/")
    assert code == 2 and "--holder-key" in out


def test_pass_page_writes_the_holder_page_with_its_licence(tmp_path: Path) -> None:
    code, out = run("pass", "page", "--out", str(tmp_path / "holder"), "--json")
    assert code == 0, out
    written = json.loads(out)
    assert written["files"] == ["index.html", "holder.js", "holder.css", "qrcodegen.js",
                                "qrcodegen.LICENSE.txt"]
    page = (tmp_path / "holder" / "index.html").read_text(encoding="utf-8")
    assert "Content-Security-Policy" in page and "script-src 'self'" in page
    assert "<script>" not in page and "http://" not in page and "https://" not in page
    assert "MIT" in (tmp_path / "holder" / "qrcodegen.LICENSE.txt").read_text()
    for name in ("holder.js", "qrcodegen.js"):
        script = (tmp_path / "holder" / name).read_text(encoding="utf-8")
        assert "fetch(" not in script and "XMLHttpRequest" not in script, name

"""`gridgate display prompts` (real espeak-ng, WAV files read back) and `gridgate display urls`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import wave
from pathlib import Path

import pytest
import tomli_w
from click.testing import CliRunner

from edge.cli.main import cli
from edge.display.prompts import PROMPTS, file_name
from tests.edge.panel.conftest import gate_config

ESPEAK = shutil.which("espeak-ng")
needs_espeak = pytest.mark.skipif(ESPEAK is None, reason="espeak-ng is absent; install "
                                  "Debian's espeak-ng package to make the spoken prompts")


@needs_espeak
def test_prompts_are_real_sounds_and_a_second_run_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "prompts"
    result = CliRunner().invoke(cli, ["display", "prompts", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert sorted(report["prompts"]) == sorted(PROMPTS)
    assert len(report["written"]) == 2 * len(PROMPTS)
    for key in PROMPTS:
        for language in ("zh", "en"):
            with wave.open(str(out / file_name(key, language))) as sound:
                seconds = sound.getnframes() / sound.getframerate()
                assert 0.3 < seconds < 6, (key, language, seconds)  # short, and not silence
    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    again = CliRunner().invoke(cli, ["display", "prompts", "--out", str(out)])
    assert again.exit_code == 0 and "(0 files written)" in again.output
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamps
    # What install.sh runs: the standard-library entry point, printing the count.
    done = subprocess.run([sys.executable, "-m", "edge.display.prompts", "--out", str(out)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "0"


def test_without_espeak_the_error_says_what_to_install(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    done = subprocess.run([sys.executable, "-m", "edge.cli.main", "display", "prompts", "--out",
                           str(tmp_path / "p")], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PATH": str(empty)})
    assert done.returncode == 2
    assert "espeak-ng is not installed: apt-get install espeak-ng" in done.stderr
    assert "Traceback" not in done.stderr


def test_urls_lists_each_screen_with_its_kiosk_command(tmp_path: Path) -> None:
    config = gate_config(tmp_path)
    config["display"] = {"screens": [{"reader_id": "in-cam", "port": 8091},
                                     {"reader_id": "out-cam", "host": "::1", "port": 8092}]}
    path = tmp_path / "gridgate.toml"
    path.write_text(tomli_w.dumps(config))
    result = CliRunner().invoke(cli, ["display", "urls", "-c", str(path), "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)["screens"]
    assert [r["url"] for r in rows] == ["http://127.0.0.1:8091/", "http://[::1]:8092/"]
    assert "--autoplay-policy=no-user-gesture-required" in rows[0]["kiosk"]
    plain = CliRunner().invoke(cli, ["display", "urls", "-c", str(path)])
    assert "in-cam: http://127.0.0.1:8091/" in plain.output

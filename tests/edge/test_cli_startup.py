"""The journal's read-only commands start fast: they import no camera, face, web or MQTT code
and not sqlite-utils (`gridgate bench journal` reports start to first byte)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("cv2", "numpy", "dlib", "face_recognition", "fastapi", "starlette", "paho",
         "sqlite_utils", "segno", "cryptography")
PROBE = """
import json, sys
from click.testing import CliRunner
from edge.cli.main import cli
result = CliRunner().invoke(cli, sys.argv[1:])
print(json.dumps({"code": result.exit_code, "output": result.output,
                  "modules": sorted(sys.modules)}))
"""


@pytest.mark.parametrize("command", [["who-is-out"], ["trajectory", "p-1"],
                                     ["passages", "--from", "2026-03-01T00:00"],
                                     ["contacts", "p-1"]])
def test_reading_the_journal_imports_nothing_heavy(tmp_path: Path, command: list[str]) -> None:
    (tmp_path / "trust.json").write_text("{}")
    config = tmp_path / "gate.toml"
    config.write_text(f'[gate]\ngate_id = "gate-east"\ncompound_id = "c1"\n[[readers]]\n'
                      f'reader_id = "in-cam"\ndirection = "in"\ncamera = "0"\nrelay_pin = 17\n'
                      f'[storage]\nstate_dir = "{tmp_path / "state"}"\n[passes]\n'
                      f'trust_list = "{tmp_path / "trust.json"}"\n')
    for _ in range(2):  # the first run creates the journal (and may import more to do so)
        done = subprocess.run([sys.executable, "-c", PROBE, *command, "-c", str(config)],
                              capture_output=True, text=True, timeout=60, check=True)
    result = json.loads(done.stdout)
    assert result["code"] == 0, result["output"]
    loaded = {m.split(".")[0] for m in result["modules"]}
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))

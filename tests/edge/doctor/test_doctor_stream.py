"""`gridgate doctor` as the installer sees it: each result printed when its check finishes,
and what comes next said before it takes time ("push the door when it clicks")."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from tests.edge.installer.support import gate_config, write_config


def test_doctor_streams_its_findings_and_says_what_it_does(tmp_path: Path) -> None:
    config = gate_config(tmp_path, door={"open_seconds": 0.2, "door_contact_pin": 22})
    path = write_config(tmp_path, config)
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "edge.cli.main", "doctor", "--config", str(path), "--mock-gpio",
         "--pulse-seconds", "1.5", "--camera-seconds", "1.5", "--skip", "system"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    lines: list[tuple[float, str]] = []
    for line in process.stdout:
        lines.append((time.monotonic() - started, line.rstrip("\n")))
    process.wait(60)
    ended = time.monotonic() - started
    text = "\n".join(line for _, line in lines)
    print(text)
    at = {line.split()[1] if line.startswith(("ok", "WARN", "FAIL")) else line: t
          for t, line in lines}
    # The config's result is out long before the relay pulse and the camera are done.
    assert ended - at["config.valid"] > 2.0, (at, ended)
    notice = next(i for i, (_, line) in enumerate(lines) if "pulsing the door relay on GPIO 17"
                  in line)
    assert "push the door when it clicks" in lines[notice][1]
    relay = next(i for i, (_, line) in enumerate(lines) if line.split()[1:2] == ["relay.17"])
    assert notice < relay, "said before the pulse, not after"
    assert any("reading camera" in line for _, line in lines)
    assert "warning(s)" in lines[-1][1]

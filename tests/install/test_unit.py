"""systemd/gridgate.service: supervised (notify + watchdog), restarted, hardened, and verified."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "systemd" / "gridgate.service"


def directives() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def test_unit_supervises_restarts_and_hardens() -> None:
    d = directives()
    assert d["Type"] == ["notify"] and d["NotifyAccess"] == ["main"]
    assert int(d["WatchdogSec"][0]) > 0
    assert d["Restart"] == ["always"] and d["StartLimitIntervalSec"] == ["0"]
    assert d["ExecStart"] == ["/opt/gridgate/bin/gridgate run --config /etc/gridgate/gridgate.toml"]
    assert d["User"] == ["gridgate"] and set(d["SupplementaryGroups"][0].split()) == {"gpio",
                                                                                       "video"}
    assert d["ProtectSystem"] == ["strict"] and d["NoNewPrivileges"] == ["true"]
    assert d["ReadWritePaths"] == ["/var/lib/gridgate"], "state is the only writable path"
    assert d["StateDirectory"] == ["gridgate"]  # sets $STATE_DIRECTORY for the last good config
    assert d["CapabilityBoundingSet"] == [""]
    assert "StandardOutput" not in d, "logs go to the journal (the default)"


def _bytes(size: str) -> int:
    units = {"K": 1024, "M": 1024**2, "G": 1024**3}
    return int(size[:-1]) * units[size[-1]] if size[-1] in units else int(size)


def test_memory_is_capped_below_what_a_2_gb_pi_needs_for_itself() -> None:
    # The panel runs in the gate's process: whatever gets past its bounds costs a restart of
    # the service, never the board (docs/panel.md).
    d = directives()
    high, limit = _bytes(d["MemoryHigh"][0]), _bytes(d["MemoryMax"][0])
    assert 600 * 1024**2 <= high < limit <= 1024**3, (high, limit)


def _unit_for_verify(tmp_path: Path) -> Path:
    # verify insists that ExecStart exists; point it at a stand-in executable in tmp_path.
    program = tmp_path / "opt/gridgate/bin/gridgate"
    program.parent.mkdir(parents=True)
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    unit = tmp_path / "gridgate.service"
    unit.write_text(UNIT.read_text().replace("ExecStart=/opt/gridgate/bin/gridgate",
                                             f"ExecStart={program}"))
    return unit


def test_systemd_analyze_verify(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not available on this machine")
    unit = _unit_for_verify(tmp_path)
    done = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                          text=True, cwd=tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    # Unknown or misspelt directives are only warnings; none may appear.
    assert "gridgate.service" not in output, output


def test_security_exposure_is_low(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not available on this machine")
    unit = _unit_for_verify(tmp_path)
    done = subprocess.run(["systemd-analyze", "security", "--offline=true", str(unit)],
                          capture_output=True, text=True, cwd=tmp_path)
    match = re.search(r"Overall exposure level for gridgate.service: ([\d.]+)", done.stdout)
    if done.returncode != 0 and match is None:
        pytest.skip(f"systemd-analyze security --offline is not supported here: {done.stderr}")
    assert match is not None, done.stdout
    assert float(match.group(1)) <= 2.0, done.stdout

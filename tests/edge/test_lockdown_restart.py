"""`gridgate run` as the real process: a guard locks the door down, the process is killed
(SIGKILL, as a watchdog restart finds it), and the gate comes back still in lockdown; a pass
shown then is denied with the lockdown rule, recorded as denied, and who-is-out is unchanged."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

import cv2
import httpx
import tomli_w

from tests.edge.panel.conftest import ADMIN_PASSWORD, CSRF_META
from tests.edge.test_run_process import _frame_with
from tests.fixtures.broker import free_port

ROOT = Path(__file__).resolve().parents[2]
COMPOUND = "wenjiang-01"


def camera(root: Path, name: str, text: str) -> Path:
    """A camera folder showing one pass, then an empty scene (replayed in a loop)."""
    folder = root / name
    folder.mkdir()
    cv2.imwrite(str(folder / "000a.png"), _frame_with(text))
    cv2.imwrite(str(folder / "000b.png"), _frame_with(None))
    return folder


def gridgate(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge.cli.main", *args], cwd=ROOT, input=stdin,
                          capture_output=True, text=True, timeout=60)


def start(config: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "edge.cli.main", "run", "--mock-gpio", "--json", "-c",
         str(config)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})


def next_decision(process: subprocess.Popen[str]) -> dict[str, Any]:
    stdout: IO[str] | None = process.stdout
    assert stdout is not None
    line = stdout.readline()  # the process prints one JSON line per decision
    assert line, f"the gate ended without a decision (exit {process.poll()})"
    return dict(json.loads(line))


def admin(base: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=10)
    page = client.get("/login")
    token = CSRF_META.search(page.text).group(1)  # type: ignore[union-attr]
    done = client.post("/login", data={"name": "root", "password": ADMIN_PASSWORD,
                                       "csrf_token": token})
    assert done.status_code == 303, done.text[:300]
    client.headers["X-CSRF-Token"] = client.get("/api/me").json()["csrf_token"]
    return client


def who_is_out(config: Path) -> list[str]:
    done = gridgate("who-is-out", "--json", "-c", str(config))
    assert done.returncode == 0, done.stderr
    return [row["person_id"] for row in json.loads(done.stdout)["out"]]


def test_a_lockdown_survives_a_kill_and_a_pass_is_then_denied_with_its_rule(
        tmp_path: Path) -> None:
    from tests.edge.display.support import pass_text
    from tests.edge.panel.conftest import gate_config

    config = gate_config(tmp_path)  # keys, trust list, state dir
    port = free_port()
    out_reader = {**config["readers"][1], "camera": str(camera(
        tmp_path, "first", pass_text(tmp_path, person="p-0", pass_id="pass-0"))),
        "loop": True, "fps": 10}
    config.update(readers=[out_reader], vision={"repeat_seconds": 600},
                  panel={"enabled": True, "port": port})
    path = tmp_path / "gridgate.toml"
    path.write_text(tomli_w.dumps(config))
    made = gridgate("user", "add", "root", "--role", "admin", "--password-stdin", "-c",
                    str(path), stdin=ADMIN_PASSWORD + "\n")
    assert made.returncode == 0, made.stderr

    first = start(path)
    try:
        decision = next_decision(first)
        assert (decision["person"], decision["granted"], decision["rule"]) == (
            "p-0", True, "green.out")
        guard = admin(f"http://127.0.0.1:{port}")
        locked = guard.post("/api/doors/out-cam/mode",
                            json={"mode": "lockdown", "reason": "fight at the gate"})
        guard.close()
        assert locked.status_code == 200 and locked.json()["mode"] == "lockdown"
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    out_before = who_is_out(path)
    assert out_before == ["p-0"]

    # The restarted gate sees another resident's good pass.
    out_reader["camera"] = str(camera(tmp_path, "second",
                                      pass_text(tmp_path, person="p-1", pass_id="pass-1")))
    path.write_text(tomli_w.dumps(config))
    second = start(path)
    try:
        decision = next_decision(second)
        assert (decision["person"], decision["granted"], decision["rule"]) == (
            "p-1", False, "gate.lockdown")
        assert decision["reason_zh"] == "门禁已封锁" and decision["reason_en"] == "Gate in lockdown"
        guard = admin(f"http://127.0.0.1:{port}")
        [door] = guard.get("/api/doors").json()
        guard.close()
        assert door["mode"] == "lockdown"
        assert who_is_out(path) == out_before
        second.send_signal(signal.SIGTERM)
        assert second.wait(20) == 0
    finally:
        if second.poll() is None:
            second.kill()
            second.wait()
    with sqlite3.connect(tmp_path / "state" / "gridgate.db") as db:
        passages = db.execute("SELECT person_id, granted, rule FROM passages").fetchall()
        events = db.execute("SELECT kind, detail FROM door_events ORDER BY id").fetchall()
    assert ("p-1", 0, "gate.lockdown") in passages and ("p-0", 1, "green.out") in passages
    restored = events.index(("mode", "lockdown; restored after a restart"))
    assert "released" not in [kind for kind, _ in events[restored:]], "the relay stayed locked"

"""Request bodies against a real uvicorn server: refused before they are read (no login, too
large), counted when streamed, and a flood of them leaves the doors deciding.

The server runs in this process (a thread), so this process's RSS is the gate's: every test
sends at most a bounded number of bytes and watches RSS while it sends.
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import count, repeat
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest

from edge.app import GateApp
from edge.panel.app import anonymous_paths
from edge.panel.server import PanelServer, start_panel
from edge.settings.panel import PanelSettings
from tests.edge.panel.conftest import ADMIN_PASSWORD, PASSWORD, Panel, fast_hasher
from tests.edge.panel.rawhttp import FORM, GARBAGE, HUGE, MB, Pushed, chunked, request_head
from tests.edge.panel.rawhttp import push as raw_push
from tests.edge.panel.test_server import login, pass_frame
from vision.facts import Frame

REPO = Path(__file__).resolve().parents[3]
PAGE = os.sysconf("SC_PAGE_SIZE")
BUDGET = 64 * MB  # the most any one request of these tests sends
FORM_FIELD_BYTES = 1024 * 1024  # starlette's form parser refuses a larger field


def rss() -> int:
    """Resident memory of this process (the gate and its panel) in bytes."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


def settled_rss() -> int:
    """RSS once what earlier tests freed is handed back to the system (else new allocations
    reuse it and growth does not show)."""
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    return rss()


def push(port: int, head: bytes, body: Iterator[bytes]) -> Pushed:
    """One request from this process, RSS sampled while it sends."""
    return raw_push(port, head, body, budget=BUDGET, timeout=10.0, sample=rss)


@pytest.fixture
def served(gate: GateApp, tmp_path: Path) -> Iterator[PanelServer]:
    config = tmp_path / "gridgate.toml"
    config.chmod(0o640)
    server = start_panel(gate, PanelSettings(port=0), hasher=fast_hasher(),
                         config_path=config, announce=lambda text: None)
    server.services.users.add("root", "admin", ADMIN_PASSWORD)
    server.services.users.add("guard1", "guard", PASSWORD)
    yield server
    server.stop()


@dataclass
class Guard:
    client: httpx.Client
    cookie: str
    csrf: str


def logged_in(server: PanelServer, name: str = "guard1", password: str = PASSWORD) -> Guard:
    client = httpx.Client(base_url=server.url, timeout=20, follow_redirects=False)
    csrf = login(client, name, password)
    return Guard(client, client.cookies["gridgate_session"], csrf)


def test_anonymous_bodies_are_refused_before_they_are_read(served: PanelServer) -> None:
    before = settled_rss()
    declared = push(served.port, request_head("/api/doors/in-cam/open", length=HUGE),
                    repeat(GARBAGE))
    endless = push(served.port, request_head("/api/doors/in-cam/open"), chunked(GARBAGE))
    page = push(served.port, request_head(
        "/door/in-cam/open", content_type=FORM),
        chunked(b"reason=" + b"x" * 250_000))
    # The anonymous login form is read, but only up to the largest legitimate form.
    form = push(served.port, request_head(
        "/login", content_type=FORM),
        chunked(b"password=" + b"x" * 250_000))
    pushed = (declared, endless, page, form)
    growth = max(p.peak for p in pushed) - before
    print(f"\nanonymous: RSS {before / MB:.1f} MB before, peak +{growth / MB:.1f} MB; sent "
          f"{[round(p.sent / MB, 1) for p in pushed]} MB; statuses {[p.status for p in pushed]}")
    assert growth < 16 * MB, f"RSS grew {growth / MB:.0f} MB"
    assert declared.status == 413, declared
    assert "connection: close" in declared.head.lower()
    assert endless.status == 401, endless
    assert page.status == 303 and "location: /login?next=/" in page.head.lower(), page
    assert form.status == 413, form
    assert all(p.sent < BUDGET for p in pushed)
    assert served.thread.is_alive()


def test_a_guard_gets_413_for_oversize_bodies(served: PanelServer) -> None:
    guard = logged_in(served)
    before = settled_rss()
    declared = push(served.port, request_head("/api/doors/in-cam/open", length=HUGE,
                                              cookie=guard.cookie, csrf=guard.csrf),
                    repeat(GARBAGE))
    endless = push(served.port, request_head("/api/doors/in-cam/open", cookie=guard.cookie,
                                             csrf=guard.csrf), chunked(GARBAGE))
    growth = max(declared.peak, endless.peak) - before
    print(f"\nguard: RSS {before / MB:.1f} MB before, peak +{growth / MB:.1f} MB; sent "
          f"{declared.sent / MB:.1f} and {endless.sent / MB:.1f} MB; statuses "
          f"{declared.status}, {endless.status}")
    assert growth < 16 * MB, f"RSS grew {growth / MB:.0f} MB"
    assert declared.status == 413 and endless.status == 413, (declared, endless)
    # Through an ordinary client too: a 20 KB JSON body is no reason for a door.
    response = guard.client.post("/api/doors/in-cam/open", json={"reason": "x" * 20_000},
                                 headers={"X-CSRF-Token": guard.csrf})
    assert response.status_code == 413 and "too large" in response.json()["detail"]
    # A guard may not send an admin-sized settings form either.
    response = guard.client.post("/settings", data={"text": "# " + "x" * 200_000,
                                                    "csrf_token": guard.csrf})
    assert response.status_code == 413
    # No route takes files: multipart is refused before it is parsed.
    response = guard.client.post("/door/in-cam/open", data={"reason": "delivery"},
                                 files={"f": b"x"}, headers={"X-CSRF-Token": guard.csrf})
    assert response.status_code == 415


def test_only_login_setup_and_language_read_a_body_before_login(panel: Panel) -> None:
    assert anonymous_paths(panel.app) == {"/login", "/setup", "/language"}


def test_legitimate_requests_still_work(served: PanelServer, tmp_path: Path) -> None:
    guard = logged_in(served)
    opened = guard.client.post("/api/doors/in-cam/open", json={"reason": "parcel"},
                               headers={"X-CSRF-Token": guard.csrf})
    assert opened.status_code == 200 and opened.json()["released"], opened.text
    admin = logged_in(served, "root", ADMIN_PASSWORD)
    config = tmp_path / "gridgate.toml"
    real = config.read_text()
    saved = admin.client.post("/settings", data={"text": real + "\n# saved by form\n",
                                                 "csrf_token": admin.csrf})
    assert saved.status_code == 303, saved.text[:500]
    assert config.read_text().endswith("# saved by form\n")
    saved = admin.client.post("/api/settings", json={"text": real + "\n# saved by API\n"},
                              headers={"X-CSRF-Token": admin.csrf})
    assert saved.status_code == 200 and saved.json()["valid"], saved.text[:500]
    # The largest legitimate form: the settings page's text field as large as the form parser
    # takes a field (1 MiB once form-encoded), here in Chinese comments (9 bytes a character).
    encoded = len(urlencode({"text": real}))
    big = real + "# " + "门" * ((FORM_FIELD_BYTES - encoded - 1000) // 9) + "\n"
    body = urlencode({"text": big, "csrf_token": admin.csrf})
    assert FORM_FIELD_BYTES - 2000 < len(body) < FORM_FIELD_BYTES
    saved = admin.client.post("/settings", content=body, headers={
        "content-type": "application/x-www-form-urlencoded"})
    assert saved.status_code == 303, saved.text[:500]
    assert config.read_text(encoding="utf-8") == big
    saved = admin.client.post("/api/settings", json={"text": big + "# and by API\n"},
                              headers={"X-CSRF-Token": admin.csrf})
    assert saved.status_code == 200, saved.text[:500]
    # Logging in and out still read their small forms.
    out = guard.client.post("/logout", data={"csrf_token": guard.csrf})
    assert out.status_code == 303


FLOOD_CLIENTS = 8
FLOOD_SECONDS = 4.0


@pytest.mark.slow
def test_a_flood_of_bodies_leaves_the_doors_deciding(served: PanelServer, gate: GateApp,
                                                     tmp_path: Path) -> None:
    guard = logged_in(served)
    frames = (pass_frame(gate, tmp_path, seq=seq) for seq in count(1))  # made between passes
    decided: list[int] = []
    peak = [0]

    def decide_for(seconds: float) -> list[float]:
        times, end = [], time.monotonic() + seconds
        while time.monotonic() < end:
            frame = next(frames)
            frame = Frame(frame.image, seq=frame.seq, arrived=time.monotonic())
            started = time.perf_counter()
            outcomes = gate.pipelines["in-cam"].process(frame)
            times.append(time.perf_counter() - started)
            assert len(outcomes) == 1, outcomes
            decided.append(frame.seq)
            peak[0] = max(peak[0], rss())
            time.sleep(0.02)  # a camera gives a few passes a second at most
        return times

    quiet = decide_for(2.0)
    before = settled_rss()
    # The flood comes from another process: only the panel's own work falls on the gate.
    flooder = subprocess.Popen(
        [sys.executable, "-m", "tests.edge.panel.rawhttp", str(served.port),
         str(FLOOD_SECONDS), str(FLOOD_CLIENTS), guard.cookie, guard.csrf],
        cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5)  # its interpreter starting
        loud = decide_for(FLOOD_SECONDS - 0.5)
        out, _ = flooder.communicate(timeout=30)
    finally:
        flooder.kill()
    results = json.loads(out)
    q50, q95 = statistics.median(quiet), sorted(quiet)[int(len(quiet) * 0.95)]
    l50, l95 = statistics.median(loud), sorted(loud)[int(len(loud) * 0.95)]
    statuses = sorted({status for status, _ in results}, key=str)
    print(f"\nflood: {len(results)} requests by {FLOOD_CLIENTS} clients in {FLOOD_SECONDS} s, "
          f"{sum(sent for _, sent in results) / MB:.0f} MB sent, statuses {statuses}; RSS "
          f"{before / MB:.0f} MB -> peak {peak[0] / MB:.0f} MB; decision latency quiet "
          f"median {q50 * 1000:.1f} ms p95 {q95 * 1000:.1f} ms max {max(quiet) * 1000:.1f} ms"
          f" ({len(quiet)}), under flood median {l50 * 1000:.1f} ms p95 {l95 * 1000:.1f} ms "
          f"max {max(loud) * 1000:.1f} ms ({len(loud)})")
    assert peak[0] - before < 32 * MB, f"RSS grew {(peak[0] - before) / MB:.0f} MB"
    refused = [status for status, _ in results if status not in (401, 303, 413)]
    assert not refused, f"{len(refused)} requests not refused at once: {refused[:10]}"
    assert len(results) >= FLOOD_CLIENTS * 3
    # Decisions keep their pace: none lost, none slower than a few camera frames.
    assert max(loud) < 0.5 and l95 < max(4 * q95, q95 + 0.1), (q95, l95, max(loud))
    rows = gate.db.execute("SELECT COUNT(*) FROM passages WHERE actor IS NULL").fetchone()[0]
    assert rows == len(decided) == len(quiet) + len(loud)
    assert served.thread.is_alive()
    assert guard.client.get("/api/me").status_code == 200  # the panel still serves

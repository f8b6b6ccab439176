"""The one-time setup token lives in a file only gridgate's account can read, never in the log,
and only for a limited time (real uvicorn server, real SQLite)."""

from __future__ import annotations

import stat
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx

from edge.app import GateApp
from edge.panel.server import start_panel
from edge.settings.panel import PanelSettings
from gate.clock import ManualClock
from tests.edge.panel.conftest import ADMIN_PASSWORD, CSRF_META, fast_hasher


def token_file(gate: GateApp) -> Path:
    return gate.settings.storage.state_dir / "panel" / "setup-token"


def create_admin(client: httpx.Client, token: str) -> httpx.Response:
    csrf = CSRF_META.search(client.get("/setup").text)
    return client.post("/setup", data={
        "token": token, "name": "root", "password": ADMIN_PASSWORD,
        "password2": ADMIN_PASSWORD, "csrf_token": csrf.group(1) if csrf else ""})


def test_the_token_goes_to_a_private_file_and_only_its_path_is_printed(gate: GateApp) -> None:
    said: list[str] = []
    server = start_panel(gate, PanelSettings(port=0), hasher=fast_hasher(), announce=said.append)
    try:
        path = token_file(gate)
        assert path.exists(), said
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        token = path.read_text().strip()
        assert len(token) >= 24
        assert len(said) == 1 and token not in said[0]  # the journal never sees the token
        assert str(path) in said[0] and f"{server.url}/setup" in said[0]
        assert "60 minutes" in said[0]
        with httpx.Client(base_url=server.url) as client:
            assert create_admin(client, "not the token").status_code == 401
            assert path.exists()
            created = create_admin(client, token)
            assert created.status_code == 303 and created.headers["location"] == "/users"
            me = client.get("/api/me").json()
            assert me["name"] == "root" and me["role"] == "admin"
        assert not path.exists(), "a used token leaves no file behind"
    finally:
        server.stop()


def test_the_token_expires_and_its_file_goes(gate: GateApp) -> None:
    clock = ManualClock(datetime(2026, 2, 14, 2, 0, tzinfo=UTC))
    server = start_panel(gate, PanelSettings(port=0, setup_token_minutes=30), clock=clock,
                         hasher=fast_hasher(), announce=lambda text: None)
    try:
        path = token_file(gate)
        token = path.read_text().strip()
        with httpx.Client(base_url=server.url) as client:
            page = client.get("/setup")
            assert page.status_code == 200
            csrf = CSRF_META.search(page.text).group(1)  # type: ignore[union-attr]
            clock.advance(30 * 60 + 1)
            assert client.get("/setup").headers["location"] == "/login"
            assert not path.exists()
            refused = client.post("/setup", data={
                "token": token, "name": "root", "password": ADMIN_PASSWORD,
                "password2": ADMIN_PASSWORD, "csrf_token": csrf})
            assert refused.status_code == 303 and refused.headers["location"] == "/login"
        assert not server.services.users.has_admin()
    finally:
        server.stop()


def test_an_unused_file_is_deleted_at_expiry_without_any_request(gate: GateApp) -> None:
    server = start_panel(gate, PanelSettings(port=0, setup_token_minutes=0.02),
                         hasher=fast_hasher(), announce=lambda text: None)
    try:
        path = token_file(gate)
        assert path.exists()
        deadline = time.monotonic() + 5
        while path.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not path.exists(), "the expired token's file was left behind"
        assert not server.services.setup.active
    finally:
        server.stop()


def test_no_file_when_an_admin_exists_and_none_left_after_stop(gate: GateApp) -> None:
    path = token_file(gate)
    server = start_panel(gate, PanelSettings(port=0), hasher=fast_hasher(),
                         announce=lambda text: None)
    assert path.exists()
    server.stop()
    assert not path.exists(), "a stopped panel forgets its token, so its file goes too"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("stale token of a crashed run\n")
    said: list[str] = []
    server = start_panel(gate, PanelSettings(port=0), hasher=fast_hasher(), announce=said.append)
    try:
        server.services.users.add("root", "admin", ADMIN_PASSWORD)
        server.stop()
        server = start_panel(gate, PanelSettings(port=0), hasher=fast_hasher(),
                             announce=said.append)
        assert len(said) == 1 and not path.exists()
    finally:
        server.stop()


def test_an_admin_made_with_the_cli_spends_the_waiting_token(gate: GateApp) -> None:
    server = start_panel(gate, PanelSettings(port=0), hasher=fast_hasher(),
                         announce=lambda text: None)
    try:
        path = token_file(gate)
        assert path.exists()
        server.services.users.add("root", "admin", ADMIN_PASSWORD)  # as `gridgate user add`
        with httpx.Client(base_url=server.url) as client:
            assert client.get("/setup").headers["location"] == "/login"
        assert not path.exists() and not server.services.setup.active
    finally:
        server.stop()


def test_parallel_requests_with_the_token_create_one_admin(gate: GateApp) -> None:
    server = start_panel(gate, PanelSettings(port=0), hasher=fast_hasher(),
                         announce=lambda _: None)
    try:
        token = token_file(gate).read_text().strip()
        clients = [httpx.Client(base_url=server.url) for _ in range(6)]
        forms = []
        for i, client in enumerate(clients):
            csrf = CSRF_META.search(client.get("/setup").text)
            forms.append({"token": token, "name": f"root{i}", "password": ADMIN_PASSWORD,
                          "password2": ADMIN_PASSWORD,
                          "csrf_token": csrf.group(1) if csrf else ""})
        with ThreadPoolExecutor(len(clients)) as pool:
            answers = list(pool.map(lambda cf: cf[0].post("/setup", data=cf[1]),
                                    zip(clients, forms, strict=True)))
        for client in clients:
            client.close()
        assert sum(a.headers.get("location") == "/users" for a in answers) == 1
        admins = [u for u in server.services.users.list() if u.role.value == "admin"]
        assert len(admins) == 1
    finally:
        server.stop()

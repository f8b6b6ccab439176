"""Guessing a guard's password from rotating addresses, against a real uvicorn server: the
addresses that failed are locked out, the guard still signs in from elsewhere, the admins get
one alert per lockout, and the guessing stays as slow as the lockout allows.

Loopback is a whole /8: each client binds its own 127.x.y.z, so the panel sees as many
addresses as the test wants.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from edge.app import GateApp
from edge.panel.server import PanelServer, start_panel
from edge.settings.panel import PanelSettings
from gate.clock import ManualClock
from tests.edge.panel.conftest import ADMIN_PASSWORD, CSRF_META, PASSWORD
from tests.edge.panel.test_login_race import CountingHasher


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime.now(UTC))


@pytest.fixture
def served(gate: GateApp, clock: ManualClock) -> Iterator[tuple[PanelServer, CountingHasher]]:
    hasher = CountingHasher()
    server = start_panel(gate, PanelSettings(port=0), hasher=hasher, clock=clock,
                         announce=lambda text: None)
    server.services.users.add("root", "admin", ADMIN_PASSWORD)
    server.services.users.add("guard1", "guard", PASSWORD)
    yield server, hasher
    server.stop()


def client_at(server: PanelServer, address: str) -> httpx.Client:
    """A browser on another machine: its connections come from `address`."""
    return httpx.Client(base_url=server.url, timeout=30, follow_redirects=False,
                        transport=httpx.HTTPTransport(local_address=address))


def form(client: httpx.Client, name: str, password: str) -> dict[str, str]:
    csrf = CSRF_META.search(client.get("/login").text).group(1)  # type: ignore[union-attr]
    return {"name": name, "password": password, "csrf_token": csrf}


def login_page(server: PanelServer, address: str, name: str, password: str) -> httpx.Response:
    with client_at(server, address) as client:
        return client.post("/login", data=form(client, name, password))


def try_login(server: PanelServer, address: str, name: str, password: str) -> int:
    return login_page(server, address, name, password).status_code


def burst(server: PanelServer, addresses: list[str], name: str, password: str) -> list[int]:
    """One login from each address, all at the same moment."""
    clients = [client_at(server, address) for address in addresses]
    forms = [form(client, name, password) for client in clients]
    start = threading.Barrier(len(clients))
    statuses = [0] * len(clients)

    def attempt(i: int) -> None:
        start.wait()
        statuses[i] = clients[i].post("/login", data=forms[i]).status_code

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for client in clients:
        client.close()
    return statuses


def guessing_alerts(gate: GateApp) -> list[dict[str, Any]]:
    cursor = gate.db.execute("SELECT * FROM alerts WHERE kind = 'login_guessing' ORDER BY id")
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def lock_out(server: PanelServer, prefix: str, name: str = "guard1") -> list[int]:
    """Five wrong passwords, each from its own address <prefix>.1 .. <prefix>.5."""
    return [try_login(server, f"{prefix}.{i}", name, f"wrong guess {i}") for i in range(1, 6)]


def test_rotating_addresses_lock_the_account_only_for_themselves(
        served: tuple[PanelServer, CountingHasher], gate: GateApp) -> None:
    server, hasher = served
    assert lock_out(server, "127.0.1") == [401, 401, 401, 401, 429]
    checked = hasher.verified
    for i in range(1, 6):  # the addresses that guessed are locked out, right password or not
        assert try_login(server, f"127.0.1.{i}", "guard1", PASSWORD) == 429
    assert hasher.verified == checked, "a locked-out address gets no password check"
    # The real guard, from an address that has not failed, still signs in.
    assert try_login(server, "127.0.2.1", "guard1", PASSWORD) == 303
    # A new address that fails is locked out as well.
    assert try_login(server, "127.0.2.2", "guard1", "another guess") == 429
    assert try_login(server, "127.0.2.2", "guard1", PASSWORD) == 429
    # The admins hear of it once, with the account and how many addresses, no password.
    [alert] = guessing_alerts(gate)
    assert alert["severity"] == "warning" and alert["acknowledged_at"] is None
    assert "guard1" in alert["message_en"] and "5 addresses" in alert["message_en"]
    assert "guard1" in alert["message_zh"] and "5 个地址" in alert["message_zh"]
    text = alert["message_en"] + alert["message_zh"]
    assert "wrong guess" not in text and PASSWORD not in text and "another" not in text
    # A name that is no account is locked out the same way (nothing says which names exist),
    # but there is no account to alert about.
    assert lock_out(server, "127.0.3", "nobody") == [401, 401, 401, 401, 429]
    assert len(guessing_alerts(gate)) == 1


def test_guessing_from_rotating_addresses_is_still_throttled(
        served: tuple[PanelServer, CountingHasher], gate: GateApp, clock: ManualClock) -> None:
    server, hasher = served
    settings = server.services.settings
    assert try_login(server, "127.0.9.1", "guard1", PASSWORD) == 303  # the guard room's PC
    assert lock_out(server, "127.0.1") == [401, 401, 401, 401, 429]
    # Thirty fresh addresses at once: one password check between them, the rest refused.
    checked = hasher.verified
    statuses = burst(server, [f"127.0.4.{i}" for i in range(1, 31)], "guard1", "fresh guess")
    assert hasher.verified - checked == 1 and statuses == [429] * 30
    # Not even the right password is tried from a fresh address now; the page says why.
    refused = login_page(server, "127.0.5.1", "guard1", PASSWORD)
    assert refused.status_code == 429 and "正被他人猜测密码" in refused.text
    assert hasher.verified - checked == 1
    # The guard room's PC, where the guard signed in before, still gets in.
    assert try_login(server, "127.0.9.1", "guard1", PASSWORD) == 303
    checked = hasher.verified
    # One fresh address may guess again once a lockout's share of time has passed: the
    # guessing rate stays at `lockout_account_failures` per `lockout_minutes`.
    pace = settings.lockout_minutes * 60 / settings.lockout_account_failures
    clock.advance(pace - 5)
    assert try_login(server, "127.0.5.2", "guard1", "too early") == 429
    assert hasher.verified == checked
    clock.advance(10)
    assert try_login(server, "127.0.5.3", "guard1", "slow guess") == 429  # checked, wrong
    assert try_login(server, "127.0.5.4", "guard1", "slow guess") == 429  # paced again
    assert hasher.verified - checked == 1
    assert len(guessing_alerts(gate)) == 1, "one alert per lockout"
    # Once the lockout is over the account is open again; the next one is alerted anew.
    clock.advance(settings.lockout_minutes * 60 + 1)
    assert try_login(server, "127.0.1.1", "guard1", PASSWORD) == 303
    assert lock_out(server, "127.0.6") == [401, 401, 401, 401, 429]
    assert len(guessing_alerts(gate)) == 2

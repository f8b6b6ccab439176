"""Parallel logins against a real uvicorn server: the lockout limit bounds the real password
checks, however many wrong guesses arrive at the same moment."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher

from edge.app import GateApp
from edge.panel.server import PanelServer, start_panel
from edge.settings.panel import PanelSettings
from tests.edge.panel.conftest import ADMIN_PASSWORD, CSRF_META, PASSWORD

BURST = 40


class CountingHasher(PasswordHasher):
    """Real Argon2id (light cost) that counts how many passwords it verified."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8192, parallelism=1)
        self.verified = 0
        self._count_lock = threading.Lock()

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:  # noqa: A002
        with self._count_lock:
            self.verified += 1
        return super().verify(hash, password)


@pytest.fixture
def served(gate: GateApp) -> Iterator[tuple[PanelServer, CountingHasher]]:
    hasher = CountingHasher()
    server = start_panel(gate, PanelSettings(port=0), hasher=hasher, announce=lambda text: None)
    server.services.users.add("root", "admin", ADMIN_PASSWORD)
    server.services.users.add("guard1", "guard", PASSWORD)
    yield server, hasher
    server.stop()


def burst(url: str, forms: list[dict[str, str]]) -> list[int]:
    """Post every login form at once, each from its own client; the status codes."""
    clients = [httpx.Client(base_url=url, timeout=30) for _ in forms]
    tokens = [CSRF_META.search(c.get("/login").text).group(1) for c in clients]  # type: ignore[union-attr]
    start = threading.Barrier(len(forms))
    statuses: list[int] = [0] * len(forms)

    def attempt(i: int) -> None:
        start.wait()
        statuses[i] = clients[i].post("/login", data={**forms[i], "csrf_token": tokens[i]}
                                      ).status_code

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(len(forms))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for client in clients:
        client.close()
    return statuses


def test_parallel_wrong_passwords_check_at_most_the_account_limit(
        served: tuple[PanelServer, CountingHasher]) -> None:
    server, hasher = served
    before = hasher.verified
    statuses = burst(server.url, [{"name": "guard1", "password": f"wrong guess {i:02d}"}
                                  for i in range(BURST)])
    checked = hasher.verified - before
    limit = server.services.settings.lockout_account_failures
    assert checked <= limit, f"{checked} real password checks for an account limit of {limit}"
    assert checked == limit  # every slot was used: refusals came from the limit, not luck
    # The last failure is answered with the lockout it causes.
    assert statuses.count(401) == limit - 1 and statuses.count(429) == BURST - limit + 1
    # The account is locked now, even for its right password; no check is spent on it.
    statuses = burst(server.url, [{"name": "guard1", "password": PASSWORD}])
    assert statuses == [429] and hasher.verified - before == checked


def test_parallel_guesses_at_many_accounts_check_at_most_the_address_limit(
        served: tuple[PanelServer, CountingHasher]) -> None:
    server, hasher = served
    before = hasher.verified
    forms: list[dict[str, Any]] = [{"name": f"user{i:02d}", "password": "wrong guess"}
                                   for i in range(BURST)]
    statuses = burst(server.url, forms)
    checked = hasher.verified - before
    limit = server.services.settings.lockout_address_failures
    assert checked <= limit, f"{checked} real password checks for an address limit of {limit}"
    assert checked == limit
    assert statuses.count(401) == limit - 1 and statuses.count(429) == BURST - limit + 1


def test_a_right_password_after_one_slip_still_logs_in(
        served: tuple[PanelServer, CountingHasher]) -> None:
    server, _ = served
    assert burst(server.url, [{"name": "guard1", "password": "a slip of the finger"}]) == [401]
    assert burst(server.url, [{"name": "guard1", "password": PASSWORD}]) == [303]

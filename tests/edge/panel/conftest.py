"""A gate on gpiozero's MockFactory with a real database, and the panel app on it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient
from gpiozero.pins.mock import MockFactory

from edge.app import GateApp
from edge.panel.app import create_app
from edge.panel.services import PanelServices, SyncStatus
from edge.settings import Settings, parse_settings
from edge.settings.panel import PanelSettings
from gate.clock import Clock
from gate.model import Colour, Decision, Method, Person
from gate.observation import Observation
from gate.passes import TrustList, load_signing_key, write_key_pair
from gate.reasons import alert, reason
from gate.vocabulary import AlertKind, Rule

PASSWORD = "guard password 1"
ADMIN_PASSWORD = "admin password 1"
IN_PIN, OUT_PIN = 17, 18
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]*)">')


def fast_hasher() -> PasswordHasher:
    """Real Argon2id with a light cost, so login-heavy tests stay quick."""
    return PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)


def gate_config(root: Path) -> dict[str, Any]:
    """Config of a two-reader gate whose trust list holds one platform key."""
    if not (root / "keys" / "signing.key").exists():
        write_key_pair(root / "keys")
    key = load_signing_key(root / "keys" / "signing.key")
    trust = TrustList()
    trust.add(key.key_id, key.public_key)
    trust.save(root / "trust.json")
    return {
        "gate": {"gate_id": "gate-east", "compound_id": "wenjiang-01", "name": "East gate"},
        "readers": [
            {"reader_id": "in-cam", "direction": "in", "camera": "unused-in.mp4",
             "relay_pin": IN_PIN},
            {"reader_id": "out-cam", "direction": "out", "camera": "unused-out.mp4",
             "relay_pin": OUT_PIN},
        ],
        "door": {"open_seconds": 0.2},
        "storage": {"state_dir": str(root / "state")},
        "passes": {"trust_list": str(root / "trust.json")},
    }


def gate_settings(root: Path) -> Settings:
    """Settings of the gate of `gate_config`, also written to <root>/gridgate.toml."""
    config = gate_config(root)
    (root / "gridgate.toml").write_text(tomli_w.dumps(config))
    return parse_settings(config)


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    factory = MockFactory()
    yield factory
    factory.reset()


@pytest.fixture
def gate(tmp_path: Path, factory: MockFactory) -> Iterator[GateApp]:
    app = GateApp(gate_settings(tmp_path), pin_factory=factory)
    yield app
    app.close()


@dataclass
class Panel:
    """The panel app, its services and ready-made accounts."""

    app: FastAPI
    svc: PanelServices
    gate: GateApp
    factory: MockFactory

    def client(self) -> TestClient:
        return TestClient(self.app, follow_redirects=False)

    def login(self, name: str, password: str, client: TestClient | None = None) -> TestClient:
        """A client logged in as `name`; its `csrf` attribute holds the session's token."""
        client = client or self.client()
        page = client.get("/login")
        token = CSRF_META.search(page.text)
        assert token, page.text[:300]
        response = client.post("/login", data={"name": name, "password": password,
                                               "csrf_token": token.group(1)})
        assert response.status_code == 303, response.text[:500]
        client.csrf = client.get("/api/me").json()["csrf_token"]  # type: ignore[attr-defined]
        return client

    def guard(self) -> TestClient:
        return self.login("guard1", PASSWORD)

    def admin(self) -> TestClient:
        return self.login("root", ADMIN_PASSWORD)


def make_panel(gate: GateApp, factory: MockFactory, *, clock: Clock | None = None,
               sync: SyncStatus | None = None, **settings: object) -> Panel:
    config_path = gate.settings.storage.state_dir.parent / "gridgate.toml"
    app = create_app(gate, PanelSettings(**settings), hasher=fast_hasher(),  # type: ignore[arg-type]
                     sync=sync or SyncStatus(), clock=clock, config_path=config_path)
    svc: PanelServices = app.state.panel
    svc.users.add("root", "admin", ADMIN_PASSWORD)
    svc.users.add("guard1", "guard", PASSWORD)
    return Panel(app, svc, gate, factory)


@pytest.fixture
def panel(gate: GateApp, factory: MockFactory) -> Iterator[Panel]:
    p = make_panel(gate, factory)
    yield p
    p.svc.close()


RED_PERSON = Person("p-301", "h-3", grid_id="grid-7")


def red_denial(gate: GateApp, reader_id: str = "out-cam") -> int:
    """Journal a red-permit exit refusal at the reader (through the gate's record keeper, as
    the checkpoint does); its passage id."""
    zh, en = reason(Rule.RED_EXIT_DENIED)
    decision = Decision(False, Rule.RED_EXIT_DENIED, zh, en,
                        (alert(AlertKind.RED_EXIT_ATTEMPT, RED_PERSON.person_id),),
                        RED_PERSON.person_id, Colour.RED)
    observation = Observation(gate.readers[reader_id], Method.FACE, gate.clock.now())
    events = gate.keeper.passage(observation, decision, RED_PERSON)
    return int(events[0].row["id"])

"""Gates of one compound for the peer link tests: settings, their keys, scanning a pass."""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from edge.app import GateApp
from edge.bench.peers import running as running  # the tests import it from here
from edge.bench.peers import show_pass
from edge.settings import Settings, parse_settings
from gate.checkpoint import Outcome
from gate.model import Colour
from gate.passes import SigningKey, TrustList, generate_signing_key
from gate.passes.keys import write_signing_key
from gate.store import gate_key_path
from sync.peers import PeerLink
from tests.fixtures.broker import Broker
from tests.sync.support import COMPOUND, PLATFORM_KEY, PREFIX

GATES = ("gate-a", "gate-b", "gate-c")
GATE_KEYS: dict[str, SigningKey] = {gate: generate_signing_key() for gate in GATES}


def compound_trust() -> TrustList:
    """The platform's key and every gate's own key (scope "gate", with its gate id)."""
    trust = TrustList()
    trust.add(PLATFORM_KEY.key_id, PLATFORM_KEY.public_key, "all")
    for gate, key in GATE_KEYS.items():
        trust.add(key.key_id, key.public_key, "gate", gate_id=gate)
    return trust


def peer_settings(root: Path, gate: str, broker: Broker | None, *, tag: str = "",
                  **mqtt: Any) -> Settings:
    """A gate of the compound with an entry and an exit reader, its key in place (as its first
    run would have made it) and a trust list holding the platform's and every gate's key."""
    home = root / gate
    home.mkdir(parents=True, exist_ok=True)
    trust_path = home / "trust.json"
    compound_trust().save(trust_path)
    state = home / "state"
    key_path = gate_key_path(state)
    if not key_path.exists():
        write_signing_key(GATE_KEYS[gate], key_path)
    return parse_settings({
        "gate": {"gate_id": gate, "compound_id": COMPOUND},
        "readers": [{"reader_id": "in-cam", "direction": "in", "camera": "0", "relay_pin": 17},
                    {"reader_id": "out-cam", "direction": "out", "camera": "0",
                     "relay_pin": 18}],
        "passes": {"trust_list": str(trust_path)},
        "storage": {"state_dir": str(state)},
        "mqtt": {"enabled": True, "host": "127.0.0.1",
                 "port": broker.port if broker else 1, "prefix": PREFIX,
                 "client_id": f"peer-{gate}-{tag or uuid.uuid4().hex[:8]}",
                 "reconnect_min_s": 0.05, "reconnect_max_s": 0.3, "keepalive_s": 5, **mqtt},
    })


def peers(app: GateApp) -> PeerLink:
    assert app.sync is not None and app.sync.peers is not None
    return app.sync.peers


def scan(app: GateApp, person: str, *, household: str, colour: Colour = Colour.GREEN,
         reader: str = "out-cam", at: datetime | None = None) -> Outcome:
    """A pass of `person` shown at `reader`, decided by the gate's checkpoint."""
    return show_pass(app, PLATFORM_KEY, person, household=household, colour=colour,
                     reader=reader, at=at)


def passages(app: GateApp) -> set[tuple[str, str, str]]:
    """(event id, gate, person) of every passage the gate's journal holds."""
    rows = app.db.execute("SELECT event_id, gate_id, person_id FROM passages").fetchall()
    return {tuple(r) for r in rows}


def holds(app: GateApp, event_id: str) -> bool:
    return app.db.execute("SELECT 1 FROM passages WHERE event_id = ?",
                          [event_id]).fetchone() is not None


def passage_id(outcome: Outcome) -> str:
    return next(e.event_id for e in outcome.events if e.kind == "passage")


def alerts_of(app: GateApp, kind: str) -> list[dict[str, Any]]:
    return [a for a in app.journal.alerts(limit=1000) if a["kind"] == kind]


def sent_all(app: GateApp) -> bool:
    """Every own passage acknowledged by the broker (the peer sink is empty)."""
    return peers(app).waiting() == 0


class Arrivals:
    """When each peer passage was recorded at a gate (monotonic), by event id."""

    def __init__(self, link: PeerLink) -> None:
        self.at: dict[str, float] = {}
        self._lock = threading.Lock()
        link.add_listener(self._heard)

    def _heard(self, row: dict[str, Any]) -> None:
        with self._lock:
            self.at[row["event_id"]] = time.monotonic()


def signed_lines(raw: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and the payload of a signed message."""
    header, payload = raw.split(b"\n", 1)
    return json.loads(header), json.loads(payload)

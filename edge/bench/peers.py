"""`gridgate bench peers`: how fast a passage reaches the other gates of a compound, and how long
a gate takes to know it cannot hear them.

Two gates of one compound (real GateApps: their own SQLite files, gate keys, peer links) on a
Mosquitto on loopback (started here on a free port):

- propagation: passages decided at gate-a (its checkpoint, as a reader would) until each is a
  row in gate-b's journal (the peer link's listener, after its commit): p50, p95, max. This is
  the window in which two gates can both let out a member of one yellow household.
- stale: when the compound view turns out of date after a link goes. The broker stopped (the
  TCP connections close: noticed at once); gate-a's link cut silently (a pulled cable, through
  a relay that stops forwarding: gate-a notices by its MQTT keep-alive, gate-b by gate-a's Last
  Will, which the broker publishes after 1.5 keep-alives of silence). The view is stale
  `policy.compound.stale_after_s` after the link is noticed down.
"""

from __future__ import annotations

import contextlib
import os
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import click
from gpiozero.pins.mock import MockFactory

from edge.app import GateApp
from edge.cli.output import emit_json
from edge.demo.broker import Broker, BrokerUnavailable
from edge.settings import Settings, parse_settings
from gate.checkpoint import Outcome
from gate.clock import SystemClock
from gate.model import Colour, Method
from gate.observation import Observation
from gate.passes import SigningKey, TrustList, encode_pass, generate_signing_key
from gate.passes.claims import PassClaims
from gate.passes.keys import write_signing_key
from gate.store import gate_key_path

COMPOUND = "bench-01"
PREFIX = "bench"


@dataclass(frozen=True)
class CompoundSetup:
    """Gates of one compound: each one's settings, and the platform key that signs passes."""

    settings: dict[str, Settings]
    pass_key: SigningKey


def compound_setup(root: Path, ports: dict[str, int], *, keepalive_s: int = 10,
                   policy: dict[str, Any] | None = None) -> CompoundSetup:
    """Settings of one gate per entry of `ports` (the broker port it connects to), each with an
    entry and an exit reader, its own gate key, and a trust list holding the platform's key and
    every gate's."""
    platform = generate_signing_key()
    keys = {gate: generate_signing_key() for gate in ports}
    trust = TrustList()
    trust.add(platform.key_id, platform.public_key, "all")
    for gate, key in keys.items():
        trust.add(key.key_id, key.public_key, "gate", gate_id=gate)
    settings = {}
    for gate, port in ports.items():
        home = root / gate
        home.mkdir(parents=True, exist_ok=True)
        trust.save(home / "trust.json")
        write_signing_key(keys[gate], gate_key_path(home / "state"))
        settings[gate] = parse_settings({
            "gate": {"gate_id": gate, "compound_id": COMPOUND},
            "readers": [{"reader_id": "in-cam", "direction": "in", "camera": "0",
                         "relay_pin": 17},
                        {"reader_id": "out-cam", "direction": "out", "camera": "0",
                         "relay_pin": 18}],
            "door": {"open_seconds": 0.2},
            "passes": {"trust_list": str(home / "trust.json")},
            "storage": {"state_dir": str(home / "state")},
            "policy": policy or {},
            "mqtt": {"enabled": True, "host": "127.0.0.1", "port": port, "prefix": PREFIX,
                     "client_id": f"{gate}-{os.getpid()}-{time.monotonic_ns()}",
                     "keepalive_s": keepalive_s, "reconnect_min_s": 0.1,
                     "reconnect_max_s": 1.0},
        })
    return CompoundSetup(settings, platform)


def show_pass(app: GateApp, key: SigningKey, person: str, *, household: str,
              colour: Colour = Colour.GREEN, reader: str = "out-cam",
              at: datetime | None = None) -> Outcome:
    """A pass of `person` shown at `reader` and decided by the gate's checkpoint."""
    now = at or SystemClock().now()
    claims = PassClaims(pass_id=f"pass-{person}", person_id=person, household_id=household,
                        compound_id=app.settings.gate.compound_id, colour=colour,
                        issued_at=now - timedelta(days=1), not_before=now - timedelta(days=1),
                        expires_at=now + timedelta(days=9), grid_id="grid-7")
    check = app.checkpoint.check_pass(encode_pass(claims, key), now)
    return app.checkpoint.handle(Observation(reader=app.readers[reader], method=Method.PASS,
                                             seen_at=now, pass_check=check))


def wait_for(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise click.ClickException(f"timed out waiting for {what}")
        time.sleep(0.005)


class Relay:
    """A TCP relay in front of the broker whose `freeze()` stops forwarding without closing
    anything: a link cut as a pulled cable cuts it, noticed only by keep-alives."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.frozen = threading.Event()
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._server.getsockname()[1])
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                inside, _ = self._server.accept()
                outside = socket.create_connection(("127.0.0.1", self.target_port), timeout=2)
            except OSError:
                if self._server.fileno() < 0:
                    return  # closed
                continue
            with self._lock:
                self._sockets += [inside, outside]
            for source, sink in ((inside, outside), (outside, inside)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if not self.frozen.is_set():  # frozen: what is sent is lost, as on a cut
                    sink.sendall(data)
        if not self.frozen.is_set():  # one side closed: so does the other (not on a cut)
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def freeze(self) -> None:
        self.frozen.set()

    def close(self) -> None:
        self._server.close()
        with self._lock:
            for s in self._sockets:
                with contextlib.suppress(OSError):
                    s.close()


@contextmanager
def running(settings: Settings) -> Iterator[GateApp]:
    """A gate with its link started, closed at the end."""
    with GateApp(settings, pin_factory=MockFactory()) as app:
        app.start_sync()
        yield app


def settled(*apps: GateApp, timeout: float = 20.0) -> None:
    """Every gate connected and hearing every other (its compound view current)."""
    wait_for(lambda: all(a.sync is not None and a.sync.connected and a.compound is not None
                         and a.compound.age_s() == 0 for a in apps), timeout,
             "the gates to connect and hear each other")


def _percentiles(delays_ms: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(delays_ms, n=20)
    return {"p50_ms": round(statistics.median(delays_ms), 2), "p95_ms": round(cuts[-1], 2),
            "max_ms": round(max(delays_ms), 2)}


def measure_propagation(a: GateApp, b: GateApp, key: SigningKey, count: int,
                        interval_s: float = 0.02) -> dict[str, Any]:
    """Decision at gate-a to the row in gate-b's journal, for `count` passages."""
    assert b.sync is not None and b.sync.peers is not None
    heard: dict[str, float] = {}

    def recorded(row: dict[str, Any]) -> None:
        heard.setdefault(row["event_id"], time.monotonic())

    b.sync.peers.add_listener(recorded)
    delays = []
    for i in range(count):
        outcome = show_pass(a, key, f"p-{i}", household=f"h-{i}",
                            reader="out-cam" if i % 2 else "in-cam")
        event = next(e.event_id for e in outcome.events if e.kind == "passage")
        wait_for(lambda e=event: e in heard, 10, f"passage {i} at gate-b")
        delays.append((heard[event] - outcome.acted_at) * 1000)
        time.sleep(interval_s)  # passages a gate decides are seconds apart, not back to back
    return {"passages": count, **_percentiles(delays)}


def noticed_after(app: GateApp, cut_at: float, timeout: float) -> float:
    """Seconds from `cut_at` until the gate saw its view age (its link or a peer lost)."""
    view = app.compound
    assert view is not None
    wait_for(lambda: view.age_s() > 0, timeout, f"{app.settings.gate.gate_id} to notice")
    return round(time.monotonic() - view.age_s() - cut_at, 3)


def measure_stale(root: Path, keepalive_s: int) -> dict[str, Any]:
    """When each gate notices, for the broker stopped and for a silent cut of gate-a's link."""
    broker = Broker(root / "broker")
    try:
        broker.start()
    except BrokerUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    relay = Relay(broker.port)
    try:
        setup = compound_setup(root / "stale", {"gate-a": relay.port, "gate-b": broker.port},
                               keepalive_s=keepalive_s)
        stale_after = setup.settings["gate-a"].policy.compound.stale_after_s
        with running(setup.settings["gate-a"]) as a, running(setup.settings["gate-b"]) as b:
            settled(a, b)
            cut = time.monotonic()
            broker.stop()
            stopped = {"gate_a_s": noticed_after(a, cut, 10), "gate_b_s": noticed_after(b, cut, 10)}
            broker.start()
            settled(a, b, timeout=30)
            cut = time.monotonic()
            relay.freeze()
            limit = 4 * keepalive_s + 10
            silent = {"gate_a_s": noticed_after(a, cut, limit),  # its own keep-alive
                      "gate_b_s": noticed_after(b, cut, limit)}  # gate-a's Last Will
    finally:
        relay.close()
        broker.stop()
    return {"keepalive_s": keepalive_s, "stale_after_s": stale_after,
            "broker_stopped_noticed": stopped, "silent_cut_of_gate_a_noticed": silent,
            "stale_after_silent_cut_s": {g: round(s + stale_after, 3)
                                         for g, s in silent.items()}}


def run(passages: int, stale: bool, keepalive_s: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="gridgate-bench-peers-") as tmp, ExitStack() as stack:
        root = Path(tmp)
        broker = Broker(root / "broker-1")
        try:
            broker.start()
        except BrokerUnavailable as exc:
            raise click.ClickException(f"{exc}") from None
        stack.callback(broker.stop)
        setup = compound_setup(root / "gates", dict.fromkeys(("gate-a", "gate-b"), broker.port))
        a = stack.enter_context(running(setup.settings["gate-a"]))
        b = stack.enter_context(running(setup.settings["gate-b"]))
        settled(a, b)
        time.sleep(0.3)  # the catch-up rounds of the start are over
        result: dict[str, Any] = {"propagation": measure_propagation(a, b, setup.pass_key,
                                                                     passages)}
        stack.close()
        if stale:
            result["stale"] = measure_stale(root / "cut", keepalive_s)
    result["load_average"] = [round(x, 2) for x in os.getloadavg()]
    return result


@click.command("peers")
@click.option("--passages", type=click.IntRange(20, 100_000), default=200, show_default=True,
              help="Passages decided at gate-a for the propagation figures.")
@click.option("--stale/--no-stale", default=True, show_default=True,
              help="Also measure when a lost link is noticed (takes a few keep-alives).")
@click.option("--keepalive-s", type=click.IntRange(5, 3600), default=10, show_default=True,
              help="mqtt.keepalive_s of the gates for the silent cut.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (the default output anyway).")
def bench_peers(passages: int, stale: bool, keepalive_s: int, as_json: bool) -> None:
    """Peer passage propagation (p50, p95) and when a lost compound link is noticed."""
    emit_json(run(passages, stale, keepalive_s))

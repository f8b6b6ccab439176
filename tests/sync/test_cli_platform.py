"""`gridgate platform publish/listen` against a running gate and a real broker."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from gpiozero.pins.mock import MockFactory

from edge.app import GateApp
from edge.cli.main import cli
from edge.settings import parse_settings
from gate.passes import TrustList, load_signing_key, write_key_pair
from tests.fixtures.broker import Broker
from tests.sync.support import COMPOUND, GATE, TOPICS, Subscriber, record_passage, wait_until

pytestmark = pytest.mark.broker
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    write_key_pair(tmp_path / "keys")
    return tmp_path / "keys" / "signing.key"


@pytest.fixture
def gate(tmp_path: Path, keys: Path, module_broker: Broker) -> Iterator[GateApp]:
    trust = TrustList()
    key = load_signing_key(keys)
    trust.add(key.key_id, key.public_key)
    trust.save(tmp_path / "trust.json")
    settings = parse_settings({
        "gate": {"gate_id": GATE, "compound_id": COMPOUND},
        "readers": [{"reader_id": "in-cam", "direction": "in", "camera": "0", "relay_pin": 17}],
        "passes": {"trust_list": str(tmp_path / "trust.json")},
        "storage": {"state_dir": str(tmp_path / "state")},
        "mqtt": {"enabled": True, "host": module_broker.host, "port": module_broker.port,
                 "prefix": "gg", "client_id": f"cli-gate-{tmp_path.name}"[:64],
                 "reconnect_min_s": 0.1},
    })
    with GateApp(settings, pin_factory=MockFactory()) as app:
        app.start_sync()
        wait_until(lambda: app.sync is not None and app.sync.connected, what="gate connected")
        yield app


def broker_args(broker: Broker) -> list[str]:
    return ["--host", broker.host, "--port", str(broker.port), "--prefix", "gg",
            "--compound", COMPOUND]


def invoke(*args: str) -> Any:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.output.splitlines()[-1])


def test_publish_a_roster_and_permits_then_the_state_shows_the_versions(
        gate: GateApp, keys: Path, module_broker: Broker, tmp_path: Path) -> None:
    sub = Subscriber(module_broker, filters=[TOPICS.state], client_id="cli-state")
    roster = tmp_path / "roster.json"
    roster.write_text(json.dumps({"persons": [{"person_id": "p-7", "household_id": "h-7"}]}))
    out = invoke("platform", "publish", "roster", str(roster), "--key", str(keys), "--version",
                 "1", "--json", *broker_args(module_broker))
    assert out["topic"] == "gg/v1/wenjiang-01/docs/roster" and out["retained"] is True
    permits = tmp_path / "permits.json"
    permits.write_text(json.dumps({"permits": [{"person_id": "p-7", "colour": "green"}]}))
    invoke("platform", "publish", "permits", str(permits), "--key", str(keys), "--version", "1",
           "--json", *broker_args(module_broker))
    permits.write_text(json.dumps({"upsert": [{"person_id": "p-7", "colour": "red"}]}))
    out = invoke("platform", "publish", "permits", str(permits), "--key", str(keys),
                 "--version", "2", "--base", "1", "--json", *broker_args(module_broker))
    assert out["retained"] is False  # deltas are not retained
    wait_until(lambda: gate.registry.person("p-7") is not None, what="roster applied")
    wait_until(lambda: sub.on(TOPICS.state) and sub.on(TOPICS.state)[-1]["versions"]
               == {"roster": 1, "permits": 2}, what="versions in the state")
    assert gate.registry.permit("p-7").colour.value == "red"  # type: ignore[union-attr]
    sub.close()


def test_publish_rejects_a_body_that_does_not_fit_the_schema(keys: Path, module_broker: Broker,
                                                             tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"persons": [{"person_id": "p-1"}]}))
    result = CliRunner().invoke(cli, ["platform", "publish", "roster", str(bad), "--key",
                                      str(keys), "--version", "1", *broker_args(module_broker)])
    assert result.exit_code == 2
    assert "persons.0.household_id" in result.output and "Field required" in result.output


def test_a_signed_open_command_from_the_cli_releases_the_relay(gate: GateApp, keys: Path,
                                                                module_broker: Broker) -> None:
    relay = gate.doors["in-cam"].relay
    out = invoke("platform", "publish", "command", "open", "--gate", GATE, "--reader", "in-cam",
                 "--reason", "delivery", "--key", str(keys), "--json",
                 *broker_args(module_broker))
    assert out["topic"] == TOPICS.commands
    wait_until(lambda: relay.value == 1, what="relay released")


def listen(broker: Broker, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "edge.cli.main", "platform", "listen", "--json", "--no-state",
         *broker_args(broker), *extra], cwd=REPO, stdout=subprocess.PIPE, text=True)


def test_listeners_in_one_shared_group_split_the_events_and_drop_duplicates(
        gate: GateApp, module_broker: Broker) -> None:
    first = listen(module_broker, "--group", "g1", "--timeout", "15")
    second = listen(module_broker, "--group", "g1", "--timeout", "15")
    grid = listen(module_broker, "--grid", "grid-7", "--count", "1", "--timeout", "15",
                  "--group", "workers")
    try:
        wait_until(lambda: _subscribers(module_broker) >= 3, timeout=15, what="listeners")
        ids = []
        for _ in range(20):
            ids += record_passage(gate.journal)
        from gate.model import AlertSpec, Severity
        from gate.vocabulary import AlertKind

        ids += record_passage(gate.journal, alert=AlertSpec(AlertKind.RED_EXIT_ATTEMPT,
                                                             Severity.URGENT, "红",
                                                             "red permit tried to leave"))
        out, _ = grid.communicate(timeout=20)
        [alert] = [json.loads(line) for line in out.splitlines()]
        assert alert["message"]["data"]["kind"] == "red_exit_attempt"
        assert alert["duplicate"] is False
    finally:
        for p in (first, second):
            p.terminate()
    seen = [json.loads(line)["message"]["event_id"]
            for p in (first, second) for line in p.communicate(timeout=20)[0].splitlines()]
    assert set(ids) <= set(seen)
    assert len(seen) == len(set(seen))  # each event went to one listener of the group only


def _subscribers(broker: Broker) -> int:
    log = broker.log.read_text() if broker.log.exists() else ""
    return log.count("gridgate-platform-listen")


def test_every_platform_command_has_help() -> None:
    runner = CliRunner()
    for path in (["platform"], ["platform", "publish"], ["platform", "listen"],
                 *[["platform", "publish", name] for name in
                   ("roster", "permits", "trust", "revocations", "policy", "command")]):
        result = runner.invoke(cli, [*path, "--help"])
        assert result.exit_code == 0 and "Usage:" in result.output, path


def test_listen_with_the_broker_away_says_so_and_keeps_its_timeout() -> None:
    import socket
    import time

    from tests.fixtures.broker import free_port

    # Nothing listens: refused at once. A socket that accepts and never answers (a broker
    # hung, a firewall): the CONNACK never comes, and --timeout still ends the command.
    mute = socket.create_server(("127.0.0.1", 0))
    try:
        for port in (free_port(), mute.getsockname()[1]):
            started = time.monotonic()
            done = subprocess.run(
                [sys.executable, "-m", "edge.cli.main", "platform", "listen", "--host",
                 "127.0.0.1", "--port", str(port), "--compound", COMPOUND, "--timeout", "2"],
                capture_output=True, text=True, timeout=60)
            took = time.monotonic() - started
            print(f"listen, port {port}, --timeout 2: ended after {took:.1f} s")
            assert done.returncode == 2, done.stderr
            assert "connecting to 127.0.0.1" in done.stderr and "cannot connect" in done.stderr
            assert took < 8  # 2 s, the interpreter's start and a wide margin; it waited 10+
    finally:
        mute.close()

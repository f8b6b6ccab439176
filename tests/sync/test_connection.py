"""Connecting: MQTT 3.1.1, falling back from 5 to 3.1.1, TLS with certificates, passwords."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.broker import Broker, free_port
from tests.sync.certs import make_pki
from tests.sync.support import (
    TOPICS,
    Subscriber,
    broker_options,
    gate_journal,
    record_door_events,
    service,
    start_broker,
    wait_until,
)
from tests.sync.v311_gateway import V311Gateway

pytestmark = pytest.mark.broker
PASSWORD = "correct horse battery staple"


def drained_over(broker: Broker, tmp_path: Path, count: int = 20, **options: Any) -> Any:
    """Run a gate with these broker options until `count` events were acknowledged."""
    journal = gate_journal(tmp_path / "gate.db")
    link = service(journal, tmp_path / "gate.db", broker,
                   broker_options=broker_options(broker, **options))
    record_door_events(journal, count)
    link.start()
    return link


def test_mqtt_311_when_configured(module_broker: Broker, tmp_path: Path) -> None:
    sub = Subscriber(module_broker, filters=[TOPICS.events, TOPICS.state], client_id="v3-sub")
    link = drained_over(module_broker, tmp_path, protocol="3.1.1", client_id="v3-gate")
    try:
        wait_until(lambda: link.outbox_waiting() == 0, what="drained over 3.1.1")
        assert link.link.protocol == "3.1.1"
        wait_until(lambda: len(sub.events()) >= 20, what="events")
        assert sub.on(TOPICS.state)[-1]["protocol"] == "3.1.1"
    finally:
        link.stop()
        sub.close()


def test_auto_falls_back_to_311_when_the_broker_refuses_5(module_broker: Broker,
                                                          tmp_path: Path) -> None:
    gateway = V311Gateway(module_broker.port)
    link = drained_over(module_broker, tmp_path, port=gateway.port, client_id="auto-gate")
    try:
        wait_until(lambda: link.outbox_waiting() == 0, what="drained after the fallback")
        assert gateway.refused >= 1 and gateway.forwarded >= 1
        assert link.link.protocol == "3.1.1"
    finally:
        link.stop()
        gateway.close()


@pytest.fixture
def secure_broker(tmp_path: Path) -> Any:
    pki = make_pki(tmp_path / "pki")
    passwords = tmp_path / "passwords"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwords), "gate-east", PASSWORD],
                   check=True, capture_output=True)
    tls_port = free_port()
    broker = start_broker(tmp_path / "broker", (
        f"allow_anonymous false\npassword_file {passwords}\n"
        f"listener {tls_port} 127.0.0.1\ncafile {pki['ca']}\ncertfile {pki['broker']}\n"
        f"keyfile {pki['broker_key']}\nrequire_certificate true\n"))
    (tmp_path / "mqtt.password").write_text(PASSWORD + "\n")
    try:
        yield broker, tls_port, pki
    finally:
        broker.stop()


def test_tls_with_a_client_certificate_and_a_password_file(secure_broker: Any,
                                                           tmp_path: Path) -> None:
    broker, tls_port, pki = secure_broker
    sub = Subscriber(broker, filters=[TOPICS.events], client_id="tls-sub",
                     login=("gate-east", PASSWORD))
    link = drained_over(broker, tmp_path, port=tls_port, tls=True, ca_file=pki["ca"],
                        cert_file=pki["gate"], key_file=pki["gate_key"], username="gate-east",
                        password_file=tmp_path / "mqtt.password")
    try:
        wait_until(lambda: link.outbox_waiting() == 0, what="drained over TLS")
        wait_until(lambda: len(sub.events()) >= 20, what="events over TLS")
    finally:
        link.stop()
        sub.close()


def test_a_wrong_password_or_an_unknown_ca_loses_nothing_and_says_why(
        secure_broker: Any, tmp_path: Path) -> None:
    broker, tls_port, pki = secure_broker
    (tmp_path / "wrong.password").write_text("guess\n")
    common = {"port": tls_port, "tls": True, "cert_file": pki["gate"],
              "key_file": pki["gate_key"], "username": "gate-east"}
    link = drained_over(broker, tmp_path, ca_file=pki["ca"],
                        password_file=tmp_path / "wrong.password", **common)
    try:
        wait_until(lambda: "not authorized" in link.link.last_error.lower()
                   or "password" in link.link.last_error.lower(), what="refusal reason")
        assert link.outbox_waiting() >= 20 and not link.connected
    finally:
        link.stop()
    other = make_pki(tmp_path / "other-pki")
    link = drained_over(broker, tmp_path / "x", ca_file=other["ca"],
                        password_file=tmp_path / "mqtt.password", **common)
    try:
        wait_until(lambda: "certificate verify failed" in link.link.last_error,
                   what="TLS refusal reason")
        assert link.outbox_waiting() >= 20
    finally:
        link.stop()

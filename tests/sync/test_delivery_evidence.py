"""Rows leave the outbox only on a PUBACK, and change only on evidence about their content."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from click.testing import CliRunner
from paho.mqtt.enums import CallbackAPIVersion

from edge.cli.main import cli
from gate.clock import SystemClock
from gate.model import AlertSpec, Severity
from sync.commands import Action
from sync.outbox import bury, fetch
from sync.platform import signed_command, signed_document
from sync.schema import MQTT_SINK
from sync.topics import DocumentKind
from tests.fixtures.broker import Broker
from tests.sync.support import (
    COMPOUND,
    GATE,
    PLATFORM_KEY,
    TOPICS,
    Subscriber,
    broker_options,
    gate_journal,
    record_door_events,
    service,
    start_broker,
    wait_until,
)

pytestmark = pytest.mark.broker


def test_a_broker_acl_refusing_the_gate_buries_nothing_and_the_alert_arrives_once_fixed(
        tmp_path: Path) -> None:
    acl = tmp_path / "acl"
    acl.write_text("topic read #\ntopic write nothing/#\n")  # the gate may not publish
    broker = start_broker(tmp_path / "broker", f"acl_file {acl}\n")
    db_path = tmp_path / "gate.db"
    journal = gate_journal(db_path)
    link = service(journal, db_path, broker)
    forced = journal.record_alert(AlertSpec("door_forced", Severity.URGENT, "门被强行打开",
                                            "door forced"))
    try:
        link.start()
        # Mosquitto refuses (PUBACK 0x87) and drops the connection. The old publisher stubbed
        # a row after 3 such drops and buried it after 6.
        wait_until(lambda: link.link.connections >= 10, timeout=20,
                   what="the broker refusing repeatedly")
    finally:
        link.stop()
    assert journal.db.execute("SELECT count(*) FROM outbox_dead").fetchone()[0] == 0
    waiting = {r.event_id: r for r in fetch(journal.db, MQTT_SINK, 0, 100)}
    assert forced.event_id in waiting
    assert '"truncated":false' in waiting[forced.event_id].payload
    assert link.publisher.stats.stubbed == link.publisher.stats.buried == 0
    acl.write_text("topic readwrite #\n")  # the platform fixes its ACL
    broker.restart()
    sub = Subscriber(broker, client_id="acl-sub")
    again = service(journal, db_path, broker)
    try:
        again.start()
        wait_until(lambda: forced.event_id in {e.event_id for e in sub.events()},
                   what="the door_forced alert at the platform")
        [alert] = [e for e in sub.events() if e.event_id == forced.event_id][:1]
        assert not alert.truncated and alert.data["kind"] == "door_forced"
        wait_until(lambda: again.outbox_waiting() == 0, what="outbox drained")
    finally:
        again.stop()
        sub.close()
        broker.stop()


def requeue(db_path: Path, *event_ids: str) -> str:
    result = CliRunner().invoke(cli, ["outbox", "requeue", *event_ids, "--database",
                                      str(db_path)])
    assert result.exit_code == 0, result.output
    return result.output


def test_dead_rows_are_requeued_and_delivered(module_broker: Broker, tmp_path: Path) -> None:
    db_path = tmp_path / "gate.db"
    journal = gate_journal(db_path)
    sub = Subscriber(module_broker, filters=[TOPICS.events], client_id="requeue-sub")
    link = service(journal, db_path, module_broker)  # attaches the outbox (tables, hooks)
    ids = record_door_events(journal, 3)
    for row in fetch(journal.db, MQTT_SINK, 0, 10):
        if row.event_id in ids[:2]:
            bury(journal.db, row, MQTT_SINK, "refused", journal.clock.now())
    try:
        link.start()
        wait_until(lambda: ids[2] in {e.event_id for e in sub.events()}, what="live row")
        assert not {e.event_id for e in sub.events()} & set(ids[:2])
        status = CliRunner().invoke(cli, ["outbox", "status", "--database", str(db_path),
                                          "--json"])
        assert '"dead":{"mqtt":2}' in status.output.replace(" ", ""), status.output
        assert "1 row(s) moved" in requeue(db_path, ids[0])
        assert "1 row(s) moved" in requeue(db_path)  # the rest
        wait_until(lambda: set(ids) <= {e.event_id for e in sub.events()},
                   what="re-queued rows delivered by the running gate")
        assert journal.db.execute("SELECT count(*) FROM outbox_dead").fetchone()[0] == 0
        wait_until(lambda: link.outbox_waiting() == 0, what="outbox drained")
    finally:
        link.stop()
        sub.close()


def test_requeue_refuses_a_missing_database(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["outbox", "requeue", "--database",
                                      str(tmp_path / "nope.db")])
    assert result.exit_code != 0 and "no gate database" in result.output


def test_rows_stay_until_the_broker_acknowledges_them(module_broker: Broker,
                                                      tmp_path: Path) -> None:
    """A broker that receives but does not answer (stopped) must not cost a row: QoS 0, or a
    delete on the socket write instead of the PUBACK, would empty the outbox here."""
    assert module_broker.process is not None
    db_path = tmp_path / "gate.db"
    journal = gate_journal(db_path)
    sub = Subscriber(module_broker, filters=[TOPICS.events], client_id="ack-sub")
    link = service(journal, db_path, module_broker)
    pid = module_broker.process.pid
    try:
        link.start()
        wait_until(lambda: link.connected and link.outbox_waiting() == 0, what="idle link")
        sent = link.publisher.stats.published
        os.kill(pid, signal.SIGSTOP)
        try:
            ids = record_door_events(journal, 40)
            # Mosquitto's Receive Maximum (20) bounds what is in flight.
            wait_until(lambda: link.publisher.stats.published >= sent + 20,
                       what="rows written out")
            time.sleep(1.0)  # time enough for any ack-less delete to happen
            assert link.outbox_waiting() == 40
        finally:
            os.kill(pid, signal.SIGCONT)
        wait_until(lambda: link.outbox_waiting() == 0, what="acknowledged after the pause")
        wait_until(lambda: set(ids) <= {e.event_id for e in sub.events()}, what="delivered")
    finally:
        link.stop()
        sub.close()


def test_commands_are_capped_and_never_wait_behind_large_documents(module_broker: Broker,
                                                                   tmp_path: Path) -> None:
    """Write access to the broker alone: large unsigned commands are not parsed, and a document
    that takes long (held here by its lock) does not hold a signed command back."""
    db_path = tmp_path / "gate.db"
    journal = gate_journal(db_path)
    link = service(journal, db_path, module_broker,
                   broker_options=broker_options(module_broker, client_id="flood-gate"))
    attacker = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="flood-attacker",
                           protocol=mqtt.MQTTv5)
    big_document = b'{"kid":"0000000000000000","signature":"AA==","payload":"{}","pad":[' + \
        b"0.1," * 500_000 + b"0.1]}"
    slow = link.documents._lock  # a document being applied holds it
    commands = {"oversized_command", "command_refused", "command_accepted"}

    def documents_done() -> int:
        return sum(v for k, v in link.inbox.snapshot().items() if k not in commands)

    try:
        link.start()
        wait_until(lambda: link.connected and link.outbox_waiting() == 0, what="idle link")
        attacker.connect(module_broker.host, module_broker.port)
        attacker.loop_start()
        slow.acquire()
        try:
            attacker.publish(TOPICS.documents(DocumentKind.PERMITS), signed_document(
                DocumentKind.PERMITS, {"permits": []}, version=1, compound_id=COMPOUND,
                key=PLATFORM_KEY, now=SystemClock().now()), qos=1)
            for _ in range(3):
                attacker.publish(TOPICS.documents(DocumentKind.PERMITS), big_document, qos=1)
                attacker.publish(TOPICS.commands, b'{"pad":"' + b"x" * 200_000 + b'"}', qos=1)
            _, signed = signed_command(Action.NORMAL, compound_id=COMPOUND, gate_id=GATE,
                                       key=PLATFORM_KEY, now=SystemClock().now())
            attacker.publish(TOPICS.commands, signed, qos=1).wait_for_publish(5)
            wait_until(lambda: "command_refused" in link.inbox.snapshot(), what="the command")
            counters = link.inbox.snapshot()
            assert documents_done() == 0  # all still waiting behind the slow document
            assert counters["oversized_command"] == 3
            assert counters["command_refused"] == 1  # verified, answered (no doors here)
        finally:
            slow.release()
        wait_until(lambda: documents_done() == 4, what="documents handled after it")
        assert link.inbox.snapshot()["document_applied"] == 1
    finally:
        attacker.loop_stop()
        attacker.disconnect()
        link.stop()

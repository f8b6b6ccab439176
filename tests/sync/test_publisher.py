"""Publishing the outbox to a real Mosquitto: order, outages, restarts, size limits, duplicates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gate.model import AlertSpec, Severity
from gate.vocabulary import AlertKind
from sync.consumer import Deduper
from sync.messages import EventMessage
from sync.service import OutboxOptions
from tests.fixtures.broker import Broker
from tests.sync.support import (
    TOPICS,
    Subscriber,
    broker_options,
    gate_journal,
    record_door_events,
    record_passage,
    service,
    start_broker,
    wait_until,
)

pytestmark = pytest.mark.broker


def persistent_broker(workdir: Path, extra: str = "") -> Broker:
    """A broker that keeps sessions across a restart, as a platform broker does."""
    return start_broker(workdir, f"persistence true\npersistence_location {workdir}/\n" + extra)


def first_arrivals(events: list[EventMessage]) -> list[EventMessage]:
    seen: set[str] = set()
    firsts = []
    for e in events:
        if e.event_id not in seen:
            seen.add(e.event_id)
            firsts.append(e)
    return firsts


def assert_all_in_order(events: list[EventMessage], ids: list[str]) -> None:
    firsts = [e for e in first_arrivals(events) if e.type == "door"]
    assert [e.event_id for e in firsts] == ids  # none missing, none extra, in recorded order
    seqs = [e.seq for e in firsts]
    assert seqs == sorted(seqs)


def test_events_arrive_in_order_and_rows_go_only_after_puback(module_broker: Broker,
                                                               tmp_path: Path) -> None:
    journal = gate_journal(tmp_path / "gate.db")
    sub = Subscriber(module_broker, client_id="order-sub")
    link = service(journal, tmp_path / "gate.db", module_broker)
    try:
        ids = record_door_events(journal, 300)
        link.start()
        record_passage(journal, alert=AlertSpec(AlertKind.RED_EXIT_ATTEMPT, Severity.URGENT, "红",
                                                         "red"))
        wait_until(lambda: link.outbox_waiting() == 0, what="outbox drained")
        wait_until(lambda: len(sub.events()) >= 307, what="events at the subscriber")
        assert_all_in_order(sub.events(), ids)
        assert {e.type for e in sub.events()} >= {"passage", "alert", "snapshot_request"}
        assert sub.on(TOPICS.grid_alerts("grid-7"))[0]["data"]["kind"] == "red_exit_attempt"
        [state] = sub.on(TOPICS.state)[-1:]
        assert state["online"] is True and state["protocol"] == "5"
    finally:
        link.stop()
    wait_until(lambda: sub.on(TOPICS.state)[-1]["online"] is False, what="offline state")
    sub.close()


def test_broker_down_while_10000_events_are_recorded_then_all_arrive_in_order(
        tmp_path: Path) -> None:
    broker = persistent_broker(tmp_path / "broker")
    journal = gate_journal(tmp_path / "gate.db")
    sub = Subscriber(broker, client_id="outage-sub")
    link = service(journal, tmp_path / "gate.db", broker)
    try:
        broker.stop()
        link.start()
        ids = record_door_events(journal, 10_000)
        assert link.outbox_waiting() >= 10_000 and not link.connected
        broker.start()
        wait_until(lambda: link.outbox_waiting() == 0, timeout=60, what="outbox drained")
        wait_until(lambda: len({e.event_id for e in sub.events()}) >= 10_005, timeout=30,
                   what="all events at the subscriber")
        assert_all_in_order(sub.events(), ids)
    finally:
        link.stop()
        sub.close()
        broker.stop()


def test_broker_restarted_mid_stream_loses_nothing(tmp_path: Path) -> None:
    broker = persistent_broker(tmp_path / "broker")
    journal = gate_journal(tmp_path / "gate.db")
    sub = Subscriber(broker, client_id="restart-sub")
    # A small window keeps the stream going long enough to restart the broker in its middle.
    link = service(journal, tmp_path / "gate.db", broker,
                   outbox=OutboxOptions(window=5, batch_size=5))
    try:
        ids = record_door_events(journal, 4000)
        link.start()
        wait_until(lambda: len(sub.events()) > 500, what="stream under way")
        broker.restart()
        assert link.outbox_waiting() > 0, "the stream ended before the restart"
        wait_until(lambda: link.outbox_waiting() == 0, timeout=60, what="outbox drained")
        wait_until(lambda: {e.event_id for e in sub.events()} >= set(ids), timeout=30,
                   what="every event at the subscriber")
        assert_all_in_order(sub.events(), ids)
        assert link.link.connections >= 2
    finally:
        link.stop()
        sub.close()
        broker.stop()


def test_a_message_over_the_brokers_size_limit_is_sent_as_a_stub_and_nothing_blocks(
        tmp_path: Path) -> None:
    # The broker drops payloads over 4 KiB with a PUBACK paho cannot read, so it disconnects:
    # the publisher must work out which message is to blame.
    broker = start_broker(tmp_path / "broker", "message_size_limit 4096\n")
    journal = gate_journal(tmp_path / "gate.db")
    sub = Subscriber(broker, client_id="size-sub")
    link = service(journal, tmp_path / "gate.db", broker)
    try:
        before = record_door_events(journal, 5)
        [big] = record_passage(journal, reason="x" * 10_000)
        after = record_door_events(journal, 5)
        link.start()
        wait_until(lambda: link.outbox_waiting() == 0, timeout=30, what="outbox drained")
        wait_until(lambda: set(before + after + [big]) <= {e.event_id for e in sub.events()},
                   what="all at the subscriber")
        events = {e.event_id: e for e in sub.events()}
        stub = events[big]
        assert stub.truncated and stub.type == "passage" and "reason_en" not in stub.data
        assert stub.data["person_id"] == "p-101"
        alerts = [e for e in events.values() if e.data.get("kind") == "event_truncated"]
        assert alerts and big in alerts[0].data["message_en"]
        assert journal.db.execute("SELECT length(reason_en) FROM passages").fetchone()[0] \
            == 10_000  # the journal keeps the whole record
    finally:
        link.stop()
        sub.close()
        broker.stop()


def test_the_brokers_packet_limit_and_our_own_limit_stub_without_a_disconnect(
        tmp_path: Path) -> None:
    broker = start_broker(tmp_path / "broker", "max_packet_size 8192\n")
    journal = gate_journal(tmp_path / "gate.db")
    sub = Subscriber(broker, client_id="packet-sub")
    link = service(journal, tmp_path / "gate.db", broker,
                   outbox=OutboxOptions(max_message_bytes=3000))
    try:
        [medium] = record_passage(journal, reason="m" * 4000)  # over our 3000
        [large] = record_passage(journal, reason="l" * 20_000)  # over the broker's 8192
        link.start()
        wait_until(lambda: link.outbox_waiting() == 0, timeout=20, what="outbox drained")
        # The PUBACK comes from the broker, the delivery to the subscriber a moment later.
        wait_until(lambda: {medium, large} <= {e.event_id for e in sub.events()},
                   what="both at the subscriber")
        events = {e.event_id: e for e in sub.events()}
        assert events[medium].truncated and events[large].truncated
        assert link.link.connections == 1  # limits known in advance: no broken connection
    finally:
        link.stop()
        sub.close()
        broker.stop()


def test_duplicates_after_a_lost_delete_carry_the_same_id_and_are_dropped_by_consumers(
        module_broker: Broker, tmp_path: Path) -> None:
    journal = gate_journal(tmp_path / "gate.db")
    sub = Subscriber(module_broker, filters=[TOPICS.events], client_id="dup-sub")
    options = broker_options(module_broker, client_id="dup-gate")
    link = service(journal, tmp_path / "gate.db", module_broker, broker_options=options)
    journal.db.execute("CREATE TABLE sent AS SELECT * FROM outbox WHERE 0")
    journal.db.execute("CREATE TRIGGER keep BEFORE DELETE ON outbox BEGIN INSERT INTO sent "
                       "SELECT * FROM outbox WHERE id = OLD.id; END")
    ids = record_door_events(journal, 50)
    link.start()
    try:
        wait_until(lambda: len(sub.events()) >= 50 and link.outbox_waiting() == 0,
                   what="first delivery acknowledged")
    finally:
        link.stop()
    # As if the gate had died after the PUBACKs but before the deletes reached the disk.
    with journal.db.atomic():
        journal.db.execute("DROP TRIGGER keep")
        journal.db.execute("INSERT INTO outbox SELECT * FROM sent WHERE sink = 'mqtt'")
    again = service(journal, tmp_path / "gate.db", module_broker, broker_options=options)
    try:
        again.start()
        wait_until(lambda: len(sub.events()) >= 100, what="second delivery")
        deduper = Deduper()
        verdicts = [deduper.accept(e) for e in sub.events() if e.type == "door"]
        assert sum(v.new for v in verdicts) == 50 and deduper.duplicates == 50
        assert not any(v.missing for v in verdicts)
        assert [e.event_id for e in first_arrivals(sub.events())] == ids
    finally:
        again.stop()
        sub.close()


def test_payloads_are_json_with_the_documented_envelope(module_broker: Broker,
                                                        tmp_path: Path) -> None:
    journal = gate_journal(tmp_path / "gate.db")
    sub = Subscriber(module_broker, filters=[TOPICS.events], client_id="env-sub")
    link = service(journal, tmp_path / "gate.db", module_broker,
                   broker_options=broker_options(module_broker, client_id="env-gate"))
    try:
        link.start()
        record_passage(journal)
        wait_until(lambda: sub.on(TOPICS.events), what="a passage")
        payload = sub.on(TOPICS.events)[0]
        assert set(payload) == {"schema_version", "type", "event_id", "gate_id", "compound_id",
                                "seq", "at", "truncated", "data"}
        assert json.dumps(payload)  # plain JSON
    finally:
        link.stop()
        sub.close()

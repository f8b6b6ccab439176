"""What a message costs before it is known to be the platform's: nothing is parsed before its
signature checked out, too-large ones are refused before they are read, the queues are bounded
and count what they drop, and applying a document holds the write lock only briefly."""

from __future__ import annotations

import json
import logging
import mmap
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cbor2
import paho.mqtt.client as mqtt
import pytest
from gpiozero.pins.mock import MockFactory
from hypothesis import given, settings
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion

import sync.signing as signing
from edge.app import GateApp
from gate.clock import SystemClock
from gate.passes import generate_signing_key
from gate.passes.codec import sig_structure
from sync.commands import Action
from sync.inbox import MAX_QUEUED_COMMANDS, MAX_QUEUED_DOCUMENTS, _Item, _Queue
from sync.platform import publish, signed_command, signed_document
from sync.signing import (
    LEGACY_MAX_BYTES,
    MessageError,
    loads_in_steps,
    sign_payload,
    signed_bytes,
    verify,
)
from sync.topics import DocumentKind
from tests.fixtures.broker import Broker
from tests.sync.support import (
    COMPOUND,
    GATE,
    NOW,
    PLATFORM_KEY,
    TOPICS,
    Subscriber,
    as_legacy,
    broker_options,
    gate_journal,
    platform_trust,
    service,
    wait_until,
)
from tests.sync.test_connection import secure_broker  # noqa: F401  (a fixture)
from tests.sync.test_inbound import gate_settings, person

MB = 1024 * 1024
PERMITS, ROSTER = DocumentKind.PERMITS, DocumentKind.ROSTER


def reason(raw: Any) -> str:
    try:
        verify(raw, platform_trust(), NOW, in_place=True)
    except MessageError as exc:
        return exc.reason
    return "verified"


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The sizes of every text or bytes the signing module hands a JSON parser."""
    sizes: list[int] = []
    loads, steps = json.loads, signing.loads_in_steps

    def counting_loads(text: Any, *args: Any, **kw: Any) -> Any:
        sizes.append(len(text))
        return loads(text, *args, **kw)

    def counting_steps(text: str, levels: int = 3) -> Any:
        sizes.append(len(text))
        return steps(text, levels)

    monkeypatch.setattr(signing.json, "loads", counting_loads)
    monkeypatch.setattr(signing, "loads_in_steps", counting_steps)
    yield sizes


def test_the_signature_is_checked_over_the_raw_bytes_before_anything_is_parsed(
        parsed: list[int]) -> None:
    text = '{"type":"document","body":{"persons":[' + ",".join(['{"n":0.5}'] * 1_300_000) + "]}}"
    assert len(text) > 12 * MB
    stranger = generate_signing_key()
    forged_header = json.dumps({"schema_version": 2, "alg": "EdDSA", "kid": PLATFORM_KEY.key_id,
                                "signature": "A" * 86 + "=="}).encode()
    cases = {
        "unsigned": text.encode(),  # a bare document
        "unknown_key": sign_payload(json.loads(text), stranger),
        "bad_signature": forged_header + b"\n" + text.encode(),
        "malformed": b'{"kid":"' + PLATFORM_KEY.key_id.encode() + b'","pad":' + text.encode()
                     + b',"signature":"AA=="}',  # the weight outside any payload
    }
    legacy = {"unknown_key": as_legacy(sign_payload(json.loads(text), stranger)),
              "legacy_too_large": as_legacy(sign_payload(json.loads(text), PLATFORM_KEY))}
    parsed.clear()  # (json.loads is patched everywhere: the test's own calls are done)
    for expected, raw in (*cases.items(), *legacy.items()):
        started = time.perf_counter()
        assert reason(raw) == expected
        print(f"{expected}: refused in {(time.perf_counter() - started) * 1000:.2f} ms")
    assert max(parsed) < 512  # the header lines only: no payload was parsed


def test_both_wire_forms_carry_the_same_signature() -> None:
    payload = {"type": "document", "text": "换行\n引号\" and \\ backslash", "n": [1, 2.5, None]}
    signed = sign_payload(payload, PLATFORM_KEY)
    header, body = signed.split(b"\n", 1)
    assert json.loads(header)["schema_version"] == 2 and json.loads(body) == payload
    legacy = as_legacy(signed)
    spaced = json.dumps(json.loads(legacy), indent=2).encode()  # any JSON whitespace
    for raw in (signed, legacy, spaced, bytearray(signed), bytearray(legacy)):
        assert verify(raw, platform_trust(), NOW, in_place=True).payload == payload
    # Fields in another order are not the layout the platform writes: refused, not parsed.
    fields = json.loads(legacy)
    shuffled = json.dumps({k: fields[k] for k in reversed(list(fields))}).encode()
    assert reason(shuffled) == "malformed"
    assert reason(signed.replace(b'"n":[1', b'"n":[7')) == "bad_signature"
    assert reason(legacy.replace(b"2.5", b"3.5")) == "bad_signature"
    padded = as_legacy(sign_payload({"type": "document", "pad": "x" * LEGACY_MAX_BYTES},
                                    PLATFORM_KEY))
    assert reason(padded) == "legacy_too_large"


@pytest.mark.parametrize("size", [0, 23, 24, 255, 256, 65535, 65536, 2 * MB])
def test_the_signed_structure_is_cose_sig_structure(size: int) -> None:
    protected = cbor2.dumps({1: -8, 4: bytes.fromhex(PLATFORM_KEY.key_id)})
    payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    assert signed_bytes(protected, payload) == sig_structure(protected, payload)
    # Verified in place, in a buffer as the receiver hands it on: the same verdict.
    raw = sign_payload({"type": "document", "pad": "x" * size}, PLATFORM_KEY)
    mapped = mmap.mmap(-1, len(raw))
    mapped[:] = raw
    assert verify(mapped, platform_trust(), NOW, in_place=True).payload["pad"] == "x" * size


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30)


@settings(max_examples=300, deadline=None)
@given(json_values, st.sampled_from([None, 1, 2]), st.integers(0, 4))
def test_parsing_in_steps_reads_what_json_reads(value: Any, indent: int | None,
                                                levels: int) -> None:
    text = json.dumps(value, indent=indent, ensure_ascii=False)
    assert loads_in_steps(text, levels) == value
    for variant in (text + " x", text[:-1], "[" + text + ",]", " " + text + "\n", text + text):
        try:
            expected = json.loads(variant)
        except ValueError:
            with pytest.raises(ValueError):
                loads_in_steps(variant, levels)
            continue
        assert loads_in_steps(variant, levels) == expected


def item(qos: int, size: int = 10, name: str = "") -> _Item:
    return _Item(None, name, b"x" * size, 0, qos)


def test_a_full_queue_drops_the_oldest_qos0_message_first() -> None:
    queue = _Queue(3, 1000)
    first, second = item(1, name="a"), item(0, name="b")
    assert queue.put(first) == [] and queue.put(second) == [] and queue.put(item(1)) == []
    assert queue.put(item(1, name="d")) == [second]  # the QoS 0 one, though not the oldest
    assert queue.put(item(1, name="e")) == [first]  # none left: the oldest
    only_platform = _Queue(2, 1000)
    only_platform.put(item(1))
    only_platform.put(item(1))
    newcomer = item(0)
    assert only_platform.put(newcomer) == [newcomer]  # QoS 0 never pushes QoS 1 out
    by_bytes = _Queue(10, 100)
    by_bytes.put(item(0, 60))
    by_bytes.put(item(1, 30))
    assert [len(i.payload) for i in by_bytes.put(item(1, 50))] == [60]
    assert len(by_bytes) == 2


def test_floods_fill_bounded_queues_and_the_platform_messages_get_through(
        module_broker: Broker, tmp_path: Path) -> None:
    db_path = tmp_path / "gate.db"
    link = service(gate_journal(db_path), db_path, module_broker,
                   broker_options=broker_options(module_broker, client_id="bounded-gate"))
    state = Subscriber(module_broker, filters=[TOPICS.state], client_id="bounded-state")
    attacker = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bounded-attacker",
                           protocol=mqtt.MQTTv5)
    commands_held, command_in, document_in = (threading.Event() for _ in range(3))
    handle_command, handle_document = link.commands.handle, link.documents.handle

    def slow_command(*args: Any) -> Any:
        command_in.set()
        commands_held.wait(30)
        return handle_command(*args)

    def entered_document(*args: Any) -> Any:
        document_in.set()
        return handle_document(*args)

    link.commands.handle = slow_command  # type: ignore[method-assign]
    link.documents.handle = entered_document  # type: ignore[method-assign]
    slow = link.documents._lock  # a document being applied holds it
    now = SystemClock().now()
    _, command = signed_command(Action.NORMAL, compound_id=COMPOUND, gate_id=GATE,
                                key=PLATFORM_KEY, now=now)
    permits = signed_document(PERMITS, {"permits": []}, version=1, compound_id=COMPOUND,
                              key=PLATFORM_KEY, now=now)
    revocations = signed_document(DocumentKind.REVOCATIONS, {"pass_ids": ["x"]}, version=1,
                                  compound_id=COMPOUND, key=PLATFORM_KEY, now=now)
    roster = signed_document(ROSTER, {"persons": [person("p-1")]}, version=1,
                             compound_id=COMPOUND, key=PLATFORM_KEY, now=now)
    try:
        link.start()
        wait_until(lambda: link.connected, what="connected")
        attacker.connect(module_broker.host, module_broker.port)
        attacker.loop_start()
        slow.acquire()
        try:
            attacker.publish(TOPICS.documents(PERMITS), permits, qos=1)  # holds the thread
            attacker.publish(TOPICS.commands, command, qos=1)  # holds the other one
            wait_until(document_in.is_set, what="a document being applied")
            wait_until(command_in.is_set, what="a command being carried out")
            for i in range(300):
                attacker.publish(TOPICS.documents(ROSTER), b'{"junk": %d}' % i, qos=0)
                attacker.publish(TOPICS.commands, b'{"junk": %d}' % i, qos=0)
                if i == 150:  # the platform, in the middle of it
                    attacker.publish(TOPICS.documents(DocumentKind.REVOCATIONS), revocations,
                                     qos=1)
                    attacker.publish(TOPICS.documents(ROSTER), roster, qos=1)
            attacker.publish(TOPICS.commands, b"{}", qos=1).wait_for_publish(10)
            wait_until(lambda: link.inbox.snapshot().get("command_dropped", 0)
                       + MAX_QUEUED_COMMANDS >= 301, what="the commands flood received")
            wait_until(lambda: link.inbox.snapshot().get("document_dropped", 0)
                       + MAX_QUEUED_DOCUMENTS >= 302, what="the documents flood received")
            assert link.inbox.queued() == {"documents": MAX_QUEUED_DOCUMENTS,
                                           "commands": MAX_QUEUED_COMMANDS}
        finally:
            slow.release()
            commands_held.set()
        wait_until(lambda: link.versions() == {"permits": 1, "revocations": 1, "roster": 1},
                   what="every signed document applied")
        counters = link.inbox.snapshot()
        assert counters["document_dropped"] == 302 - MAX_QUEUED_DOCUMENTS
        assert counters["command_dropped"] == 301 - MAX_QUEUED_COMMANDS
        wait_until(lambda: link.inbox.queued() == {"documents": 0, "commands": 0},
                   what="queues drained")
        wait_until(lambda: (state.on(TOPICS.state) or [{}])[-1].get("inbound", {}).get(
            "document_dropped") == counters["document_dropped"], what="drops in the state")
    finally:
        attacker.loop_stop()
        attacker.disconnect()
        state.close()
        link.stop()


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_a_message_over_the_limit_is_refused_before_it_is_read(
        module_broker: Broker, tmp_path: Path, protocol: str,
        caplog: pytest.LogCaptureFixture) -> None:
    """MQTT 5: the broker knows our limit from CONNECT and never sends it. MQTT 3.1.1: its
    header is read, the rest is skipped unkept, and it is acknowledged so it never comes back."""
    db_path = tmp_path / "gate.db"
    options = broker_options(module_broker, client_id=f"limit-gate-{protocol}",
                             protocol=protocol, max_inbound_bytes=64 * 1024)
    platform = broker_options(module_broker, client_id=f"limit-platform-{protocol}",
                              persistent=False)
    small = signed_document(PERMITS, {"permits": []}, version=1, compound_id=COMPOUND,
                            key=PLATFORM_KEY, now=SystemClock().now())
    link = service(gate_journal(db_path), db_path, module_broker, broker_options=options)
    caplog.set_level(logging.WARNING)
    try:
        link.start()
        wait_until(lambda: link.connected, what="connected")
        publish(platform, [(TOPICS.documents(ROSTER), b"{" + b" " * (4 * MB) + b"}", False),
                           (TOPICS.documents(PERMITS), small, False)])
        wait_until(lambda: link.versions() == {"permits": 1}, what="the small one applied")
        refused = link.inbox.snapshot().get("oversized", 0)
        assert refused == (0 if protocol == "5" else 1)
        assert ("before reading it" in caplog.text) == (protocol == "3.1.1")
    finally:
        link.stop()
    again = service(gate_journal(db_path), db_path, module_broker, broker_options=options)
    try:
        again.start()
        wait_until(lambda: again.connected, what="connected again")
        time.sleep(1.0)  # a redelivery would come at once
        assert again.inbox.snapshot() == {}
    finally:
        again.stop()


def test_a_large_roster_holds_the_write_lock_for_a_small_part_of_its_handling(
        tmp_path: Path) -> None:
    face = [0.01 * (i % 50) for i in range(128)]
    persons = [person(f"p-{i}", f"h-{i}", name=f"居民 {i}",
                      face_encodings=[face] if i % 10 == 0 else None) for i in range(20_000)]
    persons.append(person("p-1", "h-1", name="twice"))  # a later entry wins, as it always did
    body = {"grids": [{"grid_id": "grid-7"}],
            "households": [{"household_id": f"h-{i}", "grid_id": "grid-7"}
                           for i in range(20_000)],
            "persons": persons}
    roster = signed_document(ROSTER, body, version=1, compound_id=COMPOUND, key=PLATFORM_KEY,
                             now=NOW)
    held: list[float] = []
    with GateApp(gate_settings(tmp_path), pin_factory=MockFactory()) as app:
        assert app.sync is not None
        conn: sqlite3.Connection = app.sync.db.conn
        began: list[float] = []

        def trace(sql: str) -> None:
            statement = sql.lstrip().upper()
            if statement.startswith("BEGIN IMMEDIATE"):
                began.append(time.perf_counter())
            elif statement.startswith(("COMMIT", "ROLLBACK")) and began:
                held.append(time.perf_counter() - began.pop())

        conn.set_trace_callback(trace)
        started = time.perf_counter()
        assert app.sync.inbox.process(TOPICS.documents(ROSTER), roster) == "document_applied"
        handling = time.perf_counter() - started
        conn.set_trace_callback(None)
        assert app.registry.person("p-19999") is not None
        assert app.registry.person("p-1").name == "twice"  # type: ignore[union-attr]
        assert len(app.registry.face_encodings()) == 2000
        assert app.sync.versions() == {"roster": 1}
        delta = {"persons": {"upsert": [person("p-5", "h-5", face_encodings=[face])],
                             "remove": ["p-0", "p-10"]}}
        assert app.sync.inbox.process(TOPICS.documents(ROSTER), signed_document(
            ROSTER, delta, version=2, base_version=1, compound_id=COMPOUND, key=PLATFORM_KEY,
            now=NOW)) == "document_applied"
        faces = app.registry.face_encodings()
        assert "p-5" in faces and "p-0" not in faces and "p-10" not in faces
        assert app.registry.person("p-0") is None
    assert len(held) == 1, held  # one write transaction for the whole document
    assert held[0] < 0.25 * handling, f"lock held {held[0]:.3f} s of {handling:.3f} s"
    print(f"roster of {len(roster) / MB:.1f} MB: handled in {handling:.2f} s, write lock held "
          f"{held[0] * 1000:.0f} ms")


def test_each_rejection_reason_is_logged_at_most_a_few_times_a_minute(
        module_broker: Broker, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    db_path = tmp_path / "gate.db"
    link = service(gate_journal(db_path), db_path, module_broker)
    caplog.set_level(logging.WARNING)
    try:
        for _ in range(50):
            link.inbox.process(TOPICS.documents(PERMITS), b"not json")
        lines = [r for r in caplog.records if "rejected message" in r.getMessage()]
        assert len(lines) == 10 and link.inbox.snapshot()["malformed"] == 50
    finally:
        link.stop()



def test_a_large_document_arrives_over_tls_as_over_tcp(secure_broker: Any,  # noqa: F811
                                                        tmp_path: Path) -> None:
    """A payload read into a memory map (sync.receive) over TLS, which reads in records."""
    broker, tls_port, pki = secure_broker
    secure = {"port": tls_port, "tls": True, "ca_file": pki["ca"], "cert_file": pki["gate"],
              "key_file": pki["gate_key"], "username": "gate-east",
              "password_file": tmp_path / "mqtt.password"}
    db_path = tmp_path / "gate.db"
    link = service(gate_journal(db_path), db_path, broker, broker_options=broker_options(
        broker, client_id="tls-large-gate", **secure))
    persons = [person(f"p-{i}", f"h-{i}", name="x" * 100) for i in range(3000)]
    roster = signed_document(ROSTER, {"persons": persons}, version=1, compound_id=COMPOUND,
                             key=PLATFORM_KEY, now=SystemClock().now())
    assert len(roster) > 8 * 64 * 1024  # far over BIG: read into a memory map
    kinds: list[type] = []
    submit = link.inbox.submit

    def recording(session: Any, message: Any) -> None:
        kinds.append(type(message.payload))
        submit(session, message)

    link.inbox.submit = recording  # type: ignore[method-assign]
    try:
        link.start()
        wait_until(lambda: link.connected, what="connected over TLS")
        publish(broker_options(broker, client_id="tls-large-platform", persistent=False,
                               **secure), [(TOPICS.documents(ROSTER), roster, False)])
        wait_until(lambda: link.inbox.snapshot() == {"document_applied": 1},
                   what="the roster applied")
        assert link.versions() == {"roster": 1} and kinds == [mmap.mmap]
    finally:
        link.stop()


def test_large_messages_refused_by_their_first_bytes_are_never_kept(
        module_broker: Broker, tmp_path: Path) -> None:
    """An unsigned or unknown-key 5 MB document is skipped as it streams in (the inbox never
    holds its payload); one naming the platform's key is read and its signature checked."""
    db_path = tmp_path / "gate.db"
    link = service(gate_journal(db_path), db_path, module_broker,
                   broker_options=broker_options(module_broker, client_id="screen-gate"))
    body = {"type": "document", "pad": "x" * (5 * MB)}
    forged_header = json.dumps({"schema_version": 2, "alg": "EdDSA", "kid": PLATFORM_KEY.key_id,
                                "signature": "A" * 86 + "=="}, separators=(",", ":")).encode()
    messages = [json.dumps(body).encode(), sign_payload(body, generate_signing_key()),
                forged_header + b"\n" + json.dumps(body).encode()]
    kept: list[int] = []
    submit = link.inbox.submit

    def recording(session: Any, message: Any) -> None:
        kept.append(len(message.payload))
        submit(session, message)

    link.inbox.submit = recording  # type: ignore[method-assign]
    try:
        link.start()
        wait_until(lambda: link.connected, what="connected")
        publish(broker_options(module_broker, client_id="screen-attacker", persistent=False),
                [(TOPICS.documents(PERMITS), m, False) for m in messages])
        wait_until(lambda: sum(link.inbox.snapshot().values()) == 3, what="all three refused")
        assert link.inbox.snapshot() == {"unsigned": 1, "unknown_key": 1, "bad_signature": 1}
        assert kept == [len(messages[2])]  # only the one that had to be verified was kept
    finally:
        link.stop()

"""Platform data coming in: versioned documents, signatures, gaps, replays, bad messages."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory
from pydantic import ValidationError

from edge.app import GateApp
from edge.settings import parse_settings
from gate.clock import ManualClock
from gate.faces.gallery import MAX_ENCODINGS_PER_PERSON, FaceGallery
from gate.model import Colour
from gate.passes import SigningKey, generate_signing_key
from gate.passes.keys import raw_public
from gate.store import open_database
from sync.bodies import PersonEntry
from sync.commands import Action
from sync.platform import PlatformError, signed_command, signed_document
from sync.signing import sign_payload
from sync.topics import DocumentKind
from tests.sync.support import (
    COMPOUND,
    GATE,
    NOW,
    PLATFORM_KEY,
    TOPICS,
    as_legacy,
    platform_trust,
)

ROSTER, PERMITS, TRUST = DocumentKind.ROSTER, DocumentKind.PERMITS, DocumentKind.TRUST
REVOCATIONS, POLICY = DocumentKind.REVOCATIONS, DocumentKind.POLICY
FACE = [0.01 * i for i in range(128)]


def gate_settings(tmp_path: Path, **mqtt: Any) -> Any:
    trust_path = tmp_path / "trust.json"
    platform_trust().save(trust_path)
    return parse_settings({
        "gate": {"gate_id": GATE, "compound_id": COMPOUND},
        "readers": [{"reader_id": "in-cam", "direction": "in", "camera": "0", "relay_pin": 17},
                    {"reader_id": "out-cam", "direction": "out", "camera": "0",
                     "relay_pin": 18}],
        "passes": {"trust_list": str(trust_path)},
        "storage": {"state_dir": str(tmp_path / "state")},
        "mqtt": {"enabled": True, "host": "127.0.0.1", "port": 1, "prefix": "gg", **mqtt},
    })


@pytest.fixture
def app(tmp_path: Path) -> Iterator[GateApp]:
    with GateApp(gate_settings(tmp_path), pin_factory=MockFactory()) as gate:
        yield gate


def doc(kind: DocumentKind, body: dict[str, Any], version: int, base: int | None = None,
        key: SigningKey = PLATFORM_KEY) -> bytes:
    return signed_document(kind, body, version=version, compound_id=COMPOUND, key=key,
                           now=NOW, base_version=base)


def send(app: GateApp, kind: DocumentKind, payload: bytes, *, gate_topic: bool = False) -> str:
    topic = TOPICS.gate_documents(kind) if gate_topic else TOPICS.documents(kind)
    assert app.sync is not None
    return app.sync.inbox.process(topic, payload)


def person(pid: str, household: str = "h-1", **kw: Any) -> dict[str, Any]:
    return {"person_id": pid, "household_id": household, "grid_id": "grid-7", **kw}


def outbox_requests(app: GateApp) -> list[dict[str, Any]]:
    rows = app.db.execute("SELECT payload FROM outbox WHERE topic = ? ORDER BY id",
                          [TOPICS.requests]).fetchall()
    return [json.loads(r[0])["data"] for r in rows]


def test_roster_snapshot_then_deltas_are_applied_and_faces_reach_the_gallery(
        app: GateApp, tmp_path: Path) -> None:
    faces_db = open_database(tmp_path / "faces.db")  # the real gallery on its own SQLite file
    gallery = FaceGallery(faces_db)
    assert app.sync is not None
    app.sync.attach_faces(gallery)
    snapshot = {"grids": [{"grid_id": "grid-7", "name": "七网格"}],
                "households": [{"household_id": "h-1", "grid_id": "grid-7", "name": "3-201"}],
                "persons": [person("p-101", name="张三", face_encodings=[FACE]),
                            person("p-102")]}
    assert send(app, ROSTER, doc(ROSTER, snapshot, 1)) == "document_applied"
    assert app.registry.person("p-101").name == "张三"  # type: ignore[union-attr]
    assert app.registry.household("h-1")["name"] == "3-201"  # type: ignore[index]
    assert gallery.counts() == {"p-101": 1}
    assert gallery.encodings("p-101")[0].tolist() == pytest.approx(FACE, abs=1e-6)  # float32
    delta = {"persons": {"upsert": [person("p-103", face_encodings=[FACE, FACE])],
                         "remove": ["p-101"]}}
    assert send(app, ROSTER, doc(ROSTER, delta, 2, base=1)) == "document_applied"
    assert app.registry.person("p-101") is None and app.registry.person("p-103") is not None
    assert gallery.counts() == {"p-103": 2}
    assert [m.person_id for m in gallery.search(FACE, k=1)] == ["p-103"]
    assert app.sync.versions() == {"roster": 2}
    # A restarted gate hands the stored encodings to a fresh gallery again.
    fresh = FaceGallery(open_database(tmp_path / "faces-fresh.db"))
    assert app.sync.attach_faces(fresh) == 1 and fresh.counts() == {"p-103": 2}
    faces_db.close()


def test_duplicate_replayed_and_out_of_order_deltas(app: GateApp) -> None:
    send(app, PERMITS, doc(PERMITS, {"permits": [{"person_id": "p-1", "colour": "green"}]}, 3))
    red = doc(PERMITS, {"upsert": [{"person_id": "p-1", "colour": "red"}]}, 4, base=3)
    yellow = doc(PERMITS, {"upsert": [{"person_id": "p-1", "colour": "yellow"}]}, 5, base=4)
    green = doc(PERMITS, {"upsert": [{"person_id": "p-1", "colour": "green"}]}, 6, base=5)
    assert send(app, PERMITS, red) == "document_applied"
    assert send(app, PERMITS, red) == "document_duplicate"  # QoS 1 delivered it twice
    # 6 arrives before 5: held aside, the platform is asked for a snapshot.
    assert send(app, PERMITS, green) == "document_gap"
    assert app.registry.permit("p-1").colour is Colour.RED  # type: ignore[union-attr]
    assert outbox_requests(app)[-1] == {"document": "permits", "have_version": 4,
                                        "reason": "delta 5->6 but version 4 held"}
    assert send(app, PERMITS, yellow) == "document_applied"  # closes the gap; 6 follows
    assert app.registry.permit("p-1").colour is Colour.GREEN  # type: ignore[union-attr]
    assert app.sync.versions()["permits"] == 6  # type: ignore[union-attr]
    assert send(app, PERMITS, red) == "document_stale"  # an old delta replayed: no effect
    assert app.registry.permit("p-1").colour is Colour.GREEN  # type: ignore[union-attr]


def test_a_gap_is_closed_by_a_snapshot_sent_to_this_gate(app: GateApp) -> None:
    send(app, REVOCATIONS, doc(REVOCATIONS, {"pass_ids": ["a"]}, 1))
    assert send(app, REVOCATIONS, doc(REVOCATIONS, {"add": ["c"]}, 3, base=2)) == "document_gap"
    answer = doc(REVOCATIONS, {"pass_ids": ["a", "b"]}, 2)
    assert send(app, REVOCATIONS, answer, gate_topic=True) == "document_applied"
    assert app.registry.revoked_pass_ids() == {"a", "b", "c"}  # snapshot 2, then delta 2->3
    removal = doc(REVOCATIONS, {"remove": ["a"]}, 4, base=3)
    assert send(app, REVOCATIONS, removal) == "document_applied"
    assert app.registry.revoked_pass_ids() == {"b", "c"}


def test_a_body_that_fails_validation_changes_nothing(app: GateApp) -> None:
    bad = {"persons": [person("p-1", face_encodings=[FACE[:127]])]}
    payload = sign_payload({"type": "document", "document": "roster", "mode": "snapshot",
                            "compound_id": COMPOUND, "version": 1,
                            "issued_at": "2026-11-22T08:00:00Z", "body": bad}, PLATFORM_KEY)
    assert send(app, ROSTER, payload) == "document_invalid"
    nan = {"persons": [person("p-1", face_encodings=[[float("nan")] * 128])]}
    text = json.dumps({"type": "document", "document": "roster", "mode": "snapshot",
                       "compound_id": COMPOUND, "version": 1,
                       "issued_at": "2026-11-22T08:00:00Z", "body": nan})
    assert "NaN" in text
    assert send(app, ROSTER, sign_payload(json.loads(text), PLATFORM_KEY)) == "document_invalid"
    assert app.registry.person("p-1") is None and app.sync.versions() == {}  # type: ignore


def test_a_person_may_bring_as_many_encodings_as_the_gallery_keeps() -> None:
    # One limit: what a roster document may carry is what the gallery stores (100).
    entry = {"person_id": "p-1", "household_id": "h-1"}
    most = PersonEntry.model_validate(
        {**entry, "face_encodings": [FACE] * MAX_ENCODINGS_PER_PERSON})
    assert most.face_encodings is not None and len(most.face_encodings) == 100
    with pytest.raises(ValidationError, match="at most 100"):
        PersonEntry.model_validate(
            {**entry, "face_encodings": [FACE] * (MAX_ENCODINGS_PER_PERSON + 1)})


def test_policy_documents_replace_the_policy_and_survive_a_restart(tmp_path: Path) -> None:
    settings = gate_settings(tmp_path)
    policy = {"policy": {"version": "platform-7", "yellow": {"exits_per_household": 2}}}
    with GateApp(settings, pin_factory=MockFactory()) as app:
        assert send(app, POLICY, doc(POLICY, policy, 1)) == "document_applied"
        assert app.rules.policy.version == "platform-7"
        assert app.rules.policy.yellow.exits_per_household == 2
        with pytest.raises(PlatformError, match="snapshots only"):
            doc(POLICY, policy, 2, base=1)
        hand_made = sign_payload({"type": "document", "document": "policy", "mode": "delta",
                                  "compound_id": COMPOUND, "version": 2, "base_version": 1,
                                  "issued_at": "2026-11-22T08:00:00Z", "body": policy},
                                 PLATFORM_KEY)
        assert send(app, POLICY, hand_made) == "malformed"
    with GateApp(settings, pin_factory=MockFactory()) as again:
        assert again.rules.policy.version == "platform-7"


def trust_entry(key: SigningKey, scope: str = "all") -> dict[str, Any]:
    return {"kid": key.key_id, "public_key": base64.b64encode(raw_public(key.public_key)).decode(),
            "scope": scope}


def test_key_rotation_through_the_trust_document(app: GateApp) -> None:
    new = generate_signing_key()
    visitor = generate_signing_key()
    app.rules.trust.add(visitor.key_id, visitor.public_key, "visitor")  # the panel's local key
    rotation = doc(TRUST, {"keys": [trust_entry(new)]}, 1)
    assert send(app, TRUST, rotation) == "document_applied"
    assert app.checkpoint.rules is app.rules  # the checkpoint verifies with the new list
    assert {k.key_id for k in app.rules.trust} == {new.key_id, visitor.key_id}
    old_signed = doc(PERMITS, {"permits": []}, 1)
    assert send(app, PERMITS, old_signed) == "unknown_key"  # the retired key signs no more
    assert send(app, PERMITS, doc(PERMITS, {"permits": []}, 1, key=new)) == "document_applied"
    # A trust list without any platform key would lock the platform out: refused.
    lockout = doc(TRUST, {"keys": [trust_entry(visitor, "visitor")]}, 2, key=new)
    assert send(app, TRUST, lockout) == "document_invalid"
    assert new.key_id in {k.key_id for k in app.rules.trust}


def test_forged_unsigned_malformed_oversized_and_unknown_messages_are_counted_never_raised(
        app: GateApp, caplog: pytest.LogCaptureFixture) -> None:
    stranger = generate_signing_key()
    visitor = generate_signing_key()
    app.rules.trust.add(visitor.key_id, visitor.public_key, "visitor")
    signed = doc(PERMITS, {"permits": []}, 1)
    genuine = json.loads(as_legacy(signed))  # the JSON-envelope form of the same message
    altered = dict(genuine, payload=genuine["payload"].replace('"version":1', '"version":9'))
    unsigned = json.loads(genuine["payload"])
    cases = {
        "unknown_key": doc(PERMITS, {"permits": []}, 1, key=stranger),
        "bad_signature": json.dumps(altered).encode(),
        "key_not_allowed": doc(PERMITS, {"permits": []}, 1, key=visitor),
        "unsigned": json.dumps(unsigned).encode(),
        "malformed": b"\xff\xfe not json",
        "oversized": b"{" + b" " * (17 * 1024 * 1024) + b"}",
        "unknown_type": sign_payload({"type": "banana"}, PLATFORM_KEY),
    }
    for reason, payload in cases.items():
        caplog.clear()
        assert send(app, PERMITS, payload) == reason, reason
        assert f"rejected message on {TOPICS.documents(PERMITS)}: {reason}" in caplog.text
    assert app.sync.inbox.process(f"{TOPICS.compound}/docs/weather", b"{}") == "unknown_topic"
    assert send(app, ROSTER, doc(PERMITS, {"permits": []}, 1)) == "wrong_topic"
    for junk in (b"", b"[]", b"null", b'{"kid": 1, "signature": 2}', b"1e999999", b"[" * 100000):
        assert send(app, PERMITS, junk) in {"malformed", "unsigned"}
    # The header-line form, its payload altered after signing.
    assert send(app, PERMITS, signed.replace(b'"version":1', b'"version":9')) == "bad_signature"
    counters = app.sync.inbox.snapshot()  # type: ignore[union-attr]
    assert counters["unknown_key"] == 1 and counters["bad_signature"] == 2
    assert app.sync.versions() == {}  # type: ignore[union-attr]
    forged = [a for a in app.journal.alerts() if a["kind"] == "forged_document"]
    assert len(forged) == 1 and forged[0]["severity"] == "urgent"  # one a minute, not a flood


def command(action: Action, **kw: Any) -> bytes:
    from gate.clock import SystemClock

    options = {"compound_id": COMPOUND, "gate_id": GATE, "key": PLATFORM_KEY,
               "now": SystemClock().now()} | kw
    return signed_command(action, **options)[1]


def run_command(app: GateApp, payload: bytes) -> str:
    assert app.sync is not None
    return app.sync.inbox.process(TOPICS.commands, payload)


def results(app: GateApp) -> list[dict[str, Any]]:
    rows = app.db.execute("SELECT payload FROM outbox WHERE kind = 'command_result' "
                          "ORDER BY id").fetchall()
    return [json.loads(r[0])["data"] for r in rows]


def test_a_signed_open_command_releases_the_door_once_and_is_recorded(app: GateApp) -> None:
    relay = app.doors["in-cam"].relay
    assert run_command(app, command(Action.OPEN, reader_id="in-cam", reason="ambulance")) \
        == "command_accepted"
    assert relay.value == 1
    [passage] = app.journal.recent_passages(1)
    assert passage["method"] == "override" and passage["actor"] == "platform:platform"
    assert "ambulance" in passage["reason_en"]
    assert results(app)[-1]["accepted"] is True


def test_forged_replayed_expired_and_misaddressed_commands_never_open_the_door(
        app: GateApp) -> None:
    relay = app.doors["in-cam"].relay
    good = command(Action.OPEN, reader_id="in-cam")
    forged = command(Action.OPEN, reader_id="in-cam", key=generate_signing_key())
    from gate.clock import SystemClock

    past = SystemClock().now() - timedelta(minutes=10)
    assert run_command(app, forged) == "unknown_key"
    assert run_command(app, command(Action.OPEN, reader_id="in-cam", now=past)) \
        == "command_refused"  # expired
    assert run_command(app, command(Action.OPEN, reader_id="in-cam", ttl_s=3600)) \
        == "command_refused"  # valid far too long
    assert run_command(app, command(Action.OPEN, reader_id="in-cam", gate_id="gate-west")) \
        == "command_refused"
    assert run_command(app, command(Action.OPEN, reader_id="nowhere")) == "command_refused"
    assert relay.value == 0 and app.journal.recent_passages() == []
    assert run_command(app, good) == "command_accepted"
    app.doors["in-cam"].set_mode(app.doors["in-cam"].mode)  # relock before the replay
    assert relay.value == 0
    assert run_command(app, good) == "command_duplicate"  # the same message again
    original = json.loads(good.split(b"\n", 1)[1])  # the signed payload after the header
    replay = sign_payload(dict(original, command_id="another-id"), PLATFORM_KEY)
    assert run_command(app, replay) == "command_refused"  # its nonce under a new id: a replay
    assert relay.value == 0
    reasons = [r["reason"] for r in results(app) if not r["accepted"]]
    assert any("expired" in r for r in reasons) and any("replay" in r for r in reasons)
    kinds = {a["kind"] for a in app.journal.alerts()}
    assert {"forged_command"} <= kinds


def test_lockdown_hold_open_and_normal_commands(app: GateApp) -> None:
    door = app.doors["in-cam"]
    assert run_command(app, command(Action.LOCKDOWN, reason="drill")) == "command_accepted"
    assert door.mode.value == "lockdown" and app.doors["out-cam"].mode.value == "lockdown"
    assert run_command(app, command(Action.OPEN, reader_id="in-cam")) == "command_refused"
    assert door.relay.value == 0
    assert run_command(app, command(Action.HOLD_OPEN, seconds=60)) == "command_accepted"
    assert door.mode.value == "hold_open" and door.relay.value == 1
    assert run_command(app, command(Action.HOLD_OPEN, seconds=10 * 3600)) == "command_refused"
    assert run_command(app, command(Action.NORMAL)) == "command_accepted"
    assert door.mode.value == "normal" and door.relay.value == 0
    modes = [e["detail"] for e in app.journal.door_events(20) if e["kind"] == "mode"]
    assert any("drill" in m for m in modes)



def test_the_real_face_gallery_receives_the_roster(app: GateApp) -> None:
    gallery_module = pytest.importorskip("gate.faces.gallery")
    from gate.store import open_database

    gallery = gallery_module.FaceGallery(open_database(app.db_path))
    assert app.sync is not None
    app.sync.attach_faces(gallery)
    snapshot = {"persons": [person("p-1", face_encodings=[FACE]),
                            person("p-2", face_encodings=[FACE, FACE]), person("p-3")]}
    assert send(app, ROSTER, doc(ROSTER, snapshot, 1)) == "document_applied"
    assert gallery.persons() == ["p-1", "p-2"]
    delta = {"persons": {"upsert": [person("p-2", face_encodings=[])], "remove": ["p-1"]}}
    assert send(app, ROSTER, doc(ROSTER, delta, 2, base=1)) == "document_applied"
    assert gallery.persons() == []


def test_a_redelivered_command_is_acknowledged_quietly_with_one_result(app: GateApp) -> None:
    """QoS 1 redelivers a command whose PUBACK was lost: no alarm, no contradicting result."""
    good = command(Action.OPEN, reader_id="in-cam")
    assert run_command(app, good) == "command_accepted"
    assert run_command(app, good) == "command_duplicate"
    assert run_command(app, good) == "command_duplicate"
    assert [r["accepted"] for r in results(app)] == [True]
    assert not [a for a in app.journal.alerts() if a["kind"] == "forged_command"]
    assert app.sync is not None and app.sync.inbox.snapshot()["command_duplicate"] == 2


def test_a_captured_command_cannot_be_replayed_after_the_clock_goes_back(
        tmp_path: Path) -> None:
    """A Pi without RTC boots with an old time; nonces pruned by then must not matter."""
    clock = ManualClock(NOW)
    settings = gate_settings(tmp_path)

    def signed(at: datetime, **kw: Any) -> bytes:
        return command(Action.OPEN, reader_id="in-cam", now=at, ttl_s=120, **kw)

    captured = signed(NOW)  # anyone subscribed to the broker can record this
    with GateApp(settings, clock=clock, pin_factory=MockFactory()) as app:
        assert run_command(app, captured) == "command_accepted"
        clock.advance(8 * 86400)  # past the nonce's keeping time
        assert run_command(app, signed(clock.now(), reason="later")) == "command_accepted"
        app.doors["in-cam"].set_mode(app.doors["in-cam"].mode)  # relock
    with GateApp(settings, clock=clock, pin_factory=MockFactory()) as app:
        clock.set(NOW + timedelta(seconds=30))  # rebooted with an old saved time
        relay = app.doors["in-cam"].relay
        assert run_command(app, captured) == "command_refused"
        assert relay.value == 0
        assert "replay" in results(app)[-1]["reason"]
        fresh = signed(NOW + timedelta(days=8, seconds=60))  # the platform's time is right
        assert run_command(app, fresh) == "command_refused"  # the gate's is not: refused
        assert "clock" in results(app)[-1]["reason"] and relay.value == 0
        clock.set(NOW + timedelta(days=8, seconds=60))  # clock set right (NTP)
        assert run_command(app, signed(clock.now())) == "command_accepted"


def test_a_trust_list_whose_only_platform_key_expired_is_refused_and_alerted(
        app: GateApp) -> None:
    now = app.clock.now()
    retired = dict(trust_entry(PLATFORM_KEY), not_after=(now - timedelta(days=1)).isoformat())
    assert send(app, TRUST, doc(TRUST, {"keys": [retired]}, 1)) == "document_invalid"
    assert PLATFORM_KEY.key_id in {k.key_id for k in app.rules.trust}
    alerts = [a for a in app.journal.alerts() if a["kind"] == "trust_refused"]
    assert len(alerts) == 1 and alerts[0]["severity"] == "urgent"
    # The platform can still speak: a later roster and a good trust list are accepted.
    roster = {"persons": [person("p-1")], "households": [{"household_id": "h-1"}]}
    assert send(app, ROSTER, doc(ROSTER, roster, 1)) == "document_applied"
    future = dict(trust_entry(PLATFORM_KEY), not_after=(now + timedelta(days=30)).isoformat())
    other = dict(trust_entry(generate_signing_key()), not_after=retired["not_after"])
    assert send(app, TRUST, doc(TRUST, {"keys": [other, future]}, 2)) == "document_applied"

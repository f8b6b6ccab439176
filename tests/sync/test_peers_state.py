"""Peer gates' online state is believed only as their gate key signed it, and never older than
what was heard: a forged or replayed retained `online:false` (or `online:true`) cannot make
another gate's compound view wrong. What the platform reads of the state message stays."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from gpiozero.pins.mock import MockFactory
from paho.mqtt.enums import CallbackAPIVersion

from edge.app import GateApp
from gate.clock import ManualClock
from gate.journal.queries import utc_text
from gate.passes import TrustList, generate_signing_key
from sync.messages import StateMessage
from sync.signing import sign_payload
from tests.fixtures.broker import Broker
from tests.sync.peer_gate import GATE_KEYS, alerts_of, peer_settings, peers, running
from tests.sync.support import COMPOUND, PREFIX, wait_until

ROOT = f"{PREFIX}/v1/{COMPOUND}"
B_STATE = f"{ROOT}/gate-b/state"
T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def state(gate: str, online: bool, connection: int, *, key: Any = None,
          outer_online: bool | None = None, proof: bool = True, **fields: Any) -> bytes:
    """A state message as a gate publishes it (its proof signed by `key`, the gate's own by
    default), or altered as an attacker would."""
    signed = {"type": "peer_state", "schema_version": 1, "compound_id": COMPOUND,
              "gate_id": gate, "online": online, "connection": connection,
              "at": utc_text(T0)} | fields
    peer = sign_payload(signed, key or GATE_KEYS[gate]).decode() if proof else None
    return StateMessage(gate_id=gate, compound_id=COMPOUND,
                        online=online if outer_online is None else outer_online, at=T0,
                        peer=peer).model_dump_json().encode()


def test_forged_and_replayed_states_are_refused_counted_and_change_nothing(
        tmp_path: Path) -> None:
    clock = ManualClock(T0)
    settings = peer_settings(tmp_path, "gate-a", None)
    with GateApp(settings, clock=clock, pin_factory=MockFactory()) as a:
        link, view = peers(a), a.compound
        assert view is not None
        view.link_up()  # as if connected: only the peers' states age the view now
        assert link.process(B_STATE, state("gate-b", True, 100)) == "state_online"
        clock.advance(5)
        assert view.age_s() == 0.0
        # Nothing that is not gate-b's own signed word takes it offline.
        forged = [
            ("peer_state_unsigned", state("gate-b", False, 101, proof=False)),
            ("peer_state_unsigned", b""),  # "cleared" while its key is trusted
            ("peer_state_malformed", b'{"schema_version":1,"gate_id":"gate-b"}'),
            ("peer_state_malformed", b"not json"),
            ("peer_state_wrong_key", state("gate-b", False, 101, key=GATE_KEYS["gate-c"])),
            ("peer_state_unknown_key", state("gate-b", False, 101, key=generate_signing_key())),
            ("peer_state_mismatch", state("gate-b", True, 101, outer_online=False)),
            ("peer_state_wrong_key", state("gate-c", False, 101)),  # c's word on b's topic
            ("peer_state_mismatch", state("gate-b", False, 101, gate_id="gate-c",
                                          key=GATE_KEYS["gate-b"])),
            ("peer_state_malformed", state("gate-b", False, 101, extra=1)),
        ]
        for reason, payload in forged:
            assert link.process(B_STATE, payload) == reason, reason
        assert view.age_s() == 0.0
        # Its genuine Last Will (same connection, offline) is believed...
        assert link.process(B_STATE, state("gate-b", False, 100)) == "state_offline"
        clock.advance(7)
        assert view.age_s() == 7.0
        # ... and replaying its earlier "online" cannot bring it back, nor can a signed state
        # of an older connection; the next connection can.
        assert link.process(B_STATE, state("gate-b", True, 100)) == "peer_state_replayed"
        assert link.process(B_STATE, state("gate-b", True, 99)) == "peer_state_replayed"
        assert view.age_s() == 7.0
        assert link.process(B_STATE, state("gate-b", True, 101)) == "state_online"
        assert view.age_s() == 0.0
        counts = link.snapshot()
        assert counts["peer_state_unsigned"] == 2 and counts["peer_state_replayed"] == 2
        assert counts["peer_state_mismatch"] == 2 and counts["peer_state_malformed"] == 3
        assert counts["peer_state_wrong_key"] == 2 and counts["peer_state_unknown_key"] == 1
        assert len(alerts_of(a, "forged_peer")) == 1  # forged (not unsigned): one a minute
        # What was heard survives a restart: the replay is refused by the next run too.
        assert link.process(B_STATE, state("gate-b", False, 101)) == "state_offline"
    with GateApp(settings, clock=clock, pin_factory=MockFactory()) as again:
        assert again.compound is not None
        assert peers(again).process(B_STATE, state("gate-b", True, 101)) == (
            "peer_state_replayed")
        # A gate removed from the trust list may have its retained state cleared.
        again.rules.set_trust(_without_gate_b(again))
        assert peers(again).process(B_STATE, b"") == "peer_state_cleared"


def _without_gate_b(app: GateApp) -> TrustList:
    trust = TrustList()
    for key in app.rules.trust:
        if key.gate_id != "gate-b":
            trust.add(key.key_id, key.public_key, key.scope, key.not_after, gate_id=key.gate_id)
    return trust


class _Retained:
    """A plain MQTT client (the attacker, or the platform) on a gate's state topic."""

    def __init__(self, broker: Broker, topic: str) -> None:
        self.payloads: list[bytes] = []
        self._got = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"state-{time.time_ns()}",
                                  protocol=mqtt.MQTTv5)
        self.client.on_message = self._message
        self.client.connect(broker.host, broker.port)
        self.client.subscribe(topic, qos=1)
        self.client.loop_start()

    def _message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self.payloads.append(bytes(message.payload))

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1, retain=True).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.mark.broker
def test_a_forged_or_replayed_retained_state_through_the_broker_leaves_the_view_right(
        own_broker: Broker, tmp_path: Path) -> None:
    settings_b = peer_settings(tmp_path, "gate-b", own_broker)
    watcher = _Retained(own_broker, B_STATE)
    try:
        with running(peer_settings(tmp_path, "gate-a", own_broker)) as a:
            assert a.compound is not None
            with running(settings_b):
                wait_until(lambda: any(json.loads(p)["online"] for p in watcher.payloads),
                           what="gate-b's online state")
                genuine_online = next(p for p in watcher.payloads if json.loads(p)["online"])
                # The platform reads the state message as it always did.
                seen = json.loads(genuine_online)
                assert (seen["gate_id"], seen["online"], seen["compound_id"]) == (
                    "gate-b", True, COMPOUND)
                wait_until(lambda: a.compound.age_s() == 0, what="gate-a hears everyone")  # type: ignore[union-attr]
                # A retained, unsigned "gate-b is offline" (what the platform would write).
                forged = StateMessage(gate_id="gate-b", compound_id=COMPOUND, online=False,
                                      at=datetime.now(UTC)).model_dump_json().encode()
                watcher.publish(B_STATE, forged)
                wait_until(lambda: peers(a).snapshot().get("peer_state_unsigned", 0) >= 1,
                           what="the forged state refused")
                assert a.compound.age_s() == 0
            # gate-b stopped: its signed offline state is believed.
            wait_until(lambda: a.compound.age_s() > 0, what="gate-b offline in gate-a's view")  # type: ignore[union-attr]
            # Its earlier "online", replayed retained, is refused: gate-a still counts it out.
            watcher.publish(B_STATE, genuine_online)
            wait_until(lambda: peers(a).snapshot().get("peer_state_replayed", 0) >= 1,
                       what="the replayed state refused")
            assert a.compound.age_s() > 0
            # gate-b back: a new connection, believed.
            with running(settings_b):
                wait_until(lambda: a.compound.age_s() == 0, what="gate-b back in gate-a's view")  # type: ignore[union-attr]
    finally:
        watcher.close()

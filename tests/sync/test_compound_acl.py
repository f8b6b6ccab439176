"""The peer link through the shipped compound broker (config/mosquitto-compound.conf and its
ACL as shipped), each gate logged in over TLS with its own user: passages, catch-up requests,
replays and signed states all pass, and no gate may write another gate's peer topics."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from edge.settings import Settings
from gate.model import Colour
from gate.vocabulary import Rule
from tests.fixtures.broker import ConfiguredBroker, free_port
from tests.sync.bridge_support import PREFIX, ROOT, Site, compound_broker, make_site, puback_reason
from tests.sync.peer_gate import (
    alerts_of,
    holds,
    passage_id,
    peer_settings,
    peers,
    running,
    scan,
)
from tests.sync.support import wait_until

pytestmark = pytest.mark.broker
GATES = ("gate-a", "gate-b", "gate-c")
ALLOWED = (0x00, 0x10)  # success, or "no subscribers"
NOT_AUTHORIZED = 0x87


def logged_in(root: Path, gate: str, broker: ConfiguredBroker, site: Site) -> Settings:
    """A gate of the compound on the compound broker: TLS, its gate id as user name."""
    return peer_settings(root, gate, broker, prefix=PREFIX, tls=True,
                         ca_file=str(site.pki["ca"]), username=gate,
                         password_file=str(site.passwords[gate]))


def publish_refusals(*apps: Any) -> int:
    return sum(peers(app).snapshot().get("peer_publish_refused", 0) for app in apps)


def test_the_shipped_acl_carries_the_peer_link_and_keeps_each_gate_to_its_own_topics(
        tmp_path: Path) -> None:
    site = make_site(tmp_path / "site", GATES)
    # No platform behind the bridge here: the compound works alone (the bridge keeps retrying).
    broker = compound_broker(site, tmp_path / "compound", free_port())
    broker.start()
    try:
        settings = {g: logged_in(tmp_path, g, broker, site) for g in GATES}
        with running(settings["gate-a"]) as a, running(settings["gate-b"]) as b:
            wait_until(lambda: a.sync.connected and b.sync.connected, what="both logged in")  # type: ignore[union-attr]
            # Signed states (own topic written, every gate's read): each hears the other.
            wait_until(lambda: a.compound.age_s() == 0 and b.compound.age_s() == 0,  # type: ignore[union-attr]
                       what="both views current")
            time.sleep(0.3)
            y1 = scan(a, "y1", household="h-7", colour=Colour.YELLOW)
            assert y1.decision.rule == Rule.YELLOW_EXIT
            wait_until(lambda: holds(b, passage_id(y1)), what="y1's exit at gate-b")
            y2 = scan(b, "y2", household="h-7", colour=Colour.YELLOW)
            assert y2.decision.rule == Rule.YELLOW_HOUSEHOLD_QUOTA
            wait_until(lambda: holds(a, passage_id(y2)), what="y2's refusal at gate-a")
            # A new gate asks (its own catch-up topic) and both answer (replay/gate-c/PEER).
            with running(settings["gate-c"]) as c:
                wait_until(lambda: holds(c, passage_id(y1)) and holds(c, passage_id(y2)),
                           what="the compound's passages at the new gate")
                counts = peers(c).snapshot()
                assert counts["peer_replayed"] == 2 and counts["peer_replay_done"] >= 2
                assert counts["peer_catchup_sent"] >= 1
                wait_until(lambda: c.compound.age_s() == 0, what="gate-c hears everyone")  # type: ignore[union-attr]
                assert publish_refusals(a, b, c) == 0
                assert not alerts_of(a, "forged_peer") and not alerts_of(c, "forged_peer")
        # Each gate writes its own peer topics only: gate-c cannot speak for gate-a, nor
        # answer gate-a in gate-b's name, nor mark gate-a offline.
        own = f"{ROOT}/gate-c"
        for topic in (f"{own}/peers/passages", f"{own}/peers/catchup", f"{own}/state",
                      f"{ROOT}/gate-a/peers/replay/gate-c"):
            assert puback_reason(site, broker.port, "gate-c", topic) in ALLOWED, topic
        for topic in (f"{ROOT}/gate-a/peers/passages", f"{ROOT}/gate-a/peers/catchup",
                      f"{ROOT}/gate-c/peers/replay/gate-b", f"{ROOT}/gate-a/peers/replay/gate-b",
                      f"{ROOT}/gate-a/state"):
            assert puback_reason(site, broker.port, "gate-c", topic) == NOT_AUTHORIZED, topic
    finally:
        broker.stop()

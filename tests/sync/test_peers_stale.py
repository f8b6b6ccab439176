"""Compound anti-passback while a gate's link is cut as a pulled cable cuts it (no connection
closed: only keep-alives tell), end to end on a real broker: with the view current a repeated
exit through another gate is a passback; once the gate has noticed and the view is older than
`stale_after_s`, the policy's stale action applies. How long noticing takes is printed."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from edge.bench.peers import Relay, compound_setup, noticed_after, running, settled, show_pass
from gate.vocabulary import AlertKind, Rule
from tests.fixtures.broker import Broker
from tests.sync.support import wait_until

pytestmark = [pytest.mark.broker, pytest.mark.slow]
KEEPALIVE_S = 5
STALE_AFTER_S = 1


@pytest.mark.parametrize(("action", "rule"), [("deny", Rule.COMPOUND_STALE),
                                              ("guard", Rule.COMPOUND_GUARD)])
def test_compound_passback_with_the_link_cut_follows_the_stale_action(
        own_broker: Broker, tmp_path: Path, action: str, rule: Rule) -> None:
    relay = Relay(own_broker.port)  # gate-a reaches the broker through it
    setup = compound_setup(tmp_path, {"gate-a": relay.port, "gate-b": own_broker.port},
                           keepalive_s=KEEPALIVE_S,
                           policy={"compound": {"stale_after_s": STALE_AFTER_S,
                                                "anti_passback_when_stale": action}})
    key = setup.pass_key
    try:
        with running(setup.settings["gate-a"]) as a, running(setup.settings["gate-b"]) as b:
            settled(a, b)
            time.sleep(0.3)
            # The view current: g1 out by gate-b, then out by gate-a: a compound passback
            # (the readers are soft: let out, alerted).
            first = show_pass(b, key, "g1", household="h-1")
            event = next(e.event_id for e in first.events if e.kind == "passage")
            wait_until(lambda: a.db.execute("SELECT 1 FROM passages WHERE event_id = ?",
                                            [event]).fetchone() is not None,
                       what="g1's exit at gate-a")
            again = show_pass(a, key, "g1", household="h-1")
            assert again.decision.granted
            assert AlertKind.PASSBACK in [x.kind for x in again.decision.alerts]
            # The link silently cut: gate-a notices by its keep-alive, gate-b by gate-a's Will.
            cut = time.monotonic()
            relay.freeze()
            own = noticed_after(a, cut, 4 * KEEPALIVE_S + 10)
            peer = noticed_after(b, cut, 4 * KEEPALIVE_S + 10)
            print(f"\nsilent cut, keepalive {KEEPALIVE_S} s: gate-a noticed its link down "
                  f"after {own:.1f} s, gate-b noticed gate-a gone after {peer:.1f} s; each view "
                  f"stale {STALE_AFTER_S} s later")
            assert 0 < own <= 2 * KEEPALIVE_S + 3 and 0 < peer <= 3 * KEEPALIVE_S + 3
            wait_until(lambda: a.compound.age_s() > STALE_AFTER_S, what="gate-a's view stale")  # type: ignore[union-attr]
            # g2 went out by gate-b before the cut reached anything; now at gate-a, which
            # cannot know: the stale action, not a guess.
            stale = show_pass(a, key, "g2", household="h-2")
            assert stale.decision.rule == rule and not stale.decision.granted
            # gate-b, whose own link is up, sees gate-a gone and applies the same policy.
            wait_until(lambda: b.compound.age_s() > STALE_AFTER_S, what="gate-b's view stale")  # type: ignore[union-attr]
            assert show_pass(b, key, "g4", household="h-4").decision.rule == rule
    finally:
        relay.close()


"""A gate whose database is made anew numbers its passages from 1 again: its peers must not take
its new passages for ones they hold. Each database has its own epoch, carried in every peer
message and catch-up request; what a gate holds of a peer counts per (gate, epoch)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from gate.store import database_path
from sync.peer_store import Mark
from tests.fixtures.broker import Broker
from tests.sync.peer_gate import holds, passage_id, peer_settings, peers, running, scan, sent_all
from tests.sync.support import wait_until

pytestmark = pytest.mark.broker


def test_a_gate_whose_database_was_wiped_is_caught_up_with_from_its_new_epoch(
        module_broker: Broker, tmp_path: Path) -> None:
    settings_b = peer_settings(tmp_path, "gate-b", module_broker, tag="wiped")
    # gate-a gets a new client id (a new broker session) at each start: it must ask.
    settings_a = lambda: peer_settings(tmp_path, "gate-a", module_broker)  # noqa: E731
    with running(settings_b) as b, running(settings_a()) as a:
        wait_until(lambda: a.sync.connected and b.sync.connected, what="both connected")  # type: ignore[union-attr]
        time.sleep(0.3)  # both catch-up rounds of the start are over
        before = [passage_id(scan(b, f"p-{i}", household=f"h-{i}")) for i in range(3)]
        wait_until(lambda: all(holds(a, e) for e in before), what="gate-b's first passages")
        first_epoch = peers(b).epoch
        assert peers(a).high_water()["gate-b"] == Mark(first_epoch, 3)
    # gate-a is away; gate-b's database is lost and made anew (its key stays).
    db = database_path(settings_b.storage.state_dir)
    for path in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        path.unlink(missing_ok=True)
    with running(settings_b) as b:
        assert peers(b).epoch != first_epoch
        after = [passage_id(scan(b, f"q-{i}", household=f"q-{i}")) for i in range(2)]
        assert [r[0] for r in b.db.execute("SELECT id FROM passages ORDER BY id")] == [1, 2]
        wait_until(lambda: sent_all(b), what="gate-b's new passages at the broker")
        with running(settings_a()) as a:
            # gate-a holds seq 3 of gate-b's first epoch: "after 3" would miss seqs 1 and 2 of
            # the new one. gate-b sees an older epoch in the request and answers with the
            # rules' look-back instead.
            wait_until(lambda: all(holds(a, e) for e in after), what="the new epoch's passages")
            assert all(holds(a, e) for e in before)
            assert peers(a).high_water()["gate-b"] == Mark(peers(b).epoch, 2)
            live = passage_id(scan(b, "q-live", household="q-9"))
            wait_until(lambda: holds(a, live), what="a live passage of the new epoch")
            assert peers(a).high_water()["gate-b"] == Mark(peers(b).epoch, 3)
            # Its states, numbered by time, are newer than those heard before the wipe.
            wait_until(lambda: a.compound.age_s() == 0, what="gate-b online in gate-a's view")  # type: ignore[union-attr]

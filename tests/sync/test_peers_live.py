"""Live codes across the compound, on a real Mosquitto: a code that went through one gate is
refused at the other once the passage (with its `live_code`) reached it."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from edge.app import GateApp
from gate.checkpoint import Outcome
from gate.clock import SystemClock
from gate.model import Colour, Method
from gate.observation import Observation
from gate.passes import PassClaims, encode_pass
from gate.passes.live import STEP_S, encode_live, public_raw, step_of
from sync.peer_messages import PassageMessage
from tests.fixtures.broker import Broker
from tests.sync.peer_gate import holds, passage_id, peer_settings, peers, running, sent_all
from tests.sync.support import COMPOUND, PLATFORM_KEY, wait_until

HOLDER = Ed25519PrivateKey.generate()


def bound_pass(now: datetime) -> str:
    return encode_pass(PassClaims(
        pass_id="pass-live-1", person_id="p-live", household_id="h-3", compound_id=COMPOUND,
        colour=Colour.GREEN, issued_at=now - timedelta(days=1),
        not_before=now - timedelta(days=1), expires_at=now + timedelta(days=9),
        grid_id="grid-7", holder_key=public_raw(HOLDER)), PLATFORM_KEY)


def show(app: GateApp, code: str, reader: str, now: datetime) -> Outcome:
    check = app.checkpoint.check_pass(code, now)
    return app.checkpoint.handle(Observation(reader=app.readers[reader], method=Method.PASS,
                                             seen_at=now, pass_check=check))


def used_at(app: GateApp) -> list[tuple[str, int, str, str]]:
    return [tuple(r) for r in app.db.execute(
        "SELECT pass_id, step, direction, gate_id FROM live_codes ORDER BY gate_id").fetchall()]


@pytest.mark.broker
def test_a_live_code_used_at_one_gate_does_not_open_the_other(module_broker: Broker,
                                                              tmp_path: object) -> None:
    from pathlib import Path
    root = Path(str(tmp_path))
    with running(peer_settings(root, "gate-a", module_broker)) as a, \
            running(peer_settings(root, "gate-b", module_broker)) as b:
        wait_until(lambda: a.sync.connected and b.sync.connected,  # type: ignore[union-attr]
                   what="both gates connected")
        time.sleep(0.3)  # both catch-up rounds of the start are over
        now = SystemClock().now()
        code = encode_live(bound_pass(now), HOLDER, now)
        first = show(a, code, "in-cam", now)
        assert first.decision.granted, first.decision
        wait_until(lambda: holds(b, passage_id(first)), what="gate-a's passage at gate-b")
        step = step_of(now)
        assert ("pass-live-1", step, "in", "gate-a") in used_at(b)
        # The same screenshot at the other gate, same direction: refused there too.
        copy = show(b, code, "in-cam", now)
        assert copy.decision.rule == "pass.replayed" and not copy.released
        # Out through gate-b is another use, and gate-a hears of it in turn.
        out = show(b, code, "out-cam", now)
        assert out.decision.granted, out.decision
        wait_until(lambda: holds(a, passage_id(out)), what="gate-b's exit at gate-a")
        assert show(a, code, "out-cam", now).decision.rule == "pass.replayed"
        counters = peers(b).snapshot()
        assert counters.get("peer_malformed", 0) == 0, counters


def test_the_peer_message_model_takes_an_optional_live_code() -> None:
    passage = {
        "event_id": "0" * 32, "at": "2026-11-23T10:09:45.626892+00:00", "gate_id": "gate-a",
        "reader_id": "in-cam", "direction": "in", "person_id": "p-1", "household_id": "h-1",
        "grid_id": None, "pass_id": "pass-1", "method": "pass", "colour": "green",
        "granted": True, "rule": "green.in", "reason_zh": "x", "reason_en": "x",
        "face_distance": None, "faces_in_view": 0, "actor": None,
        "order_at": "2026-11-23T10:09:45.626892+00:00"}
    message = {"type": "peer_passage", "schema_version": 2, "compound_id": COMPOUND,
               "gate_id": "gate-a", "epoch": "e" * 32, "seq": 1, "passage": passage}
    assert PassageMessage.model_validate(message).live_code is None
    with_code = PassageMessage.model_validate({**message, "live_code": {"step": 59844480}})
    assert with_code.live_code is not None and with_code.live_code.step == 59844480
    for bad in ({"step": -1}, {"step": "1"}, {"step": 2**40}, {"step": 1, "x": 2}, 5):
        with pytest.raises(ValidationError):
            PassageMessage.model_validate({**message, "live_code": bad})


def live_steps(app: GateApp, gate_id: str) -> list[tuple[str, int | None]]:
    """(rule, live step) of the passages of `gate_id` that `app` holds, in its order."""
    return [tuple(r) for r in app.db.execute(
        "SELECT rule, live_step FROM passages WHERE gate_id = ? ORDER BY id", [gate_id])]


@pytest.mark.broker
def test_a_copy_older_than_the_code_used_at_one_gate_is_refused_at_the_other(
        module_broker: Broker, tmp_path: Path) -> None:
    with running(peer_settings(tmp_path, "gate-a", module_broker)) as a, \
            running(peer_settings(tmp_path, "gate-b", module_broker)) as b:
        wait_until(lambda: a.sync.connected and b.sync.connected,  # type: ignore[union-attr]
                   what="both gates connected")
        time.sleep(0.3)  # both catch-up rounds of the start are over
        now = SystemClock().now()
        pass_text = bound_pass(now)
        screenshot = encode_live(pass_text, HOLDER, now - timedelta(seconds=STEP_S))
        first = show(a, encode_live(pass_text, HOLDER, now), "in-cam", now)  # the holder
        assert first.decision.granted, first.decision
        wait_until(lambda: holds(b, passage_id(first)), what="gate-a's passage at gate-b")
        assert live_steps(b, "gate-a") == [("green.in", step_of(now))]  # kept with the passage
        copy = show(b, screenshot, "in-cam", now)  # a step older, still inside the window
        assert copy.decision.rule == "pass.replayed" and not copy.released


@pytest.mark.broker
def test_a_live_code_spent_on_a_full_disk_is_told_to_the_other_gate(
        module_broker: Broker, tmp_path: Path) -> None:
    with running(peer_settings(tmp_path, "gate-a", module_broker)) as a, \
            running(peer_settings(tmp_path, "gate-b", module_broker)) as b:
        wait_until(lambda: a.sync.connected and b.sync.connected,  # type: ignore[union-attr]
                   what="both gates connected")
        time.sleep(0.3)
        now = SystemClock().now()
        code = encode_live(bound_pass(now), HOLDER, now)
        # The disk is full: neither the live-code ledger nor the journal can be written.
        a.checkpoint.live_codes.db.execute("PRAGMA query_only = ON")
        a.keeper.journal.db.execute("PRAGMA query_only = ON")  # where records are written
        first = show(a, code, "in-cam", now)
        assert first.released and first.events == []  # the door opened; the record waits
        assert show(a, code, "in-cam", now).decision.rule == "pass.replayed"  # from memory
        a.keeper.journal.db.execute("PRAGMA query_only = OFF")  # room again for the journal only
        assert a.keeper.retry() == 0
        assert live_steps(a, "gate-a") == [("green.in", step_of(now)),
                                           ("pass.replayed", step_of(now))]
        granted = a.db.execute("SELECT event_id FROM passages WHERE granted = 1").fetchone()[0]
        wait_until(lambda: holds(b, granted), what="gate-a's late passage at gate-b")
        assert ("pass-live-1", step_of(now), "in", "gate-a") in used_at(b)
        copy = show(b, code, "in-cam", now)
        assert copy.decision.rule == "pass.replayed" and not copy.released


@pytest.mark.broker
def test_a_gate_catching_up_hears_the_live_step_from_the_passage(
        module_broker: Broker, tmp_path: Path) -> None:
    with running(peer_settings(tmp_path, "gate-a", module_broker)) as a:
        now = SystemClock().now()
        pass_text = bound_pass(now)
        a.checkpoint.live_codes.db.execute("PRAGMA query_only = ON")  # never in the ledger
        first = show(a, encode_live(pass_text, HOLDER, now), "out-cam", now)
        assert first.released
        wait_until(lambda: sent_all(a), what="gate-a's passage published (no one listened)")
        with running(peer_settings(tmp_path, "gate-c", module_broker)) as c:  # a fresh state
            wait_until(lambda: holds(c, passage_id(first)), what="the replay at gate-c")
            assert peers(c).snapshot()["peer_replayed"] == 1
            assert live_steps(c, "gate-a") == [("green.out", step_of(now))]
            screenshot = encode_live(pass_text, HOLDER, now - timedelta(seconds=STEP_S))
            assert show(c, screenshot, "out-cam", now).decision.rule == "pass.replayed"

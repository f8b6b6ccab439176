"""A lockdown set while the database cannot be written is never lost in silence: the guard (panel)
and the platform (signed command) are told, an urgent alert waits with it, the save is retried
through the record keeper (the disk reserve freed on a full disk), and once written the gate
comes back in lockdown after a restart. Real GateApp on gpiozero's MockFactory, real SQLite
files, and a real full tmpfs where the machine allows mounting one."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

from gpiozero.pins.mock import MockFactory

from edge.app import GateApp
from edge.settings import parse_settings
from gate.ballast import BALLAST_NAME
from gate.door import DoorMode
from gate.store import open_database
from gate.vocabulary import AlertKind
from sync.commands import Action, Command, Commands
from sync.schema import migrate
from tests.edge.panel.conftest import IN_PIN, Panel, gate_config
from tests.edge.test_full_disk import fill, small_disk  # noqa: F401  (a fixture)


def urgent_overrides(app: GateApp) -> list[str]:
    return [a["message_en"] for a in app.journal.alerts(limit=100)
            if a["kind"] == AlertKind.OVERRIDE and a["severity"] == "urgent"]


def test_guard_and_platform_are_told_and_the_lockdown_is_saved_once_it_can_be(
        panel: Panel, tmp_path: Path) -> None:
    gate = panel.gate
    guard = panel.guard()
    headers = {"X-CSRF-Token": guard.csrf}
    gate.keeper.journal.db.execute("PRAGMA query_only = ON")  # the records' connection cannot write
    answer = guard.post("/api/doors/in-cam/mode", headers=headers,
                        json={"mode": "lockdown", "reason": "police"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["mode"] == "lockdown" and answer.json()["saved"] is False
    assert panel.factory.pin(IN_PIN).state is False, "in force at once all the same"
    form = guard.post("/door/out-cam/mode", data={"mode": "lockdown", "reason": "security",
                                                  "csrf_token": guard.csrf})
    assert form.status_code == 303 and form.headers["location"] == "/?msg=msg.mode_not_saved"
    page = guard.get("/?msg=msg.mode_not_saved")
    assert panel.svc.i18n.text("zh", "msg.mode_not_saved") in page.text
    # The platform's signed command: carried out, and its result says what is at stake.
    commands_db = open_database(gate.db_path)
    try:
        migrate(commands_db)
        now = gate.clock.now()
        commands = Commands(commands_db, compound_id="wenjiang-01", gate_id="gate-east",
                            clock=gate.clock, controls=gate.controls)
        verdict = commands.handle(Command(
            command_id=uuid.uuid4().hex, action=Action.LOCKDOWN, compound_id="wenjiang-01",
            gate_id="gate-east", reason="alarm", issued_at=now,
            expires_at=now + timedelta(minutes=2), nonce=uuid.uuid4().hex), "platform-key")
    finally:
        commands_db.close()
    print("the platform is told:", verdict.reason)
    assert verdict.accepted and "not saved yet" in verdict.reason
    assert "relay17" in verdict.reason and "relay18" in verdict.reason
    assert urgent_overrides(gate) == [], "waiting with the save, not lost"
    # Space again: the gate's retry thread (every few seconds) writes what waits, in order.
    gate.keeper.journal.db.execute("PRAGMA query_only = OFF")
    assert gate.keeper.retry() == 0
    assert gate.controls.unsaved(gate.controls.unique_doors()) == []
    assert any("lockdown is not saved" in m for m in urgent_overrides(gate))
    settings = gate.settings
    gate.close()  # the watchdog restarts the gate
    with GateApp(settings, pin_factory=panel.factory) as again:
        assert {r: d.mode for r, d in again.doors.items()} == {
            "in-cam": DoorMode.LOCKDOWN, "out-cam": DoorMode.LOCKDOWN}
        assert not again.doors["in-cam"].release(reason="green.in")


def test_on_a_full_disk_the_reserve_lets_the_lockdown_be_saved_at_once(
        small_disk: Path) -> None:  # noqa: F811
    root = small_disk.parent
    settings = parse_settings(gate_config(root))
    factory = MockFactory()
    try:
        with GateApp(settings, pin_factory=factory) as app:
            filler = fill(small_disk)
            doors = app.controls.set_mode(DoorMode.LOCKDOWN, actor="guard1", reason="police",
                                          reader_id="in-cam")
            assert not (small_disk / BALLAST_NAME).exists(), "the reserve was freed"
            assert app.controls.unsaved(doors) == [], "saved at once, in the reserve's room"
            kinds = [a["kind"] for a in app.journal.alerts(limit=10)]
            assert AlertKind.DISK_FULL in kinds and urgent_overrides(app) == []
        with GateApp(settings, pin_factory=factory) as again:
            assert again.doors["in-cam"].mode is DoorMode.LOCKDOWN
            filler.unlink()
        # Without a reserve left the disk is simply full: told, retried, then saved.
        with GateApp(settings, pin_factory=factory) as app:
            (small_disk / BALLAST_NAME).unlink()  # laid again at start; used up meanwhile
            filler = fill(small_disk)
            doors = app.controls.set_mode(DoorMode.NORMAL, actor="guard1", reader_id="in-cam")
            assert app.controls.unsaved(doors) == ["relay17"]
            filler.unlink()
            assert app.keeper.retry() == 0 and app.controls.unsaved(doors) == []
        with GateApp(settings, pin_factory=factory) as again:
            assert again.doors["in-cam"].mode is DoorMode.NORMAL
    finally:
        factory.reset()

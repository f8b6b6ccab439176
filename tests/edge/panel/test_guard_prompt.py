"""Guard decides: while this gate cannot hear the rest of its compound and the policy says
'guard', a yellow exit is refused (compound.guard) and waits on the live page at its reader;
the guard lets the person through once (an override passage naming the refused one, the relay
pulsed) or keeps the refusal. One answer only, whoever answers; a lockdown keeps the prompt;
an unanswered one goes once the person has long left."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory

from edge.app import GateApp
from edge.panel.guard import PROMPT_S
from edge.settings import parse_settings
from gate.checkpoint import Outcome
from gate.clock import Clock, ManualClock
from gate.door import DoorMode
from gate.model import Colour, Method
from gate.observation import Observation
from gate.passes import PassClaims, encode_pass, load_signing_key
from gate.vocabulary import Rule
from tests.edge.panel.conftest import OUT_PIN, Panel, gate_config, make_panel

STALE_POLICY = {"compound": {"stale_after_s": 1, "quota_when_stale": "guard",
                             "anti_passback_when_stale": "guard"}}


def stale_gate(root: Path, factory: MockFactory, clock: Clock) -> GateApp:
    """A gate of a compound whose broker it cannot reach (its compound view out of date from
    the start), with the partition rules leaving yellow exits to the guard."""
    config = gate_config(root) | {
        "mqtt": {"enabled": True, "host": "127.0.0.1", "port": 1},
        "policy": STALE_POLICY}
    return GateApp(parse_settings(config), clock=clock, pin_factory=factory)


def yellow_exit(gate: GateApp, root: Path, person: str) -> Outcome:
    """`person` of household h-7 shows a yellow pass at the exit reader."""
    now = gate.clock.now()
    key = load_signing_key(root / "keys" / "signing.key")
    claims = PassClaims(pass_id=f"pass-{person}", person_id=person, household_id="h-7",
                        compound_id="wenjiang-01", colour=Colour.YELLOW,
                        issued_at=now - timedelta(days=1), not_before=now - timedelta(days=1),
                        expires_at=now + timedelta(days=5), grid_id="grid-7")
    check = gate.checkpoint.check_pass(encode_pass(claims, key), now)
    return gate.checkpoint.handle(Observation(reader=gate.readers["out-cam"],
                                              method=Method.PASS, seen_at=now,
                                              pass_check=check))


def refused_for_the_guard(gate: GateApp, root: Path, person: str) -> str:
    outcome = yellow_exit(gate, root, person)
    assert not outcome.decision.granted and outcome.decision.rule == Rule.COMPOUND_GUARD
    return next(e.event_id for e in outcome.events if e.kind == "passage")


@pytest.fixture
def stale(tmp_path: Path, factory: MockFactory) -> Iterator[tuple[Panel, ManualClock]]:
    clock = ManualClock(datetime.now(UTC))
    gate = stale_gate(tmp_path, factory, clock)
    panel = make_panel(gate, factory, clock=clock)
    clock.advance(5)  # the view is 5 s old: out of date (stale_after_s = 1)
    yield panel, clock
    panel.svc.close()
    gate.close()


def newest_passage(panel: Panel) -> dict[str, Any]:
    return panel.svc.queries().recent_passages(1)[0]


def test_the_guard_sees_who_was_refused_and_why_and_lets_them_through_once(
        stale: tuple[Panel, ManualClock], tmp_path: Path) -> None:
    panel, _ = stale
    event_id = refused_for_the_guard(panel.gate, tmp_path, "y1")
    guard = panel.guard()
    page = guard.get("/").text
    prompt = page.split(f'data-prompt="{event_id}"', 1)[1].split("</div>", 1)[0]
    assert "y1" in prompt and "黄码" in prompt and "请门岗决定" in prompt
    assert "各门暂时失联" in prompt and "其他门外出" in prompt  # what was refused, and why
    waiting = guard.get("/api/guard").json()
    assert [(p["event_id"], p["reader_id"], p["person_id"]) for p in waiting] == [
        (event_id, "out-cam", "y1")]
    pin = panel.factory.pin(OUT_PIN)
    pin.clear_states()
    opened = guard.post(f"/api/guard/{event_id}/open", headers={"X-CSRF-Token": guard.csrf})
    assert opened.status_code == 200 and opened.json()["released"] is True
    assert [s.state for s in pin.states][:2] == [False, True]  # the relay released
    override = newest_passage(panel)
    assert override["rule"] == Rule.OVERRIDE_OPEN_ONCE and override["actor"] == "guard1"
    assert event_id in override["reason_en"] and "y1" in override["reason_zh"]
    assert override["event_id"] == opened.json()["passage_event_id"]
    # Answered once: gone for every guard.
    assert guard.get("/api/guard").json() == []
    again = guard.post(f"/api/guard/{event_id}/open", headers={"X-CSRF-Token": guard.csrf})
    assert again.status_code == 409
    assert newest_passage(panel)["event_id"] == override["event_id"]  # no second opening


def test_the_guard_keeps_a_refusal_from_the_live_page(stale: tuple[Panel, ManualClock],
                                                      tmp_path: Path) -> None:
    panel, _ = stale
    event_id = refused_for_the_guard(panel.gate, tmp_path, "y2")
    guard = panel.guard()
    before = newest_passage(panel)["event_id"]
    kept = guard.post(f"/guard/{event_id}/refuse", data={"csrf_token": guard.csrf})
    assert kept.status_code == 303 and kept.headers["location"] == "/?msg=msg.guard_refused"
    assert "已维持拒绝" in guard.get(kept.headers["location"]).text
    assert guard.get("/api/guard").json() == []
    assert newest_passage(panel)["event_id"] == before  # nothing opened, nothing recorded


def test_a_prompt_outlives_a_lockdown_but_not_the_person_leaving(
        stale: tuple[Panel, ManualClock], tmp_path: Path) -> None:
    panel, clock = stale
    event_id = refused_for_the_guard(panel.gate, tmp_path, "y3")
    guard = panel.guard()
    panel.gate.doors["out-cam"].set_mode(DoorMode.LOCKDOWN)
    refused = guard.post(f"/api/guard/{event_id}/open", headers={"X-CSRF-Token": guard.csrf})
    assert refused.status_code == 409 and refused.json()["detail"] == "error.lockdown"
    assert [p["event_id"] for p in guard.get("/api/guard").json()] == [event_id]
    panel.gate.doors["out-cam"].set_mode(DoorMode.NORMAL)
    later = refused_for_the_guard(panel.gate, tmp_path, "y4")
    clock.advance(PROMPT_S + 1)
    assert guard.get("/api/guard").json() == []  # both people have long left
    gone = guard.post(f"/api/guard/{later}/open", headers={"X-CSRF-Token": guard.csrf})
    assert gone.status_code == 409 and gone.json()["detail"] == "error.prompt_gone"
    malformed = guard.post("/api/guard/not-an-id/open", headers={"X-CSRF-Token": guard.csrf})
    assert malformed.status_code == 422

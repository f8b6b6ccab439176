"""The gate screens from the guards' side: the outcome the resident saw, a replay, a message;
every bad request refused with a clear answer and the screen unchanged."""

from __future__ import annotations

import asyncio

from edge.panel.live import LiveItem
from edge.panel.services import DISPLAY
from tests.edge.panel.conftest import CSRF_META, Panel


def test_the_panel_shows_what_the_screen_showed_and_hears_each_change(panel: Panel) -> None:
    guard = panel.guard()
    [first, _] = guard.get("/api/displays").json()
    assert first["reader_id"] == "in-cam" and first["last"] is None
    assert first["now"]["state"] == "idle"
    assert "尚未显示结果" in guard.get("/").text
    heard: list[LiveItem] = []

    async def listen() -> None:
        async with panel.svc.hub.subscribe() as sub:
            panel.gate.controls.open_once("in-cam", actor="guard1", reason="courier")
            while True:
                item = await sub.get(2)
                if item is not None:
                    heard.append(item)
                if any(i.kind == DISPLAY for i in heard):
                    return

    asyncio.run(listen())
    assert LiveItem(DISPLAY, {"reader_id": "in-cam"}) in heard
    [screen, other] = guard.get("/api/displays").json()
    assert screen["last"]["verdict_zh"] == "请通行" and screen["last"]["reason_zh"] == "门岗已开门"
    assert "guard1" not in str(screen) and "courier" not in str(screen)
    assert other["last"] is None, "the other reader's screen showed nothing"
    page = guard.get("/").text
    assert "门岗已开门" in page and 'data-action="display-replay"' in page


def test_a_guard_puts_a_message_on_the_screen_and_replays_the_last_prompt(
        panel: Panel) -> None:
    guard = panel.guard()
    board = panel.gate.boards["out-cam"]
    token = CSRF_META.search(guard.get("/").text).group(1)  # type: ignore[union-attr]
    sent = guard.post("/display/out-cam/message",
                      data={"message": "please_wait", "csrf_token": token})
    assert sent.status_code == 303 and "msg=msg.display_shown" in sent.headers["location"]
    view = board.view()
    assert (view["state"], view["verdict_zh"], view["verdict_en"], view["prompt"]) == (
        "message", "请稍候", "Please wait", "wait")
    seq = view["prompt_seq"]
    typed = guard.post("/api/displays/out-cam/message", headers={"X-CSRF-Token": guard.csrf},
                       json={"message": "other", "text": "  门岗  马上就到 ", "seconds": 5})
    assert typed.status_code == 204
    assert board.view()["verdict_zh"] == "门岗 马上就到" and board.view()["prompt_seq"] == seq
    replayed = guard.post("/api/displays/out-cam/replay", headers={"X-CSRF-Token": guard.csrf})
    assert replayed.status_code == 204 and board.view()["verdict_zh"] == "门岗 马上就到"
    form = guard.post("/display/out-cam/replay", data={"csrf_token": token})
    assert form.status_code == 303 and "display_replayed" in form.headers["location"]


def test_bad_requests_are_refused_and_change_nothing(panel: Panel) -> None:
    guard = panel.guard()
    board = panel.gate.boards["in-cam"]
    before = board.view()["key"]
    post = {"headers": {"X-CSRF-Token": guard.csrf}}
    nothing = guard.post("/api/displays/in-cam/replay", **post)
    assert nothing.status_code == 409 and nothing.json()["detail"] == "error.display_nothing"
    empty = guard.post("/api/displays/in-cam/message", json={"message": "other", "text": " "},
                       **post)
    assert empty.status_code == 400 and empty.json()["detail"] == "error.display_text"
    for body in ({"message": "other", "text": "长" * 61}, {"message": "x" * 33},
                 {"message": "please_wait", "seconds": 0}, {"message": "please_wait",
                                                           "seconds": 121}):
        assert guard.post("/api/displays/in-cam/message", json=body, **post).status_code == 422
    unknown = guard.post("/api/displays/side-cam/message", json={"message": "please_wait"},
                         **post)
    assert unknown.status_code == 404
    page = guard.post("/display/in-cam/replay", data={"csrf_token": guard.csrf})
    assert page.status_code == 409 and "还没有可重播的内容" in page.text
    assert board.view()["key"] == before

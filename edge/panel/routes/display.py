"""The gate screens from the guards' side: what each showed last, a replay, a message.

The guard sees the same outcome the resident saw (the board's last screen, pushed live to the
feed), can say its prompt again, and can put a short message on the screen ("请稍候 / please
wait"): listed ones in both languages with their prompt, or a line the guard types.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from edge.display.board import DisplayBoard
from edge.display.screen import MESSAGES
from edge.panel.deps import GuardAction, GuardView, Services
from edge.panel.services import PanelServices
from edge.panel.views import fragment, redirect

log = logging.getLogger(__name__)
router = APIRouter()
ReaderId = Annotated[str, Path(max_length=64)]
TEXT_MAX = 60  # a line a person reads from a few steps away


class MessageIn(BaseModel):
    message: str = Field("other", max_length=32,
                         description="A listed message (please_wait, see_guard, show_again, "
                         "one_at_a_time) or 'other' with `text`.")
    text: str = Field("", max_length=TEXT_MAX, description="The line shown for 'other'.")
    seconds: float = Field(10, ge=1, le=120, description="How long it stays on the screen.")


class ScreenOut(BaseModel):
    reader_id: str
    now: dict[str, Any]
    last: dict[str, Any] | None


def board_of(svc: PanelServices, reader_id: str) -> DisplayBoard:
    """The reader's display board; 404 for an unknown reader."""
    board = svc.gate.boards.get(reader_id)
    if board is None:
        raise HTTPException(404, "error.not_found")
    return board


def show_message(svc: PanelServices, reader_id: str, actor: str, change: MessageIn) -> None:
    """Put a listed or typed message on the reader's screen."""
    board = board_of(svc, reader_id)
    text = " ".join(change.text.split())
    if change.message in MESSAGES:
        zh, en, prompt = MESSAGES[change.message]
    elif text:
        zh, en, prompt = text, "", None
    else:
        raise HTTPException(400, "error.display_text")
    board.message(zh, en, seconds=change.seconds, prompt=prompt)
    log.info("%s showed %r on the screen of %s", actor, zh, reader_id)


def replay(svc: PanelServices, reader_id: str, actor: str) -> None:
    """Show the reader's last outcome again and say its prompt."""
    if not board_of(svc, reader_id).replay():
        raise HTTPException(409, "error.display_nothing")
    log.info("%s replayed the last prompt on the screen of %s", actor, reader_id)


def display_states(request: Request, svc: PanelServices) -> dict[str, str]:
    """Each reader's last screen as a small piece of HTML in the page's language."""
    return {reader_id: fragment(request, "_display_state.html", {"d": board.last()})
            for reader_id, board in svc.gate.boards.items()}


@router.post("/display/{reader_id}/message")
def message_form(svc: Services, session: GuardAction, reader_id: ReaderId,
                 message: Annotated[str, Form(max_length=32)] = "other",
                 note: Annotated[str, Form(max_length=TEXT_MAX)] = "",
                 seconds: Annotated[float, Form(ge=1, le=120)] = 10) -> Response:
    """Show a message on the reader's screen from the live page."""
    show_message(svc, reader_id, session.user.name,
                 MessageIn(message=message, text=note, seconds=seconds))
    return redirect("/", "msg.display_shown")


@router.post("/display/{reader_id}/replay")
def replay_form(svc: Services, session: GuardAction, reader_id: ReaderId) -> Response:
    """Say the reader's last prompt again, from the live page."""
    replay(svc, reader_id, session.user.name)
    return redirect("/", "msg.display_replayed")


@router.get("/api/displays", response_model=list[ScreenOut])
def screens(svc: Services, session: GuardView) -> list[ScreenOut]:
    """What each reader's screen shows now, and the last outcome or message it showed."""
    return [ScreenOut(reader_id=reader_id, now=board.view(), last=board.last())
            for reader_id, board in svc.gate.boards.items()]


@router.post("/api/displays/{reader_id}/message", status_code=204)
def message_api(svc: Services, session: GuardAction, reader_id: ReaderId,
                body: MessageIn) -> Response:
    """Show a message on the reader's screen."""
    show_message(svc, reader_id, session.user.name, body)
    return Response(status_code=204)


@router.post("/api/displays/{reader_id}/replay", status_code=204)
def replay_api(svc: Services, session: GuardAction, reader_id: ReaderId) -> Response:
    """Show the reader's last outcome again and say its prompt."""
    replay(svc, reader_id, session.user.name)
    return Response(status_code=204)

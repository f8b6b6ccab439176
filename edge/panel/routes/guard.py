"""Guard decides (edge/panel/guard.py): the guard answers a prompt on the live page, letting the
person through once (an open-once through the door controls, whose override passage names the
refused one) or keeping the refusal."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path
from fastapi.responses import Response
from pydantic import BaseModel

from edge.panel.deps import GuardAction, GuardView, Services
from edge.panel.guard import Prompt
from edge.panel.live import LiveItem
from edge.panel.routes.door import OverrideOut, open_once
from edge.panel.services import PanelServices
from edge.panel.views import redirect

log = logging.getLogger(__name__)
router = APIRouter()

ANSWERED = "guard"  # live item: a prompt was answered, every page drops it
EventId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]


class PromptOut(BaseModel):
    event_id: str
    reader_id: str
    person_id: str | None
    colour: str | None
    direction: str
    at: str
    reason_zh: str
    reason_en: str


def _out(prompt: Prompt) -> PromptOut:
    p = prompt.passage
    return PromptOut(event_id=prompt.event_id, reader_id=prompt.reader_id,
                     person_id=p.get("person_id"), colour=p.get("colour"),
                     direction=p.get("direction", ""), at=p.get("at", ""),
                     reason_zh=p.get("reason_zh", ""), reason_en=p.get("reason_en", ""))


def _take(svc: PanelServices, event_id: str) -> Prompt:
    prompt = svc.prompts.take(event_id)
    if prompt is None:  # answered already (by another guard too), or the person left
        raise HTTPException(409, "error.prompt_gone")
    return prompt


def _answered(svc: PanelServices, prompt: Prompt) -> None:
    svc.hub.publish(LiveItem(ANSWERED, {"event_id": prompt.event_id,
                                        "reader_id": prompt.reader_id}))


def let_through(svc: PanelServices, event_id: str, actor: str) -> OverrideOut:
    """Open the prompt's door once; the override passage says whom and which refusal."""
    prompt = _take(svc, event_id)
    p = prompt.passage
    who = p.get("person_id") or "?"
    reason = (f"门岗核实后放行 {who}（{p['reason_zh']}） / the guard let {who} through "
              f"({p['reason_en']}) [passage {event_id}]")
    try:
        result = open_once(svc, prompt.reader_id, actor, reason)
    except HTTPException:
        svc.prompts.restore(prompt)  # a lockdown: the guard may answer once it ended
        raise
    _answered(svc, prompt)
    return result


def keep_refused(svc: PanelServices, event_id: str, actor: str) -> Prompt:
    prompt = _take(svc, event_id)
    log.info("%s kept passage %s at %s refused (%s)", actor, event_id, prompt.reader_id,
             prompt.passage.get("person_id"))
    _answered(svc, prompt)
    return prompt


@router.post("/guard/{event_id}/open")
def open_form(svc: Services, session: GuardAction, event_id: EventId) -> Response:
    """Let the person of a prompt through once, from the live page."""
    result = let_through(svc, event_id, session.user.name)
    return redirect("/", "msg.opened" if result.released else "msg.not_opened")


@router.post("/guard/{event_id}/refuse")
def refuse_form(svc: Services, session: GuardAction, event_id: EventId) -> Response:
    """Keep the refusal of a prompt, from the live page."""
    keep_refused(svc, event_id, session.user.name)
    return redirect("/", "msg.guard_refused")


@router.get("/api/guard", response_model=list[PromptOut])
def prompts(svc: Services, session: GuardView) -> list[PromptOut]:
    """The passages waiting for a guard's decision, newest first per reader."""
    return [_out(p) for waiting in svc.prompts.by_reader().values() for p in waiting]


@router.post("/api/guard/{event_id}/open", response_model=OverrideOut)
def open_api(svc: Services, session: GuardAction, event_id: EventId) -> OverrideOut:
    """Let the person of a prompt through once."""
    return let_through(svc, event_id, session.user.name)


@router.post("/api/guard/{event_id}/refuse", response_model=PromptOut)
def refuse_api(svc: Services, session: GuardAction, event_id: EventId) -> PromptOut:
    """Keep the refusal of a prompt; the prompt answered."""
    return _out(keep_refused(svc, event_id, session.user.name))

"""What the gate display shows: a verdict, a reason, a colour, never who.

An outcome becomes a `Screen` here and nowhere else, from the rule and the words the gate
chose for the person at the door (gate/reasons.py), not from the reason text of the passage:
that may name the guard who opened the door or a note typed for the journal. The clause a rule
adds (when the next exit is allowed, "observation period over, awaiting confirmation") is kept
as its own line. A name appears only masked, and only where the compound configures it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from gate.checkpoint import Outcome
from gate.model import Colour
from gate.reasons import REASONS
from gate.vocabulary import Rule

# The verdict and the line under it, by state: (zh, en, reason zh, reason en).
STATES: dict[str, tuple[str, str, str, str]] = {
    "idle": ("请出示通行码", "Show your pass", "将通行码对准画面中的虚线框",
             "Hold it inside the dashed frame"),
    "waiting": ("请看摄像头", "Look at the camera", "正在核验持证人", "Checking the pass holder"),
    "lockdown": ("门禁已封锁", "Gate in lockdown", "请联系门岗", "Please see the guard"),
    "hold_open": ("门已常开", "The door is held open", "请直接通行", "Walk through"),
}
VERDICTS = {True: ("请通行", "Please go ahead"), False: ("禁止通行", "No entry")}
NOT_OPENED = ("门未打开", "The door did not open")
COLOURS = {Colour.GREEN: ("绿码", "green"), Colour.YELLOW: ("黄码", "yellow"),
           Colour.RED: ("红码", "red"), Colour.WHITE: ("白码", "white")}
# Rules whose passage reason names the guard: the screen says what happened, not who.
_OVERRIDES = {
    Rule.OVERRIDE_OPEN_ONCE: ("门岗已开门", "Opened by the guard"),
    Rule.OVERRIDE_REFUSED: ("门处于封锁状态", "The door is locked down"),
}
# The spoken prompt of a rule (edge/display/prompts.py); others say granted or denied.
RULE_PROMPTS = {
    Rule.GATE_LOCKDOWN: "lockdown",
    Rule.YELLOW_HOUSEHOLD_QUOTA: "quota",
    Rule.RED_EXIT_DENIED: "red_exit",
    Rule.FACE_MISSING: "face",
    Rule.FACE_NOT_LIVE: "face",
    Rule.PASS_MALFORMED: "unreadable",
    Rule.PERSON_UNKNOWN: "see_guard",
    Rule.FACE_UNKNOWN: "see_guard",
    Rule.WHITE_UNVERIFIED: "see_guard",
    Rule.ANTI_PASSBACK: "see_guard",
    Rule.COMPOUND_GUARD: "see_guard",
    Rule.DOOR_NOT_RELEASED: "see_guard",
    Rule.OVERRIDE_REFUSED: "see_guard",
    Rule.RULES_STALE: "see_guard",
}
# What a guard may put on the screen by name: (zh, en, prompt).
MESSAGES: dict[str, tuple[str, str, str | None]] = {
    "please_wait": ("请稍候", "Please wait", "wait"),
    "see_guard": ("请到门岗登记", "Please see the guard", "see_guard"),
    "show_again": ("请重新出示通行码", "Please show your pass again", "unreadable"),
    "one_at_a_time": ("请逐一通行", "One at a time, please", None),
}


@dataclass(frozen=True)
class Screen:
    """One screenful; `tone` is the colour of the whole screen."""

    state: str  # idle, waiting, lockdown, hold_open, granted, denied, message
    tone: str  # green, red, amber, blue, dark
    verdict_zh: str
    verdict_en: str
    reason_zh: str = ""
    reason_en: str = ""
    extra_zh: str = ""  # the rule's clause: next exit, observation period over
    extra_en: str = ""
    colour: str | None = None  # the permit's colour (a chip), never who
    colour_zh: str = ""
    colour_en: str = ""
    name: str | None = None  # masked, where the compound configures it
    prompt: str | None = None  # key of the spoken prompt

    def as_dict(self) -> dict[str, Any]:
        """The screen as JSON."""
        return asdict(self)


def mask(name: str | None) -> str | None:
    """The first character of a name and a star for each other one (at most two): 张**."""
    if not name or not name.strip():
        return None
    name = name.strip()
    return name[0] + "*" * min(2, max(1, len(name) - 1))


def _clause(full: str, base: str) -> str:
    """The clause a rule added to its base text: '（下次可外出：…）' -> '下次可外出：…'."""
    if not full.startswith(base):
        return ""
    return full[len(base):].strip().strip("（）()").strip()


def outcome_screen(outcome: Outcome, *, masked_name: bool = False) -> Screen:
    """The screen of a decided outcome."""
    decision = outcome.decision
    rule = decision.rule
    granted = decision.granted
    verdict = VERDICTS[granted]
    extra = ("", "")
    if rule in _OVERRIDES:
        reason = _OVERRIDES[rule]
    elif rule in REASONS:
        reason = REASONS[rule]
        extra = (_clause(decision.reason_zh, reason[0]), _clause(decision.reason_en, reason[1]))
    else:  # a rule this display does not know yet: the verdict alone
        reason = ("", "")
    if rule in (Rule.DOOR_NOT_RELEASED, Rule.OVERRIDE_REFUSED):
        verdict = NOT_OPENED
    colour = decision.colour
    zh, en = COLOURS.get(colour, ("", "")) if colour is not None else ("", "")
    person = outcome.person
    return Screen(
        state="granted" if granted else "denied", tone="green" if granted else "red",
        verdict_zh=verdict[0], verdict_en=verdict[1], reason_zh=reason[0], reason_en=reason[1],
        extra_zh=extra[0], extra_en=extra[1], colour=colour.value if colour else None,
        colour_zh=zh, colour_en=en,
        name=mask(person.name) if masked_name and person is not None else None,
        prompt=RULE_PROMPTS.get(rule, "granted" if granted else "denied"))


def state_screen(state: str) -> Screen:
    """The screen of a reader's state: idle, waiting for a face, lockdown, hold-open."""
    zh, en, reason_zh, reason_en = STATES[state]
    tone = {"idle": "dark", "waiting": "amber", "lockdown": "red", "hold_open": "green"}[state]
    return Screen(state=state, tone=tone, verdict_zh=zh, verdict_en=en, reason_zh=reason_zh,
                  reason_en=reason_en, prompt="face" if state == "waiting" else None)


def message_screen(zh: str, en: str, prompt: str | None = None) -> Screen:
    """A guard's message for the person at the door."""
    return Screen(state="message", tone="blue", verdict_zh=zh, verdict_en=en, prompt=prompt)

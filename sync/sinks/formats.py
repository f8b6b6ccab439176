"""What an alert webhook receives: generic JSON (the event message) or a work-chat robot text."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from gate.model import Severity
from gate.vocabulary import AlertKind, EventType
from sync.messages import EventMessage

_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.URGENT: 2}
_LABEL = {"info": ("提示", "info"), "warning": ("警告", "warning"), "urgent": ("紧急", "URGENT")}
WORK_CHAT_MAX = 2000  # group robots cut text messages at 2048 bytes
# A broken webhook's own alert must not be sent to webhooks (it would feed on itself).
NOT_FOR_WEBHOOKS = frozenset({AlertKind.WEBHOOK_FAILED})


@dataclass(frozen=True)
class WebhookRoute:
    """Which alerts go to one webhook, and in which format."""

    name: str
    format: str = "json"  # "json" | "work_chat"
    min_severity: Severity = Severity.WARNING
    grids: frozenset[str] = field(default_factory=frozenset)
    timezone: str = "Asia/Shanghai"
    escalated_only: bool = False  # the second audience of escalation: escalated alerts only

    @property
    def sink(self) -> str:
        return f"webhook:{self.name}"

    def wants(self, message: EventMessage) -> bool:
        """True for alerts at or above the severity floor, of a wanted grid."""
        if message.type != EventType.ALERT or message.data.get("kind") in NOT_FOR_WEBHOOKS:
            return False
        if self.escalated_only and not message.data.get("escalated"):
            return False
        try:
            severity = Severity(message.data.get("severity", "info"))
        except ValueError:
            severity = Severity.URGENT  # an unknown severity is never silently filtered out
        if _RANK[severity] < _RANK[self.min_severity]:
            return False
        return not self.grids or message.data.get("grid_id") in self.grids

    def body(self, message: EventMessage) -> str:
        """The HTTP body for this webhook."""
        if self.format == "work_chat":
            return json.dumps({"msgtype": "text",
                               "text": {"content": work_chat_text(message, self.timezone)}},
                              ensure_ascii=False)
        return message.model_dump_json()


def work_chat_text(message: EventMessage, timezone: str) -> str:
    """One alert as a short bilingual text for a grid's work-chat group."""
    data = message.data
    zh, en = _LABEL.get(str(data.get("severity")), ("告警", "alert"))
    local: datetime = message.at.astimezone(ZoneInfo(timezone))
    who = " ".join(f"{label}:{data[key]}" for key, label in
                   (("grid_id", "网格"), ("household_id", "户"), ("person_id", "人员"))
                   if data.get(key))
    if data.get("escalated"):  # sent again: nobody at the gate acknowledged it in time
        minutes = int(data.get("unanswered_s") or 0) // 60
        zh, en = f"升级·{minutes} 分钟无人确认·{zh}", f"ESCALATED, unanswered {minutes} min, {en}"
    count = data.get("count")
    times = f"（{count} 次）" if isinstance(count, int) and count > 1 else ""
    lines = [f"【{zh}】{data.get('message_zh', '')}{times}",
             f"[{en}] {data.get('message_en', '')}{f' (x{count})' if times else ''}",
             f"{who}".strip(),
             f"门岗 gate {message.gate_id} · {local:%Y-%m-%d %H:%M:%S} · #{message.seq}"]
    text = "\n".join(line for line in lines if line)
    return text if len(text.encode()) <= WORK_CHAT_MAX else text[:WORK_CHAT_MAX // 3] + "…"

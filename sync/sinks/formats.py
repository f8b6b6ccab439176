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

    @property
    def sink(self) -> str:
        return f"webhook:{self.name}"

    def wants(self, message: EventMessage) -> bool:
        """True for alerts at or above the severity floor, of a wanted grid."""
        if message.type != EventType.ALERT or message.data.get("kind") in NOT_FOR_WEBHOOKS:
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
    lines = [f"【{zh}】{data.get('message_zh', '')}",
             f"[{en}] {data.get('message_en', '')}",
             f"{who}".strip(),
             f"门岗 gate {message.gate_id} · {local:%Y-%m-%d %H:%M:%S} · #{message.seq}"]
    text = "\n".join(line for line in lines if line)
    return text if len(text.encode()) <= WORK_CHAT_MAX else text[:WORK_CHAT_MAX // 3] + "…"

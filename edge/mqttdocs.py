"""The generated parts of docs/mqtt.md: payloads the gate really sends, and every rule id and
alert kind with its meaning in both languages.

The examples are made the way the gate makes them: a real pass through the real checkpoint
(`decide`), journal and outbox on a temporary SQLite file, a gpiozero mock relay; the JSON is
the outbox row the publisher sends. Only what differs between runs is fixed afterwards (event
ids, from uuid4). Blocks sit between `<!-- BEGIN GENERATED name -->` and
`<!-- END GENERATED name -->`; `gridgate docs` rewrites them and `gridgate docs --check` (and a
test) fails when the file differs, so new rules, alert kinds and payload fields show up by
themselves.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from gate.checkpoint import Checkpoint
from gate.clock import ManualClock
from gate.controls import door_event_recorder
from gate.door import Door
from gate.journal import Journal
from gate.journal.keeper import RecordKeeper
from gate.model import Colour, Decision, Direction, Method, Permit, Person, Reader
from gate.observation import Observation
from gate.passes import PassClaims, TrustList, encode_pass, generate_signing_key
from gate.policy import Policy
from gate.reasons import alert_meaning, rule_meaning
from gate.registry import Registry
from gate.rulebook import Rulebook
from gate.store import open_database
from gate.vocabulary import AlertKind, Rule
from sync.discovery import DoorView, GateDescription, ReaderView, discovery_configs
from sync.discovery.entities import decision_state
from sync.messages import EventMessage
from sync.outbox import Outbox
from sync.sinks.formats import WebhookRoute
from sync.topics import Topics

PREFIX, COMPOUND, GATE = "gridgate", "wenjiang-01", "gate-east"
AT = datetime(2026, 11, 23, 10, 9, 45, 626892, tzinfo=UTC)
TOPICS = Topics(PREFIX, COMPOUND, GATE)
_BLOCK = re.compile(r"(<!-- BEGIN GENERATED (\S+) -->\n)(.*?)(<!-- END GENERATED \2 -->)",
                    re.DOTALL)


class DocsError(ValueError):
    """docs/mqtt.md lacks a block the generator fills, or names one it does not know."""


def _sent(outbox_db: Any) -> list[tuple[str, dict[str, Any]]]:
    rows = outbox_db.execute("SELECT topic, payload FROM outbox WHERE sink = 'mqtt' "
                             "ORDER BY id").fetchall()
    messages = []
    for n, (topic, payload) in enumerate(rows, start=1):
        message = json.loads(payload)
        message["event_id"] = f"{n:x}".rjust(4, "0") + "3dbf8a1642084bf88b88eb1fa1e1"
        messages.append((topic, message))
    return messages


def real_messages() -> list[tuple[str, dict[str, Any]]]:
    """What a gate sends for a green exit and then a red exit attempt, in order: (topic,
    event message) as its outbox holds them."""
    from gpiozero.pins.mock import MockFactory

    key = generate_signing_key()
    trust = TrustList()
    trust.add(key.key_id, key.public_key, "all")
    clock = ManualClock(AT)
    reader = Reader("out-cam", GATE, Direction.OUT)
    factory = MockFactory()
    with tempfile.TemporaryDirectory() as tmp, \
            closing(open_database(Path(tmp) / "gridgate.db")) as db:
        journal = Journal(db, gate_id=GATE, clock=clock)
        Outbox(TOPICS, clock=clock).attach(journal)
        registry = Registry(db)
        registry.put_persons([Person("p-101", household_id="h-1", grid_id="grid-7")])
        keeper = RecordKeeper(journal)
        door = Door(18, open_seconds=3, pin_factory=factory, clock=clock,
                    on_event=door_event_recorder(keeper))
        try:
            checkpoint = Checkpoint(compound_id=COMPOUND, registry=registry, journal=journal,
                                    rules=Rulebook(trust=trust, policy=Policy()),
                                    doors={reader.reader_id: door}, clock=clock, keeper=keeper)
            claims = PassClaims(pass_id="pass-001", person_id="p-101", household_id="h-1",
                                compound_id=COMPOUND, colour=Colour.GREEN,
                                issued_at=AT - timedelta(days=1),
                                not_before=AT - timedelta(days=1),
                                expires_at=AT + timedelta(days=30), grid_id="grid-7")
            text = encode_pass(claims, key)
            for colour in (Colour.GREEN, Colour.RED):
                registry.put_permits([Permit("p-101", colour, reason="返回人员 居家观察14天")
                                      if colour is Colour.RED else Permit("p-101", colour)])
                checkpoint.handle(Observation(reader=reader, method=Method.PASS, seen_at=AT,
                                              pass_check=checkpoint.check_pass(text, AT)))
        finally:
            door.close()
            factory.reset()
        return _sent(db)


def _first(messages: list[tuple[str, dict[str, Any]]],
           test: Callable[[dict[str, Any]], bool]) -> tuple[str, dict[str, Any]]:
    return next((t, m) for t, m in messages if test(m))


def _json_block(value: Any) -> str:
    return "```json\n" + json.dumps(value, ensure_ascii=False, indent=2) + "\n```\n"


def _example(topic: str, message: dict[str, Any]) -> str:
    return f"On `{topic}`:\n\n" + _json_block(message)


def _fields(data: dict[str, Any]) -> str:
    return ", ".join(f"`{k}`" for k in data)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def rules_table() -> str:
    lines = ["| rule | 中文 | English |", "|---|---|---|"]
    for rule in Rule:
        zh, en = rule_meaning(rule)
        lines.append(f"| `{rule.value}` | {_cell(zh)} | {_cell(en)} |")
    return "\n".join(lines) + "\n"


def alerts_table() -> str:
    lines = ["| alert kind | severity | 中文 | English |", "|---|---|---|---|"]
    for kind in AlertKind:
        severity, zh, en = alert_meaning(kind)
        lines.append(f"| `{kind.value}` | {severity.value} | {_cell(zh)} | "
                     f"{_cell(en)} |")
    return "\n".join(lines) + "\n"


def _status_examples(messages: list[tuple[str, dict[str, Any]]]) -> str:
    gate = GateDescription(COMPOUND, GATE, "East gate", "0.1.0",
                           (ReaderView("out-cam", "out"),),
                           (DoorView("relay18", ("out-cam",), True),))
    configs = discovery_configs(gate, TOPICS, "homeassistant")
    lock_topic, lock = next((t, c) for t, c in configs.items() if "/lock/" in t)
    _, passage = _first(messages, lambda m: m["type"] == "passage" and m["data"]["granted"])
    reader = Reader("out-cam", GATE, Direction.OUT)
    observation = Observation(reader=reader, method=Method(passage["data"]["method"]),
                              seen_at=AT)
    decision = Decision(granted=True, rule=Rule(passage["data"]["rule"]), reason_zh="",
                        reason_en="", colour=Colour(passage["data"]["colour"]))
    state = decision_state(observation, decision)
    return (f"A reader's last decision, on `{TOPICS.status}/readers/out-cam` (what the "
            "decision sensor and the passage event read; no person, household or pass):\n\n"
            + _json_block(state)
            + f"\nThe lock of door `relay18`, on `{lock_topic}`:\n\n" + _json_block(lock))


def blocks() -> dict[str, str]:
    """Every generated block by name."""
    messages = real_messages()
    passage_topic, passage = _first(
        messages, lambda m: m["type"] == "passage" and m["data"]["granted"])
    alert_topic, alert = _first(messages, lambda m: m["type"] == "alert")
    door_topic, door = _first(messages, lambda m: m["type"] == "door")
    return {
        "passage-example": _example(passage_topic, passage),
        "passage-fields": f"`data` of a passage: {_fields(passage['data'])}.\n",
        "alert-example": _example(alert_topic, alert),
        "door-example": _example(door_topic, door),
        "rules": rules_table(),
        "alert-kinds": alerts_table(),
        "status-examples": _status_examples(messages),
        "work-chat-example": _json_block(json.loads(
            WebhookRoute("grid-workers", "work_chat", timezone=Policy().timezone).body(
                EventMessage.model_validate(alert)))),
    }


def render(text: str, generated: dict[str, str] | None = None) -> str:
    """`text` with every generated block replaced; each block must appear exactly once."""
    generated = blocks() if generated is None else generated
    found = [m.group(2) for m in _BLOCK.finditer(text)]
    unknown = sorted(set(found) - set(generated))
    missing = sorted(set(generated) - set(found))
    if unknown or missing or len(found) != len(set(found)):
        raise DocsError(f"docs/mqtt.md blocks: missing {missing}, unknown {unknown}, "
                        f"found {found}")
    return _BLOCK.sub(lambda m: m.group(1) + generated[m.group(2)] + m.group(4), text)

"""Alert webhooks over real HTTP: retry with backoff, order, work-chat format, signatures."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from gate.clock import SystemClock
from gate.journal import Journal
from gate.model import AlertSpec, Severity
from gate.vocabulary import AlertKind
from sync.outbox import Outbox
from sync.sinks.formats import WebhookRoute
from sync.sinks.webhook import SIGNATURE_HEADER, WebhookSender, backoff_s
from tests.sync.support import TOPICS, gate_journal, record_passage, wait_until

RED_EXIT = AlertSpec(AlertKind.RED_EXIT_ATTEMPT, Severity.URGENT, "红码人员试图外出",
                     "red permit tried to leave")


class Receiver:
    """A real HTTP server on loopback answering from a script of (status, body) replies."""

    def __init__(self, replies: list[tuple[int, dict[str, Any]]]) -> None:
        self.replies = replies
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.requests.append((dict(self.headers), body))
                    status, reply = (receiver.replies.pop(0) if receiver.replies
                                     else (200, {"errcode": 0}))
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def bodies(self) -> list[dict[str, Any]]:
        with self.lock:
            return [json.loads(b) for _, b in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return gate_journal(tmp_path / "gate.db")


def sender_for(journal: Journal, route: WebhookRoute, url: str, **kw: Any) -> WebhookSender:
    outbox = Outbox(TOPICS, clock=SystemClock(), routes=[route])
    outbox.attach(journal)
    sender = WebhookSender(Path(journal.db.execute("PRAGMA database_list").fetchone()[2]),
                           route, url=url, clock=SystemClock(), backoff_max_s=0.2,
                           alert=journal.record_alert, **kw)
    outbox.add_waker(sender.wake)
    return sender


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver([])
    yield r
    r.close()


def waiting(journal: Journal, sink: str) -> int:
    return journal.db.execute("SELECT count(*) FROM outbox WHERE sink = ?", [sink]).fetchone()[0]


def test_generic_json_is_retried_until_accepted_in_order_and_signed(
        journal: Journal, receiver: Receiver) -> None:
    receiver.replies = [(500, {}), (503, {}), (200, {})]
    route = WebhookRoute("ops", "json", Severity.WARNING)
    sender = sender_for(journal, route, receiver.url, secret=b"s3cret")
    ids = record_passage(journal, alert=RED_EXIT) + record_passage(journal, alert=RED_EXIT)
    sender.start()
    try:
        wait_until(lambda: waiting(journal, route.sink) == 0, what="webhook rows delivered")
    finally:
        sender.stop()
    bodies = receiver.bodies()
    assert len(bodies) == 4  # the first alert three times, then the second once
    assert [b["event_id"] for b in bodies] == [ids[1]] * 3 + [ids[3]]
    assert bodies[0]["data"]["message_zh"] == "红码人员试图外出" and bodies[0]["seq"] == 2
    headers, raw = receiver.requests[-1]
    expected = "sha256=" + hmac.new(b"s3cret", raw, hashlib.sha256).hexdigest()
    assert headers[SIGNATURE_HEADER] == expected
    assert headers["X-Gridgate-Event-Id"] == ids[3]


def test_work_chat_robot_text_and_its_errcode_are_understood(journal: Journal,
                                                             receiver: Receiver) -> None:
    receiver.replies = [(200, {"errcode": 45009, "errmsg": "api freq out of limit"})]
    route = WebhookRoute("grid7", "work_chat", Severity.WARNING, frozenset({"grid-7"}))
    sender = sender_for(journal, route, receiver.url)
    record_passage(journal, alert=RED_EXIT)
    record_passage(journal, grid_id="grid-9", alert=RED_EXIT)  # another grid's: not sent
    sender.start()
    try:
        wait_until(lambda: waiting(journal, route.sink) == 0, what="robot message delivered")
    finally:
        sender.stop()
    bodies = receiver.bodies()
    assert len(bodies) == 2 and bodies[0] == bodies[1]  # refused once (rate limit), then sent
    assert bodies[0]["msgtype"] == "text"
    content = bodies[0]["text"]["content"]
    assert content.startswith("【紧急】红码人员试图外出") and "网格:grid-7" in content
    assert sender.delivered == 1


def test_a_receiver_that_refuses_for_good_gets_the_row_moved_aside_and_an_alert(
        journal: Journal, receiver: Receiver) -> None:
    receiver.replies = [(400, {"error": "bad payload"})]
    route = WebhookRoute("ops", "json", Severity.INFO)
    sender = sender_for(journal, route, receiver.url)
    [_, alert_id] = record_passage(journal, alert=RED_EXIT)
    sender.start()
    try:
        wait_until(lambda: waiting(journal, route.sink) == 0, what="row moved aside")
    finally:
        sender.stop()
    dead = journal.db.execute("SELECT event_id, error FROM outbox_dead").fetchall()
    assert dead == [(alert_id, 'HTTP 400: {"error": "bad payload"}')]
    failed = [a for a in journal.alerts() if a["kind"] == "webhook_failed"]
    assert len(failed) == 1
    assert len(receiver.bodies()) == 1  # the failure alert itself is not sent to webhooks


def test_backoff_doubles_up_to_its_cap() -> None:
    delays = [backoff_s(n, 60) for n in range(1, 10)]
    assert 0.8 <= delays[0] <= 1.0 and 1.6 <= delays[1] <= 2.0
    assert all(d <= 60 for d in delays) and delays[-1] >= 48

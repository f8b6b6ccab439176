"""Delivering a webhook's outbox rows over HTTP, in order, with retry and capped backoff.

A row is deleted only after the receiver accepted it (2xx, and for work-chat robots an
`errcode` of 0). Network errors, timeouts, 408, 429 and 5xx are retried with exponential
backoff and jitter; any other 4xx means the receiver will never take this body, so the row is
moved to `outbox_dead` (kept) and an alert raised.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path

import httpx
from sqlite_utils import Database

from gate.clock import Clock
from gate.model import AlertSpec, Severity
from gate.store import immediate, open_database
from gate.vocabulary import AlertKind
from sync.backoff import Backoff
from sync.outbox import OutboxRow, bury, delete, fetch
from sync.sinks.formats import WebhookRoute

log = logging.getLogger(__name__)

FAILURES_BEFORE_ALERT = 5
RETRYABLE = {408, 425, 429}
SIGNATURE_HEADER = "X-Gridgate-Signature"


def backoff_s(attempts: int, maximum: float, base: float = 1.0) -> float:
    """Delay before the next attempt after `attempts` failures: doubling, capped, jittered."""
    return Backoff(base, maximum).delay(attempts - 1)


def sign(secret: bytes, body: bytes) -> str:
    """The signature header value: HMAC-SHA256 of the body."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


class WebhookSender:
    """One thread per webhook, delivering its rows one at a time, oldest first."""

    def __init__(self, db_path: Path, route: WebhookRoute, *, url: str, clock: Clock,
                 secret: bytes | None = None, timeout_s: float = 10.0,
                 backoff_max_s: float = 300.0,
                 alert: Callable[[AlertSpec], None] | None = None) -> None:
        self.db_path = db_path
        self.route = route
        self.url = url
        self.clock = clock
        self.secret = secret
        self.timeout_s = timeout_s
        self.backoff_max_s = backoff_max_s
        self.alert = alert
        self.delivered = 0
        self.failures = 0  # consecutive
        self._cond = threading.Condition()
        self._dirty = True
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        """New rows may be waiting."""
        with self._cond:
            self._dirty = True
            self._cond.notify()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, daemon=True,
                                            name=f"webhook-{self.route.name}")
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self.wake()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        db = open_database(self.db_path)
        try:
            with httpx.Client(timeout=self.timeout_s, follow_redirects=False) as http:
                while not self._stop.is_set():
                    rows = fetch(db, self.route.sink, 0, 1)
                    wait = 30.0
                    if rows:
                        row = rows[0]
                        due = row.next_attempt - self.clock.now().timestamp()
                        if due <= 0:
                            self._deliver(db, http, row)
                            continue
                        wait = due
                    with self._cond:
                        if not self._dirty:
                            self._cond.wait(min(wait, 30.0))
                        self._dirty = False
        finally:
            db.close()

    def _deliver(self, db: Database, http: httpx.Client, row: OutboxRow) -> None:
        body = row.payload.encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8",
                   "X-Gridgate-Event-Id": row.event_id, "X-Gridgate-Seq": str(row.seq)}
        if self.secret is not None:
            headers[SIGNATURE_HEADER] = sign(self.secret, body)
        try:
            response = http.post(self.url, content=body, headers=headers)
            problem = self._problem(response)
        except httpx.HTTPError as exc:
            response, problem = None, f"{type(exc).__name__}: {exc}"
        if problem is None:
            delete(db, [row.id])
            self.delivered += 1
            self.failures = 0
            return
        status = response.status_code if response is not None else None
        if status is not None and 400 <= status < 500 and status not in RETRYABLE:
            log.error("webhook %s refused event %s for good: %s", self.route.name,
                      row.event_id, problem)
            bury(db, row, self.route.sink, problem, self.clock.now())
            self._raise(f"webhook {self.route.name} refused event {row.event_id}: {problem}")
            return
        self.failures += 1
        delay = backoff_s(row.attempts + 1, self.backoff_max_s)
        log.warning("webhook %s: event %s not delivered (%s); retry in %.1f s",
                    self.route.name, row.event_id, problem, delay)
        with immediate(db):
            db.execute(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt = ?, last_error = ? "
                "WHERE id = ?", [self.clock.now().timestamp() + delay, problem[:500], row.id])
        if self.failures == FAILURES_BEFORE_ALERT:
            self._raise(f"webhook {self.route.name} failing {self.failures} times in a row: "
                        f"{problem}")

    def _problem(self, response: httpx.Response) -> str | None:
        if not 200 <= response.status_code < 300:
            return f"HTTP {response.status_code}: {response.text[:200]}"
        if self.route.format == "work_chat":
            try:
                reply = json.loads(response.content or b"{}")
            except ValueError:
                return "the robot's reply is not JSON"
            code = reply.get("errcode", 0) if isinstance(reply, dict) else 0
            if code != 0:
                return f"robot errcode {code}: {str(reply.get('errmsg', ''))[:200]}"
        return None

    def _raise(self, text: str) -> None:
        if self.alert is None:
            return
        try:
            self.alert(AlertSpec(AlertKind.WEBHOOK_FAILED, Severity.WARNING,
                                 f"告警推送失败：{text}", text))
        except Exception:
            log.exception("cannot record the webhook alert")

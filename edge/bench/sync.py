"""`gridgate bench sync`: drain rate of an outbox backlog and passage-to-subscriber latency.

Runs against a Mosquitto on loopback (started here on a free port unless --host is given),
with the real outbox, publisher and a real SQLite file:

- drain: a backlog of N passage events is written to the outbox (in large transactions, as
  a gate offline for a day would have it), then the link starts; the rate is N divided by the
  time until the last row was acknowledged and deleted;
- latency: passages recorded one by one through the journal (synchronous=FULL, as on the
  gate) until a QoS 1 subscriber receives each; p50 and p95.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge.cli.output import emit_json
from edge.demo.broker import Broker, BrokerUnavailable
from gate.clock import SystemClock
from gate.events import JournalEvent
from gate.journal import Journal
from gate.journal.queries import utc_text
from gate.model import Colour, Decision, Direction, Method, Person, Reader
from gate.observation import Observation
from gate.passes import TrustList
from gate.policy import Policy
from gate.rulebook import Rulebook
from gate.store import open_database
from gate.vocabulary import EventType, Rule
from sync.connection import BrokerOptions
from sync.service import OutboxOptions, SyncService
from sync.topics import Topics

TOPICS = Topics("bench", "compound-1", "gate-1")


@contextmanager
def local_broker(workdir: Path) -> Iterator[tuple[str, int]]:
    """A Mosquitto on a free loopback port with its packaged defaults (no queue limit for
    the benchmark's own subscriber)."""
    broker = Broker(workdir, extra_config="max_queued_messages 0\n")
    try:
        broker.start()
    except BrokerUnavailable as exc:
        raise click.ClickException(f"{exc}; or give --host and --port") from None
    try:
        yield broker.host, broker.port
    finally:
        broker.stop()


class Subscriber:
    """The platform's consumer, in its own process as it would be (not competing with the
    gate's threads): counts events, and in trace mode prints each event's arrival time."""

    def __init__(self, host: str, port: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "edge.bench.sync", host, str(port), f"{TOPICS.gate}/events"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        if self._line() != ["ready"]:
            raise click.ClickException("the benchmark subscriber could not subscribe")

    def _line(self) -> list[str]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline().split()
        if not line:
            raise click.ClickException("the benchmark subscriber stopped")
        return line

    def tell(self, command: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()

    def wait_count(self, count: int) -> tuple[int, int]:
        """Block until `count` events arrived; (count, monotonic ns of the last)."""
        self.tell(f"expect {count}")
        _, got, at = self._line()
        return int(got), int(at)

    def next_arrival(self) -> tuple[str, int]:
        """In trace mode: (event id, monotonic ns) of the next event."""
        _, event_id, at = self._line()
        return event_id, int(at)

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()


def run_subscriber(host: str, port: int, topic: str) -> None:
    """The subscriber process: QoS 1, answers `expect N` and `trace` on stdin."""
    lock = threading.Condition()
    state = {"count": 0, "last": 0, "trace": False}

    def on_message(client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        now = time.monotonic_ns()
        with lock:
            state["count"] += 1
            state["last"] = now
            if state["trace"]:
                event_id = json.loads(message.payload)["event_id"]
                sys.stdout.write(f"arrived {event_id} {now}\n")
                sys.stdout.flush()
            lock.notify_all()

    subscribed = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-sub-{os.getpid()}",
                         protocol=mqtt.MQTTv5)
    client.on_connect = lambda c, *a: c.subscribe(topic, qos=1)
    client.on_subscribe = lambda *a: subscribed.set()
    client.on_message = on_message
    client.connect(host, port)
    client.loop_start()
    subscribed.wait(10)
    print("ready", flush=True)
    for line in sys.stdin:
        words = line.split()
        if words[:1] == ["expect"]:
            wanted = int(words[1])

            def reached(wanted: int = wanted) -> bool:
                return state["count"] >= wanted

            with lock:
                lock.wait_for(reached, timeout=120)
                print(f"count {state['count']} {state['last']}", flush=True)
        elif words[:1] == ["trace"]:
            with lock:
                state["trace"] = True
    client.disconnect()
    client.loop_stop()


def _passage_row(i: int, now: str) -> dict[str, Any]:
    return {"id": i, "event_id": f"{i:032x}", "at": now, "gate_id": TOPICS.gate_id,
            "reader_id": "in-cam", "direction": "in", "person_id": f"p-{i % 500}",
            "household_id": f"h-{i % 200}", "grid_id": "grid-7", "pass_id": f"pass-{i}",
            "method": "pass", "colour": "green", "granted": True, "rule": Rule.GREEN_IN.value,
            "reason_zh": "绿码，请通行", "reason_en": "Green: welcome home", "face_distance": None,
            "faces_in_view": 1, "snapshot": None, "actor": None}


def _service(journal: Journal, db_path: Path, host: str, port: int, window: int) -> SyncService:
    return SyncService(
        journal=journal, db_path=db_path, topics=TOPICS, clock=SystemClock(),
        rules=Rulebook(trust=TrustList(), policy=Policy()),
        broker=BrokerOptions(host=host, port=port, client_id="bench-gate", persistent=False),
        outbox=OutboxOptions(window=window, batch_size=500, max_rows=10_000_000))


def measure_drain(workdir: Path, host: str, port: int, events: int, window: int,
                  subscriber: Subscriber) -> dict[str, Any]:
    """Fill the outbox with `events` passages, then time draining them to the broker."""
    db_path = workdir / "drain.db"
    db = open_database(db_path)
    journal = Journal(db, gate_id=TOPICS.gate_id, clock=SystemClock())
    link = _service(journal, db_path, host, port, window)
    now = utc_text(SystemClock().now())
    for start in range(0, events, 5000):
        with db.atomic():
            for i in range(start, min(start + 5000, events)):
                link.outbox.record(db, JournalEvent(f"{i:032x}", EventType.PASSAGE,
                                                    _passage_row(i, now), "grid-7"))
    waiting = link.outbox_waiting()
    started = time.monotonic_ns()
    link.start()
    while link.outbox_waiting() > 0 and time.monotonic_ns() - started < 600e9:
        time.sleep(0.005)
    drained = (time.monotonic_ns() - started) / 1e9
    received, last = subscriber.wait_count(events)
    link.stop()
    db.close()
    return {"events": events, "backlog_rows": waiting, "drain_s": round(drained, 2),
            "drain_events_per_s": round(events / drained), "received": received,
            "received_events_per_s": round(events / ((last - started) / 1e9))}


def measure_latency(workdir: Path, host: str, port: int, samples: int, window: int,
                    subscriber: Subscriber) -> list[float]:
    """Record passages one by one and time each until the subscriber has it."""
    db_path = workdir / "latency.db"
    db = open_database(db_path)  # synchronous=FULL, as on the gate
    journal = Journal(db, gate_id=TOPICS.gate_id, clock=SystemClock())
    link = _service(journal, db_path, host, port, window)
    link.start()
    deadline = time.monotonic() + 10
    while not link.connected and time.monotonic() < deadline:
        time.sleep(0.01)
    reader = Reader("in-cam", TOPICS.gate_id, Direction.IN)
    decision = Decision(granted=True, rule=Rule.GREEN_IN, reason_zh="绿码，请通行",
                        reason_en="Green: welcome home", person_id="p-1", colour=Colour.GREEN)
    person = Person("p-1", "h-1", "grid-7")
    subscriber.tell("trace")
    latencies = []
    for _ in range(samples):
        started = time.monotonic_ns()
        observation = Observation(reader=reader, method=Method.PASS,
                                  seen_at=SystemClock().now())
        [event] = journal.record_passage(observation, decision, person)
        event_id, arrived = subscriber.next_arrival()
        while event_id != event.event_id:  # a resent duplicate of an earlier one
            event_id, arrived = subscriber.next_arrival()
        latencies.append((arrived - started) / 1e9)
        time.sleep(0.01)  # passages come one at a time at a gate
    link.stop()
    db.close()
    return latencies


@click.command("sync")
@click.option("--events", type=click.IntRange(100, 10_000_000), default=100_000,
              show_default=True, help="Size of the outbox backlog to drain.")
@click.option("--samples", type=click.IntRange(10, 10_000), default=300, show_default=True,
              help="Passages timed for the latency figures.")
@click.option("--window", type=click.IntRange(1, 65535), default=200, show_default=True,
              help="Messages in flight (the broker's Receive Maximum may lower it).")
@click.option("--host", help="Use this broker instead of starting a local Mosquitto.")
@click.option("--port", type=click.IntRange(1, 65535), default=1883, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (the default output anyway).")
def bench_sync(events: int, samples: int, window: int, host: str | None, port: int,
               as_json: bool) -> None:
    """Outbox drain rate and passage-to-subscriber latency (p50, p95) over a real broker."""
    with tempfile.TemporaryDirectory(prefix="gridgate-bench-sync-") as tmp:
        workdir = Path(tmp)
        with _broker(workdir, host, port) as (h, p):
            subscriber = Subscriber(h, p)
            try:
                drain = measure_drain(workdir, h, p, events, window, subscriber)
                latencies = np.array(measure_latency(workdir, h, p, samples, window,
                                                     subscriber)) * 1000
            finally:
                subscriber.close()
    emit_json({
        "drain_events_per_s": drain["drain_events_per_s"],
        "latency_p50_ms": round(float(np.percentile(latencies, 50)), 2),
        "latency_p95_ms": round(float(np.percentile(latencies, 95)), 2),
        **{k: v for k, v in drain.items() if k != "drain_events_per_s"},
        "latency_samples": len(latencies), "latency_max_ms": round(float(latencies.max()), 2),
        "window": window,
    })


@contextmanager
def _broker(workdir: Path, host: str | None, port: int) -> Iterator[tuple[str, int]]:
    if host:
        yield host, port
    else:
        with local_broker(workdir) as address:
            yield address


if __name__ == "__main__":
    run_subscriber(sys.argv[1], int(sys.argv[2]), sys.argv[3])

"""The worker processes of `gridgate bench fleet` (edge/bench/fleet.py starts them as
`python -m edge.bench.fleet_workers ROLE ...`): a gate worker runs up to a hundred simulated
gates, each the real publishing path of a gate; a consumer is one platform client of the shared
subscription group. Each answers its parent on stdout, a word and a JSON value a line.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from gate.clock import SystemClock
from gate.events import JournalEvent
from gate.journal import Journal
from gate.journal.journal import new_event_id
from gate.journal.queries import utc_text
from gate.model import Colour, Decision, Direction, Method, Person, Reader
from gate.observation import Observation
from gate.store import immediate, open_database
from gate.vocabulary import EventType, Rule
from sync.connection import V5, BrokerOptions
from sync.consumer import Deduper
from sync.link import MqttLink
from sync.messages import EventMessage
from sync.outbox import Outbox
from sync.publisher import Publisher
from sync.topics import Topics, compound_filters

PREFIX = "bench"
GROUP = "platform"
GATES_PER_COMPOUND = 10
CONNECT_BATCH = 100  # gates connecting at once (keeps the broker's listen queue short)


def gate_names(index: int) -> tuple[str, str]:
    """(compound id, gate id) of the index-th simulated gate."""
    return f"compound-{index // GATES_PER_COMPOUND:04d}", f"gate-{index:05d}"


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def raise_fd_limit() -> None:
    """As many descriptors as the hard limit allows (each connection is one for Mosquitto,
    about ten per simulated gate)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# -- worker processes: gates ----------------------------------------------------------------


@dataclass
class SimulatedGate:
    """One gate's journal, outbox, publisher and connection."""

    index: int
    journal: Journal
    publisher: Publisher
    link: MqttLink
    topics: Topics
    reader: Reader
    outbox: Outbox
    recorded: int = 0

    def record(self, through_journal: bool) -> None:
        """One passage: through the journal (its row and the outbox row in one transaction,
        as at a gate), or only its outbox row (the same message, without the journal's own
        row: a fraction of the gate-side cost, so that one machine can feed the broker and
        consumers harder)."""
        n = self.recorded
        person = Person(f"p-{n % 500}", f"h-{n % 200}", f"grid-{n % 7}")
        if through_journal:
            decision = Decision(granted=True, rule=Rule.GREEN_IN, reason_zh="绿码，请通行",
                                reason_en="Green: welcome home", person_id=person.person_id,
                                colour=Colour.GREEN)
            observation = Observation(reader=self.reader, method=Method.PASS,
                                      seen_at=SystemClock().now())
            self.journal.record_passage(observation, decision, person)
        else:
            event_id = new_event_id()
            with immediate(self.journal.db):
                self.outbox.record(self.journal.db, JournalEvent(
                    event_id, EventType.PASSAGE, self._row(n, event_id), person.grid_id))
            self.outbox.wake()
        self.recorded += 1

    def _row(self, n: int, event_id: str) -> dict[str, Any]:
        """The journal row of the n-th passage, as `Journal.record_passage` would write it."""
        return {"id": n + 1, "event_id": event_id, "at": utc_text(SystemClock().now()),
                "gate_id": self.topics.gate_id, "reader_id": self.reader.reader_id,
                "direction": "in", "person_id": f"p-{n % 500}", "household_id": f"h-{n % 200}",
                "grid_id": f"grid-{n % 7}", "pass_id": f"pass-{n}", "method": "pass",
                "colour": "green", "granted": True, "rule": Rule.GREEN_IN.value,
                "reason_zh": "绿码，请通行", "reason_en": "Green: welcome home",
                "face_distance": None, "faces_in_view": 1, "snapshot": None, "actor": None}

    def fill(self, count: int) -> None:
        """A backlog of `count` passages' outbox rows in one transaction, as a gate holds
        them after an outage (the link is not started yet)."""
        with immediate(self.journal.db):
            for n in range(self.recorded, self.recorded + count):
                self.outbox.record(self.journal.db, JournalEvent(
                    (event_id := new_event_id()), EventType.PASSAGE, self._row(n, event_id),
                    f"grid-{n % 7}"))
        self.recorded += count


def build_gate(index: int, workdir: Path, host: str, port: int) -> SimulatedGate:
    compound_id, gate_id = gate_names(index)
    topics = Topics(PREFIX, compound_id, gate_id)
    clock = SystemClock()
    db_path = workdir / f"{gate_id}.db"
    db = open_database(db_path)
    db.execute("PRAGMA synchronous=NORMAL")
    journal = Journal(db, gate_id=gate_id, clock=clock)
    outbox = Outbox(topics, clock=clock)
    outbox.attach(journal)
    publisher = Publisher(db_path, clock=clock, window=200, batch_size=500)
    outbox.add_waker(publisher.wake)
    options = BrokerOptions(host=host, port=port, client_id=f"fleet-{gate_id}", protocol=V5,
                            reconnect_min_s=0.5, reconnect_max_s=5.0, keepalive_s=60)
    link = MqttLink(options, will=None, subscriptions=topics.subscriptions(),
                    on_session=lambda s: publisher.pump(s, link.stopping),
                    on_publish=publisher.on_publish, on_close=publisher.on_close)
    return SimulatedGate(index, journal, publisher, link, topics,
                         Reader("in-cam", gate_id, Direction.IN), outbox)


def _say(word: str, value: dict[str, Any] | None = None) -> None:
    sys.stdout.write(word + (" " + json.dumps(value) if value is not None else "") + "\n")
    sys.stdout.flush()


@dataclass(frozen=True)
class GateJob:
    """What one gate worker process does (passed as JSON on its command line)."""

    host: str
    port: int
    workdir: str
    first: int
    count: int
    events: int
    rate: float
    total_gates: int
    timeout_s: float
    through_journal: bool
    backlog: bool


def _connect(gates: list[SimulatedGate], deadline: float) -> None:
    """Start the links a batch at a time, each batch connected before the next."""
    for batch in range(0, len(gates), CONNECT_BATCH):
        chunk = gates[batch:batch + CONNECT_BATCH]
        for gate in chunk:
            gate.link.start()
        while not all(g.link.connected for g in chunk) and time.monotonic() < deadline:
            time.sleep(0.02)


def run_gates(job: GateJob) -> None:
    """A gate worker process: build and connect its gates, record on "go", report. With
    `backlog`, each gate's outbox is filled first and the links connect only on "go": the
    uplink returning to a fleet that recorded through an outage."""
    raise_fd_limit()
    workdir = Path(job.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    gates = [build_gate(i, workdir, job.host, job.port)
             for i in range(job.first, job.first + job.count)]
    events, rate, through_journal = job.events, job.rate, job.through_journal
    started = time.monotonic()
    deadline = started + job.timeout_s
    state: dict[str, Any] = {"lag_s": 0.0, "done": False, "cpu_s": 0.0, "connect_s": None}
    if job.backlog:
        for gate in gates:
            gate.fill(events)
        state["done"] = True
    else:
        _connect(gates, deadline)
        state["connect_s"] = round(time.monotonic() - started, 2)
    _say("ready", {"connected": sum(g.link.connected for g in gates),
                   "connect_s": state["connect_s"], "prepare_s": round(
                       time.monotonic() - started, 2),
                   "threads": threading.active_count(), "fds": open_fds(),
                   "highest_fd": max(int(n) for n in os.listdir("/proc/self/fd"))})

    def record(t0: float) -> None:
        cpu = time.thread_time()
        # Each gate's i-th event is due at t0 + (i + phase) / rate; phases spread the gates
        # over the interval, so the loop below visits events in time order.
        for i in range(events):
            for gate in gates:
                if rate > 0:
                    due = t0 + (i + gate.index / job.total_gates) / rate
                    wait = due - time.time()
                    if wait > 0:
                        time.sleep(wait)
                    else:
                        state["lag_s"] = max(state["lag_s"], -wait)
                gate.record(through_journal)
        state["cpu_s"] = time.thread_time() - cpu
        state["done"] = True

    def connect_all() -> None:
        begun = time.monotonic()
        _connect(gates, deadline)
        state["connect_s"] = round(time.monotonic() - begun, 2)

    recorder: threading.Thread | None = None
    threads_peak = threading.active_count()
    for line in sys.stdin:
        words = line.split()
        if words[:1] == ["go"]:
            t0 = float(words[1])
            time.sleep(max(0.0, t0 - time.time()))
            if job.backlog:
                recorder = threading.Thread(target=connect_all, name="connect", daemon=True)
            else:
                recorder = threading.Thread(target=record, args=(t0,), name="recorder",
                                            daemon=True)
            recorder.start()
        elif words[:1] == ["status"]:
            threads_peak = max(threads_peak, threading.active_count())
            _say("status", {
                "recorded": sum(g.recorded for g in gates),
                "acknowledged": sum(g.publisher.stats.acknowledged for g in gates),
                "published": sum(g.publisher.stats.published for g in gates),
                "connected": sum(g.link.connected for g in gates),
                "done": state["done"], "lag_s": round(state["lag_s"], 3),
                "recording_cpu_s": round(state["cpu_s"], 3),
                "connect_s": state["connect_s"]})
        elif words[:1] == ["stop"]:
            break
    fds = open_fds()
    highest_fd = max(int(n) for n in os.listdir("/proc/self/fd"))
    with ThreadPoolExecutor(32) as pool:
        list(pool.map(lambda g: g.link.stop(2.0), gates))
    for gate in gates:
        gate.publisher.close()
        gate.journal.db.close()
    _say("done", {"expected": {g.topics.gate_id: [g.topics.compound_id, g.recorded]
                               for g in gates},
                  "reconnections": sum(max(0, g.link.connections - 1) for g in gates),
                  "threads_peak": threads_peak, "fds": fds, "highest_fd": highest_fd})


# -- worker processes: consumers ------------------------------------------------------------


def run_consumer(host: str, port: int, index: int, out: Path) -> None:
    """A consumer process: one MQTT 5 client in the shared group; keeps (event id, gate,
    seq, latency) of every message and drops duplicates with the platform's Deduper."""
    deduper = Deduper(memory=5_000_000)
    records: list[tuple[str, str, str, int, float, float]] = []
    lock = threading.Lock()
    counts = {"received": 0, "new": 0, "last": 0.0}

    def on_message(client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        now = time.time()
        event = EventMessage.model_validate_json(bytes(message.payload))
        latency = now - event.at.timestamp()
        with lock:
            counts["received"] += 1
            if deduper.accept(event).new:
                counts["new"] += 1
            counts["last"] = now
            records.append((event.event_id, event.compound_id, event.gate_id, event.seq,
                            latency, now))

    subscribed = threading.Event()
    filters = [f"$share/{GROUP}/{f}" for f in compound_filters(PREFIX, "+")]
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"fleet-consumer-{index}",
                         protocol=mqtt.MQTTv5)
    client.on_connect = lambda c, *a: c.subscribe([(f, SubscribeOptions(qos=1))
                                                   for f in filters])
    client.on_subscribe = lambda *a: subscribed.set()
    client.on_message = on_message
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = 600  # a platform consumer keeps its session
    client.connect(host, port, clean_start=False, properties=properties)
    client.loop_start()
    if not subscribed.wait(10):
        _say("failed", {"why": "no SUBACK"})
        return
    _say("ready")
    for line in sys.stdin:
        words = line.split()
        if words[:1] == ["status"]:
            with lock:
                _say("status", dict(counts))
        elif words[:1] == ["stop"]:
            break
    client.disconnect()
    client.loop_stop()
    with lock, out.open("w") as f:
        for event_id, compound_id, gate_id, seq, latency, at in records:
            f.write(f"{event_id}\t{compound_id}\t{gate_id}\t{seq}\t{latency:.6f}\t{at:.6f}\n")
    _say("done", {"received": counts["received"], "duplicates": deduper.duplicates})


def _main(argv: list[str]) -> None:
    if argv[0] == "gates":
        run_gates(GateJob(**json.loads(argv[1])))
    elif argv[0] == "consumer":
        run_consumer(argv[1], int(argv[2]), int(argv[3]), Path(argv[4]))
    else:
        raise SystemExit(f"unknown role {argv[0]!r}")


if __name__ == "__main__":
    _main(sys.argv[1:])

"""`gridgate bench fleet`: N gates and K platform consumers on one local Mosquitto.

Every simulated gate is the real publishing path of a gate: its own SQLite journal file, the
transactional outbox attached to it, a real `Publisher` and its own MQTT 5 connection
(`MqttLink`, subscribed to its documents and commands as a gate is). Gates are grouped in
compounds of ten and spread over worker processes (one per core, and at least one per 100
gates: see MAX_GATES_PER_PROCESS). The K consumers are processes too, each one MQTT 5 client
in one shared subscription group (`$share/GROUP/...`, the platform's filters of docs/mqtt.md
for every compound), dropping duplicates with `sync.consumer.Deduper`.

At "go" every gate records `--events-per-gate` passages (as fast as it can, or `--rate` per
second each; `--record journal` goes through the whole journal, the default writes the same
outbox row alone, which leaves more of the machine to the publishers, broker and consumers).
With `--backlog` the outboxes are filled first and the gates connect at "go": the uplink
returning to a fleet. The run ends when every outbox is acknowledged and the consumers hold
every event, or at `--timeout-s`. Printed: events/s end to end, latency from each event's
`at` (its recording time; with --backlog, from "go") to its receipt by a consumer, whether
every event arrived exactly once after dedupe (duplicates received, events missing), and the
CPU of the broker, the gate processes, the consumer processes and the machine over the run
(/proc), which says where it saturates: Mosquitto is single-threaded and a Python process runs
one thread at a time, so a process near one core is at its limit; otherwise a machine with
every core busy is, and the part using most of it is the bottleneck.

The simulated gates write with synchronous=NORMAL: a thousand gates' fsyncs on one disk would
measure this machine's disk, not the system (each real gate has its own).
"""

from __future__ import annotations

import json
import math
import os
import queue
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from edge.cli.output import emit_json
from edge.demo.broker import Broker, BrokerUnavailable
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
# paho-mqtt's network loop uses select(), which cannot watch a descriptor numbered 1024 or
# above (it reports the connection lost): every socket of a process must stay below that.
# A simulated gate holds about nine (journal and publisher SQLite files, its socket, paho's
# wake-up socket pair), so a process holds at most ~110 gates; 100 leaves room.
MAX_GATES_PER_PROCESS = 100
SELECT_LIMIT = 1024
READ_TIMEOUT_S = 60.0  # a worker answers a status question at once; setup and stop take longer
TICK = os.sysconf("SC_CLK_TCK")
REPO_ROOT = Path(__file__).resolve().parents[2]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # Deduper looks at ids and seqs only


def gate_names(index: int) -> tuple[str, str]:
    """(compound id, gate id) of the index-th simulated gate."""
    return f"compound-{index // GATES_PER_COMPOUND:04d}", f"gate-{index:05d}"


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process (all its threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def process_fds(pid: int) -> int | None:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def _raise_fd_limit() -> None:
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
    _raise_fd_limit()
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


# -- the parent: broker, workers, figures ---------------------------------------------------


class Worker:
    """A worker process spoken to line by line; a thread reads its lines, so that a worker
    that hangs costs a bounded wait, never the whole benchmark."""

    def __init__(self, role: str, process: subprocess.Popen[str], stderr: Path) -> None:
        self.role = role
        self.process = process
        self.stderr = stderr
        self.cpu_start = self.cpu_end = 0.0
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read_lines, name=f"{role}-lines", daemon=True).start()

    def _read_lines(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put("")  # end of output

    def tell(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def read(self, word: str, timeout_s: float = READ_TIMEOUT_S) -> dict[str, Any]:
        try:
            line = self._lines.get(timeout=timeout_s)
        except queue.Empty:
            raise click.ClickException(
                f"a {self.role} worker did not answer {word!r} within {timeout_s:.0f} s") from None
        if not line:
            tail = self.stderr.read_text(errors="replace")[-2000:]
            raise click.ClickException(f"a {self.role} worker stopped:\n{tail}")
        said, _, rest = line.strip().partition(" ")
        if said != word:
            raise click.ClickException(f"a {self.role} worker said {line.strip()!r}")
        value: dict[str, Any] = json.loads(rest) if rest else {}
        return value

    def ask(self, word: str) -> dict[str, Any]:
        self.tell(word)
        return self.read(word)

    def cpu(self) -> float:
        try:
            return cpu_seconds(self.process.pid)
        except OSError:
            return 0.0

    def end(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)


def _spawn(role: str, args: list[str], workdir: Path, stack: ExitStack) -> Worker:
    stderr_path = workdir / f"{role}-{len(list(workdir.glob(role + '-*.log')))}.log"
    stderr = stack.enter_context(stderr_path.open("w"))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    process = subprocess.Popen([sys.executable, "-m", "edge.bench.fleet", role, *args],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
                               text=True, bufsize=1, env=env, cwd=REPO_ROOT)
    worker = Worker(role, process, stderr_path)
    stack.callback(worker.end)
    return worker


@contextmanager
def fleet_broker(workdir: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """Mosquitto on a free loopback port: no connection limit (max_connections -1), no
    queue limit (a consumer that lags must not lose events), descriptors up to the hard
    limit."""
    broker = Broker(workdir, preexec=_raise_fd_limit, extra_config=(
        "max_connections -1\nmax_queued_messages 0\n"
        + ("user root\n" if os.geteuid() == 0 else "")))
    try:
        broker.start()
    except BrokerUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    if broker.process is None:  # start() returned, so it runs; for the type checker
        raise click.ClickException("mosquitto did not start")
    try:
        yield broker.process, broker.port
    finally:
        broker.stop()


def machine_busy_seconds() -> float:
    """CPU seconds every core of the machine spent busy since boot (/proc/stat)."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / TICK


@dataclass
class CpuMark:
    """CPU seconds of the broker, of each worker and of the machine at one moment."""

    wall: float
    machine: float
    broker: float
    workers: dict[str, list[float]]


class CpuMeter:
    """Where the CPU goes between two marks: broker, gate processes, consumer processes, the
    machine as a whole (what none of ours used is other load, e.g. the kernel's loopback
    networking or other programs on the machine)."""

    def __init__(self, broker_pid: int, groups: dict[str, list[Worker]]) -> None:
        self.broker_pid = broker_pid
        self.groups = groups

    def mark(self) -> CpuMark:
        return CpuMark(time.time(), machine_busy_seconds(), cpu_seconds(self.broker_pid),
                       {name: [w.cpu() for w in workers]
                        for name, workers in self.groups.items()})

    @staticmethod
    def between(a: CpuMark, b: CpuMark, events: int) -> dict[str, Any]:
        wall = max(1e-6, b.wall - a.wall)

        def group(per: list[float]) -> dict[str, Any]:
            return {"cpu_s": round(sum(per), 2), "cores": round(sum(per) / wall, 2),
                    "processes": len(per),
                    "busiest_process_cores": round(max(per, default=0.0) / wall, 2),
                    "cpu_ms_per_event": round(1000 * sum(per) / events, 3) if events else None}

        figures = {"broker": group([b.broker - a.broker])}
        for name in a.workers:
            figures[name] = group([y - x for x, y in zip(a.workers[name], b.workers[name],
                                                         strict=True)])
        ours = sum(g["cpu_s"] for g in figures.values())
        machine = b.machine - a.machine
        figures["machine"] = {"cores": os.cpu_count() or 1,
                              "busy_cores": round(machine / wall, 2),
                              "other_load_cores": round(max(0.0, machine - ours) / wall, 2)}
        return figures


def saturation(cpu: dict[str, Any]) -> dict[str, Any]:
    """Which part limits the run. A process at about one core is at its own limit
    (Mosquitto is single-threaded; a Python process runs one thread at a time); otherwise a
    machine with every core busy is the limit, and the part using most of it the bottleneck."""
    parts = ("broker", "gates", "consumers")
    full = [p for p in parts if cpu[p]["busiest_process_cores"] >= 0.85]
    machine = cpu["machine"]
    if full:
        part = max(full, key=lambda p: cpu[p]["busiest_process_cores"])
        return {"bottleneck": part, "why": f"a {part} process uses a whole core "
                f"({cpu[part]['busiest_process_cores']})"}
    if machine["busy_cores"] >= 0.85 * machine["cores"]:
        part = max(parts, key=lambda p: cpu[p]["cores"])
        return {"bottleneck": part, "why": f"all {machine['cores']} cores busy "
                f"({machine['busy_cores']}); the {part} use the most ({cpu[part]['cores']})"}
    return {"bottleneck": None, "why": "no process and not the machine at its limit "
            f"({machine['busy_cores']} of {machine['cores']} cores busy)"}


def _merge(files: list[Path], expected: dict[str, list[Any]]) -> dict[str, Any]:
    """Every consumer's receipts together: duplicates, missing events, latency, last receipt."""
    deduper = Deduper(memory=50_000_000)
    latencies: list[float] = []
    receipts: list[float] = []
    received = 0
    last = 0.0
    seen: dict[str, set[int]] = {}
    for path in files:
        with path.open() as f:
            for line in f:
                event_id, compound_id, gate_id, seq, latency, at = line.rstrip("\n").split("\t")
                received += 1
                message = EventMessage.model_construct(
                    type=EventType.PASSAGE, event_id=event_id, gate_id=gate_id,
                    compound_id=compound_id, seq=int(seq), at=_EPOCH)
                if deduper.accept(message).new:
                    latencies.append(float(latency))
                    receipts.append(float(at))
                    seen.setdefault(gate_id, set()).add(int(seq))
                    last = max(last, float(at))
    missing = 0
    foreign = 0
    for gate_id, (_, count) in expected.items():
        got = seen.pop(gate_id, set())
        missing += sum(1 for s in range(1, count + 1) if s not in got)
        foreign += sum(1 for s in got if s > count)
    foreign += sum(len(s) for s in seen.values())  # gates nobody simulated
    return {"received": received, "duplicates": deduper.duplicates, "missing": missing,
            "unexpected": foreign, "latencies": latencies, "receipts": receipts,
            "last_receipt": last}


def run_fleet(gates: int, consumers: int, events: int, rate: float, timeout_s: float,
              gate_processes: int, record: str = "outbox",
              backlog: bool = False) -> dict[str, Any]:
    """The whole benchmark; the figures as a JSON-ready dict."""
    deadline = time.monotonic() + timeout_s
    with tempfile.TemporaryDirectory(prefix="gridgate-bench-fleet-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        broker, port = stack.enter_context(fleet_broker(workdir))
        outputs = [workdir / f"consumer-{i}.tsv" for i in range(consumers)]
        eaters = [_spawn("consumer", ["127.0.0.1", str(port), str(i), str(outputs[i])],
                         workdir, stack) for i in range(consumers)]
        for worker in eaters:
            worker.read("ready", 30)
        share = math.ceil(gates / gate_processes)
        left = max(1.0, deadline - time.monotonic())
        jobs = [GateJob("127.0.0.1", port, str(workdir / "gates"), first,
                        min(share, gates - first), events, rate, gates, left,
                        record == "journal", backlog)
                for first in range(0, gates, share)]
        feeders = [_spawn("gates", [json.dumps(asdict(job))], workdir, stack) for job in jobs]
        ready = [worker.read("ready", left + READ_TIMEOUT_S) for worker in feeders]
        connected = sum(r["connected"] for r in ready)
        if connected < gates and not backlog:
            highest = max(r["highest_fd"] for r in ready)
            raise click.ClickException(
                f"only {connected} of {gates} gates connected in time"
                + (f" (descriptor {highest} is past paho's select() limit of {SELECT_LIMIT}: "
                   "use more --gate-processes)" if highest >= SELECT_LIMIT else ""))
        meter = CpuMeter(broker.pid, {"gates": feeders, "consumers": eaters})
        idle_from = meter.mark()
        time.sleep(2.0)  # the fleet connected, nothing recorded: the cost of being there
        idle = CpuMeter.between(idle_from, meter.mark(), 0)
        t0 = time.time() + 0.3
        for worker in feeders:
            worker.tell(f"go {t0!r}")
        time.sleep(max(0.0, t0 - time.time()))
        run_from = meter.mark()
        total = gates * events
        timed_out = False
        while True:
            time.sleep(0.25)
            states = [w.ask("status") for w in feeders]
            counts = [w.ask("status") for w in eaters]
            drained = all(s["done"] and s["acknowledged"] >= s["recorded"] for s in states)
            if drained and sum(c["new"] for c in counts) >= total:
                break
            if time.monotonic() > deadline:
                timed_out = True
                break
        run_to = meter.mark()
        broker_fds = process_fds(broker.pid)  # every gate and consumer connected
        time.sleep(0.3)  # redeliveries still on their way are counted too
        for worker in [*feeders, *eaters]:
            worker.tell("stop")
        stop_by = time.monotonic() + READ_TIMEOUT_S  # all stop at once, within a minute
        done = [w.read("done", max(1.0, stop_by - time.monotonic())) for w in feeders]
        for worker in eaters:
            worker.read("done", max(1.0, stop_by - time.monotonic()))
        for worker in [*feeders, *eaters]:
            worker.process.wait(max(1.0, stop_by - time.monotonic()))
        expected: dict[str, list[Any]] = {}
        for d in done:
            expected.update(d["expected"])
        merged = _merge(outputs, expected)

    recorded = sum(count for _, count in expected.values())
    cpu = CpuMeter.between(run_from, run_to, recorded)
    cpu["gates"]["recording_cpu_s"] = round(sum(s["recording_cpu_s"] for s in states), 2)
    latencies = np.array(merged.pop("latencies") or [0.0]) * 1000
    receipts = np.array(merged.pop("receipts") or [t0])
    if backlog:  # every event was recorded before the run: time since the uplink came back
        latencies = (receipts - t0) * 1000
    last = merged.pop("last_receipt") or run_to.wall
    return {
        "gates": gates, "consumers": consumers, "events_per_gate": events,
        "events": recorded, "rate_per_gate": rate or None, "record": record,
        "backlog": backlog,
        "events_per_s": round((recorded - merged["missing"]) / max(1e-6, last - t0)),
        "latency_p50_ms": round(float(np.percentile(latencies, 50)), 1),
        "latency_p95_ms": round(float(np.percentile(latencies, 95)), 1),
        "latency_max_ms": round(float(latencies.max()), 1),
        "exactly_once": merged["missing"] == 0 and merged["unexpected"] == 0 and not timed_out,
        **merged,
        "timed_out": timed_out, "duration_s": round(run_to.wall - t0, 2),
        "record_lag_max_s": max(s["lag_s"] for s in states),
        "connect_s": max(st["connect_s"] or 0.0 for st in states),
        "prepare_s": max(r["prepare_s"] for r in ready),
        "reconnections": sum(d["reconnections"] for d in done),
        "cpu": cpu,
        "idle_cores": {k: v["cores"] for k, v in idle.items() if k != "machine"},
        "saturation": saturation(cpu),
        "limits": {"gate_processes": len(feeders),
                   "gate_threads_per_process": max(d["threads_peak"] for d in done),
                   "gate_fds_per_process": max(d["fds"] for d in done),
                   "gate_highest_fd": max(d["highest_fd"] for d in done),
                   "select_fd_limit": SELECT_LIMIT,
                   "broker_fds": broker_fds,
                   "fd_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[1]},
    }


@click.command("fleet")
@click.option("--gates", type=click.IntRange(1, 5000), default=100, show_default=True,
              help="Simulated gates, each with its own outbox, publisher and connection.")
@click.option("--consumers", type=click.IntRange(1, 64), default=2, show_default=True,
              help="Platform consumer processes in one shared subscription group.")
@click.option("--events-per-gate", type=click.IntRange(1, 1_000_000), default=100,
              show_default=True, help="Passages each gate records.")
@click.option("--rate", type=click.FloatRange(0), default=0.0, show_default=True,
              help="Passages per second per gate; 0: as fast as the gates can record.")
@click.option("--record", type=click.Choice(["outbox", "journal"]), default="outbox",
              show_default=True,
              help="Write each passage's outbox row alone, or through the whole journal.")
@click.option("--backlog", is_flag=True,
              help="Fill every outbox first, connect the gates at the start: the uplink "
                   "returning to a fleet (latency then counts from that moment).")
@click.option("--gate-processes", type=click.IntRange(1, 64), default=None,
              help="Worker processes the gates are spread over (default: one per core, and "
                   f"at least one per {MAX_GATES_PER_PROCESS} gates).")
@click.option("--timeout-s", type=click.FloatRange(5), default=120.0, show_default=True,
              help="Give up (and report what arrived) after this long.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (the default output anyway).")
def bench_fleet(gates: int, consumers: int, events_per_gate: int, rate: float, record: str,
                backlog: bool, gate_processes: int | None, timeout_s: float,
                as_json: bool) -> None:
    """Many gates and platform consumers over one local Mosquitto: events/s end to end,
    latency p50/p95, exactly-once after dedupe, and CPU per process group."""
    if shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists():
        raise click.ClickException("mosquitto is not installed (apt-get install mosquitto)")
    processes = min(gates, max(gate_processes or os.cpu_count() or 1,
                               math.ceil(gates / MAX_GATES_PER_PROCESS)))
    if backlog and (rate or record == "journal"):
        raise click.UsageError("--backlog fills the outboxes directly: no --rate or --record")
    emit_json(run_fleet(gates, consumers, events_per_gate, rate, timeout_s, processes, record,
                        backlog))


def _main(argv: list[str]) -> None:
    if argv[0] == "gates":
        run_gates(GateJob(**json.loads(argv[1])))
    elif argv[0] == "consumer":
        run_consumer(argv[1], int(argv[2]), int(argv[3]), Path(argv[4]))
    else:
        raise SystemExit(f"unknown role {argv[0]!r}")


if __name__ == "__main__":
    _main(sys.argv[1:])

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
from contextlib import ExitStack, contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import numpy as np

from edge.bench.cpu import CpuMeter, cpu_seconds, saturation
from edge.bench.fleet_workers import GateJob, raise_fd_limit
from edge.cli.output import emit_json
from edge.demo.broker import Broker, BrokerUnavailable
from gate.vocabulary import EventType
from sync.consumer import Deduper
from sync.messages import EventMessage

# paho-mqtt's network loop uses select(), which cannot watch a descriptor numbered 1024 or
# above (it reports the connection lost): every socket of a process must stay below that.
# A simulated gate holds about nine (journal and publisher SQLite files, its socket, paho's
# wake-up socket pair), so a process holds at most ~110 gates; 100 leaves room.
MAX_GATES_PER_PROCESS = 100
SELECT_LIMIT = 1024
READ_TIMEOUT_S = 60.0  # a worker answers a status question at once; setup and stop take longer
REPO_ROOT = Path(__file__).resolve().parents[2]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # Deduper looks at ids and seqs only


def process_fds(pid: int) -> int | None:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


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
    process = subprocess.Popen([sys.executable, "-m", "edge.bench.fleet_workers", role, *args],
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
    broker = Broker(workdir, preexec=raise_fd_limit, extra_config=(
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

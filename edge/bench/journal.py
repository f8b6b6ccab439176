"""`gridgate bench journal`: a realistic journal of N passages and how fast it answers.

Builds (edge/bench/journal_build.py) or reuses (`--dir` holding one built with the same
parameters) a journal, then times each question people ask of it: who is out, a full
trajectory, the history one decision reads, contacts of the last 14 days, an hour's passages.
Warm: the median of repeats on an open connection. Cold: pages dropped from the page cache
first, then a new connection, as a CLI command starts; as root the whole page cache (the
program's libraries too, as after a reboot), else the journal's file alone; as root also once
more with the file alone (`*_cold_file_ms`). Also the bytes per passage (tables
and indexes, from SQLite's dbstat), the CLI's start to first byte, the hash chain's cost per
passage, `journal verify` and a prune's longest write-lock hold. Prints one JSON document;
progress goes to stderr. The prune, timed last, removes the oldest records it reaches.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import click

from edge.bench.journal_build import ZONE, Compound
from edge.cli.output import emit_json
from gate.clock import ManualClock
from gate.journal import Journal, JournalQueries, chain
from gate.journal.codec import from_us
from gate.journal.retention import Retention, prune
from gate.journal.schema import migrate
from gate.journal.verify import verify
from gate.policy import Policy
from gate.store import database_path, open_database, open_reader

# What bytes_per_passage counts: the passages, their indexes, dictionaries and the chain's own.
PASSAGE_TABLES = ("passage_log", "passage_log_at", "passage_log_seq", "passage_recent",
                  "passage_log_yellow_exits", "passage_log_snapshots", "passage_last",
                  "journal_names", "journal_names_name", "journal_counters", "journal_peer_seq",
                  "journal_notes", "journal_chain_gaps", "journal_wipes")
TARGETS_MS = {"query": 50.0, "history": 1.0, "cli_first_byte": 250.0}
TARGET_BYTES = 150
Question = Callable[[JournalQueries], object]


class _RollBack(Exception):
    """Leaves a transaction without writing anything."""


def drop_cache(paths: list[Path], *, everything: bool = True) -> str:
    """Drop pages from the page cache; says how: everything (as root, /proc/sys/vm/drop_caches:
    the program's own libraries too, as after a reboot), or the files' pages alone."""
    os.sync()
    if everything:
        try:
            Path("/proc/sys/vm/drop_caches").write_text("3\n")
            return "drop_caches"
        except OSError:
            pass
    for path in paths:
        if path.exists():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)
    return "posix_fadvise_dontneed"


def _timed(question: Question, queries: JournalQueries) -> tuple[float, object]:
    started = time.perf_counter()
    result = question(queries)
    return (time.perf_counter() - started) * 1000, result


class Bench:
    """The built journal and the questions asked of it."""

    def __init__(self, path: Path, seed: int) -> None:
        self.path = path
        self.rng = random.Random(seed + 1)
        self.files = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
        probe = JournalQueries(open_reader(path))
        # "Now" is just after the newest passage: nothing is recorded after it.
        self.end = from_us(probe.conn.execute("SELECT max(at) FROM passage_log").fetchone()[0]
                           ) + timedelta(seconds=1)
        rows = probe.conn.execute(
            "SELECT n.name, h.name FROM passage_last l JOIN journal_names n ON n.kind = 3 "
            "AND n.code = l.person LEFT JOIN journal_names h ON h.kind = 4 "
            "AND h.code = l.household WHERE l.colour IN (1, 2)").fetchall()
        self.people = sorted(rows)
        probe.conn.close()

    def questions(self) -> dict[str, Question]:
        """Each question with a fresh random subject (a person, an hour)."""
        person, household = self.rng.choice(self.people)
        hour = self.end - timedelta(days=self.rng.uniform(1, 30))
        policy = Policy()
        return {
            "who_is_out": lambda q: q.who_is_out(),
            "trajectory": lambda q: q.trajectory(person),
            "history": lambda q: q.history(person_id=person, household_id=household,
                                           gate_id="gate-1", policy=policy, now=self.end),
            "contacts": lambda q: q.contacts(person, timedelta(minutes=10),
                                             since=self.end - timedelta(days=14)),
            "passages": lambda q: q.passages_between(hour, hour + timedelta(hours=1)),
        }

    def warm(self, rounds: int) -> dict[str, Any]:
        """Each question on an open connection, its subject's pages read once first."""
        queries = JournalQueries(open_reader(self.path))
        out: dict[str, Any] = {}
        for name in self.questions():
            times, sizes = [], []
            for _ in range(rounds):
                question = self.questions()[name]
                question(queries)
                ms, result = _timed(question, queries)
                times.append(ms)
                sizes.append(len(result) if isinstance(result, list) else 1)
            out[f"{name}_ms"] = round(statistics.median(times), 3)
            out[f"{name}_max_ms"] = round(max(times), 3)
            out[f"{name}_rows"] = round(statistics.median(sizes))
        samples = sorted(_timed(self.questions()["history"], queries)[0] for _ in range(500))
        out["history_ms"] = round(samples[len(samples) // 2], 4)  # one decision after another
        out["history_p95_ms"] = round(samples[int(len(samples) * 0.95)], 4)
        queries.conn.close()
        return out

    def cold(self, rounds: int, *, everything: bool = True) -> dict[str, Any]:
        """Each question after pages left the cache (see drop_cache), on a new connection."""
        out: dict[str, Any] = {}
        suffix, method = ("cold" if everything else "cold_file"), ""
        for name in self.questions():
            times = []
            for _ in range(rounds):
                question = self.questions()[name]
                method = drop_cache(self.files, everything=everything)
                started = time.perf_counter()
                question(JournalQueries(open_reader(self.path)))
                times.append((time.perf_counter() - started) * 1000)
            out[f"{name}_{suffix}_ms"] = round(statistics.median(times), 3)
            out[f"{name}_{suffix}_max_ms"] = round(max(times), 3)
        out[f"{suffix}_method"] = method
        return out

    def cli_first_byte(self, workdir: Path, rounds: int) -> dict[str, Any]:
        """`gridgate who-is-out` from the start of the process to its first byte of output."""
        config = workdir / "bench.toml"
        trust = workdir / "trust.json"
        trust.write_text("{}")
        config.write_text(
            f'[gate]\ngate_id = "gate-1"\ncompound_id = "bench"\n'
            f'[[readers]]\nreader_id = "in-cam"\ndirection = "in"\ncamera = "0"\n'
            f'relay_pin = 17\n[storage]\nstate_dir = "{self.path.parent}"\n'
            f'[passes]\ntrust_list = "{trust}"\n')
        script = Path(sys.executable).with_name("gridgate")
        command = ([str(script)] if script.exists() else
                   [sys.executable, "-m", "edge.cli.main"]) + ["who-is-out", "-c", str(config)]
        times, lines = [], 0
        for _ in range(rounds):
            started = time.perf_counter()
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            assert process.stdout is not None
            first = process.stdout.read(1)
            times.append((time.perf_counter() - started) * 1000)
            rest = process.stdout.read()  # the buffer already holds what read(1) fetched
            err = process.stderr.read() if process.stderr else b""
            if process.wait(timeout=60) != 0 or not first:
                raise click.ClickException(f"gridgate who-is-out failed: {err.decode()[-500:]}")
            lines = (first + rest).count(b"\n")
        return {"cli_first_byte_ms": round(statistics.median(times), 1),
                "cli_first_byte_max_ms": round(max(times), 1), "cli_lines": lines}

    def sizes(self, passages: int) -> dict[str, Any]:
        conn = open_reader(self.path)
        pages = dict(conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"))
        conn.close()
        mine = sum(pages.get(name, 0) for name in PASSAGE_TABLES)
        return {"bytes_per_passage": round(mine / passages, 1),
                "file_bytes_per_passage": round(self.path.stat().st_size / passages, 1),
                "file_mb": round(self.path.stat().st_size / 2**20, 1),
                "bytes_by_table": {k: v for k, v in sorted(pages.items(), key=lambda i: -i[1])
                                   if v >= 4096 * 4}}

    def chain_cost(self, samples: int = 2000) -> dict[str, Any]:
        """Time the chain adds to one passage: its content, its link, the head's two updates."""
        db = open_database(self.path)
        journal = Journal(db, gate_id="gate-1", clock=ManualClock(self.end))
        rows = journal.recent_passages(samples)
        hashing = []
        for row in rows:
            started = time.perf_counter_ns()
            chain.link(1, chain.Table.PASSAGES, 1, chain.passage_content(row))
            hashing.append(time.perf_counter_ns() - started)
        writing = []
        try:
            with journal.transaction():  # the real step, rolled back: content, link, head
                for row in rows:
                    started = time.perf_counter_ns()
                    journal._chain(chain.Table.PASSAGES, chain.passage_content(row))
                    writing.append(time.perf_counter_ns() - started)
                raise _RollBack
        except _RollBack:
            pass
        db.close()
        return {"chain_hash_us_per_passage": round(statistics.median(hashing) / 1000, 2),
                "chain_us_per_passage": round(statistics.median(writing) / 1000, 2)}


    def verify(self) -> dict[str, Any]:
        """`gridgate journal verify` over the whole chain."""
        started = time.monotonic()
        verdict = verify(JournalQueries(open_reader(self.path)))
        return {"verify_s": round(time.monotonic() - started, 2), "verify_ok":
                verdict.broken is None, "chain_records": verdict.records}

    def prune(self, batches: int) -> dict[str, Any]:
        """The oldest `batches` transactions of a prune with the default retention, as the gate
        runs it (synchronous=FULL): how long each held the writer lock."""
        db = open_database(self.path)
        journal = Journal(db, gate_id="gate-1", clock=ManualClock(self.end))
        report = prune(journal, Retention(passages_days=30, denied_days=14, alerts_days=90,
                                          door_events_days=30), Policy(), now=self.end,
                       max_batches=batches).as_dict()
        db.close()
        return {"prune_batches": report["batches"],
                "prune_rows": sum(report["removed"].values()),
                "prune_lock_max_ms": report["lock_max_ms"],
                "prune_lock_p50_ms": report["lock_p50_ms"]}


def build(path: Path, *, passages: int, persons: int, gates: int, years: float, seed: int,
          end: datetime) -> dict[str, Any]:
    """Write the journal; the build's own figures."""
    db = open_database(path)
    db.execute("PRAGMA synchronous=OFF")  # a build, not a gate: the rows are the same
    db.execute("PRAGMA cache_size=-262144")
    start = end - timedelta(days=365.25 * years)
    clock = ManualClock(start)
    journal = Journal(db, gate_id="gate-1", clock=clock)
    compound = Compound(journal, clock, persons=persons, gates=gates, start=start, end=end,
                        seed=seed)
    began = time.monotonic()

    def progress(done: int) -> None:
        if done % 1_000_000 < 20_000 or done == passages:
            rate = done / (time.monotonic() - began)
            print(f"built {done} of {passages} passages ({rate:.0f}/s)", file=sys.stderr,
                  flush=True)

    built = compound.run(passages, progress=progress)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return {"build_s": round(time.monotonic() - began, 1), "own_passages": built.own,
            "peer_passages": built.peer, "denied": built.denied,
            "door_events": built.door_events, "alerts": built.alerts}


@click.command("journal")
@click.option("--passages", type=click.IntRange(1000, 100_000_000), default=10_000_000,
              show_default=True, help="Passages in the journal.")
@click.option("--persons", type=click.IntRange(10, 100_000), default=5000, show_default=True)
@click.option("--gates", type=click.IntRange(1, 20), default=3, show_default=True,
              help="Gates of the compound; the first is this gate, the others its peers.")
@click.option("--years", type=click.FloatRange(0.1, 20), default=3.0, show_default=True)
@click.option("--rounds", type=click.IntRange(1, 50), default=5, show_default=True,
              help="Repeats of each timing (the median is reported).")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--prune-batches", type=click.IntRange(1, 10_000), default=40, show_default=True,
              help="Transactions of the prune timed last (200 records each; they are removed).")
@click.option("--dir", "workdir", type=click.Path(path_type=Path, file_okay=False),
              help="Keep the journal here and reuse it next time (same parameters); by default "
              "a temporary folder, removed afterwards.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (the default output anyway).")
def bench_journal(passages: int, persons: int, gates: int, years: float, rounds: int,
                  seed: int, prune_batches: int, workdir: Path | None, as_json: bool) -> None:
    """Build a realistic journal and time the questions asked of it, warm and cold."""
    load_before = os.getloadavg()
    temporary = workdir is None
    folder = Path(tempfile.mkdtemp(prefix="gridgate-bench-journal-")) if temporary else workdir
    assert folder is not None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = database_path(folder)
        params = {"passages": passages, "persons": persons, "gates": gates, "years": years,
                  "seed": seed}
        stamp = folder / "bench-journal.json"
        reuse = stamp.exists() and path.exists() and json.loads(stamp.read_text()).get(
            "params") == params
        if reuse:
            built = json.loads(stamp.read_text())
            with closing(open_database(path)) as db:  # a journal kept from an older release
                migrate(db)
        else:
            for stale in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                stale.unlink(missing_ok=True)
            # The last day ends at 22:00: passages fall between 06:00 and 22:00 local.
            end = datetime.now(ZONE).replace(hour=22, minute=0, second=0, microsecond=0
                                             ) - timedelta(days=1)
            built = {"params": params, "end": end.isoformat(),
                     **build(path, passages=passages, persons=persons, gates=gates,
                             years=years, seed=seed, end=end)}
            stamp.write_text(json.dumps(built))
        bench = Bench(path, seed)
        result: dict[str, Any] = {
            "passages": passages, "persons": persons, "gates": gates, "years": years,
            "reused": reuse, **{k: v for k, v in built.items() if k not in ("params", "end")},
            **bench.sizes(passages),
        }
        result.update(bench.warm(rounds))
        cold_rounds = max(1, min(rounds, 3))
        result.update(bench.cold(cold_rounds))
        if result["cold_method"] == "drop_caches":  # also the journal's own pages alone
            result.update(bench.cold(cold_rounds, everything=False))
        result.update(bench.cli_first_byte(folder, rounds))
        result.update(bench.chain_cost())
        result.update(bench.verify())
        result.update(bench.prune(prune_batches))
        result["targets"] = {"query_ms": TARGETS_MS["query"], "history_ms": TARGETS_MS["history"],
                             "cli_first_byte_ms": TARGETS_MS["cli_first_byte"],
                             "bytes_per_passage": TARGET_BYTES}
        result["load_avg"] = {"before": [round(x, 2) for x in load_before],
                              "after": [round(x, 2) for x in os.getloadavg()]}
        emit_json(result)
    finally:
        if temporary:
            shutil.rmtree(folder, ignore_errors=True)

"""`gridgate bench ...`: benchmarks that print their figures as JSON."""

from __future__ import annotations

import click

from edge.cli.lazy import LazyGroup

BENCHMARKS = {
    "decide": "edge.bench.decide:bench_decide",
    "qr": "edge.bench.qr:bench_qr",
    "faces": "edge.bench.faces:bench_faces",
    "sync": "edge.bench.sync:bench_sync",
    "fleet": "edge.bench.fleet:bench_fleet",
    "passes": "edge.bench.passes:bench_passes",
    "peers": "edge.bench.peers:bench_peers",
    "signals": "edge.bench.signals:bench_signals",
    "journal": "edge.bench.journal:bench_journal",
}


@click.group(cls=LazyGroup, lazy=BENCHMARKS)
def bench() -> None:
    """Measure speed; each benchmark prints one JSON document."""

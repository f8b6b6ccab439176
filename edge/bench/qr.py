"""`gridgate bench qr`: decode rate and time per image of each QR decoder on real photos."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import numpy as np

from edge.cli.output import emit_json
from edge.shared_data import shared_data_dir
from vision.errors import ImageError
from vision.facts import QrSeen
from vision.images import load_image
from vision.qr import make_decoder
from vision.sources import IMAGE_SUFFIXES

DECODERS = ("zxing", "pyzbar")


@dataclass(frozen=True)
class Sample:
    """One photo and the texts a decoder should find in it (empty: no code at all)."""

    path: Path
    expected: str | None  # None: a QR photo without a recorded expectation
    image: np.ndarray


def load_samples(qr_dir: Path) -> tuple[list[Sample], int]:
    """Every readable image under `qr_dir` and how many were unreadable; `X.txt` beside
    `X.webp` holds the text expected in it."""
    samples = []
    unreadable = 0
    for path in sorted(qr_dir.rglob("*")):
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        try:
            image = load_image(path)
        except ImageError:
            unreadable += 1  # the benchmark measures decoders, not file formats
            continue
        txt = path.with_suffix(".txt")
        if "falsepositives" in path.parent.name:
            expected: str | None = ""
        elif txt.is_file():
            expected = txt.read_text(encoding="utf-8", errors="replace")
        else:
            expected = None
        samples.append(Sample(path, expected, image))
    return samples, unreadable


def measure(name: str, samples: list[Sample], repeats: int) -> dict[str, Any]:
    """Decode every sample with one decoder; count hits, misses and false positives, time each."""
    decoder = make_decoder(name)
    hits = misses = false_positives = 0
    times: list[float] = []
    for sample in samples:
        best = float("inf")
        found: list[QrSeen] = []  # replaced below: repeats is at least 1 (the IntRange)
        for _ in range(repeats):
            started = time.perf_counter()
            found = decoder.decode(sample.image)
            best = min(best, time.perf_counter() - started)
        times.append(best)
        texts = [code.text for code in found]
        if sample.expected == "":
            false_positives += bool(texts)
        elif sample.expected is not None:
            # zxing's expectations strip a trailing newline some files carry.
            if any(t.rstrip("\n") == sample.expected.rstrip("\n") for t in texts):
                hits += 1
            else:
                misses += 1
    expected = hits + misses
    ms = np.array(times) * 1000
    return {
        "decoded": hits,
        "expected": expected,
        "rate": round(hits / expected, 3) if expected else None,
        "false_positive_images": false_positives,
        "mean_ms": round(float(ms.mean()), 2),
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p95_ms": round(float(np.percentile(ms, 95)), 2),
    }


@click.command("qr")
@click.option("--data", "data_dir", type=click.Path(path_type=Path, file_okay=False),
              default=None, help="Folder of QR photos [default: ../shared/data/qr].")
@click.option("--repeats", type=click.IntRange(1, 20), default=3, show_default=True,
              help="Decode each image this many times and keep the fastest.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (the default output anyway).")
def bench_qr(data_dir: Path | None, repeats: int, as_json: bool) -> None:
    """Rate and time per image of zxing-cpp and pyzbar on real QR photos."""
    if data_dir is None:
        shared = shared_data_dir()
        if shared is None:
            raise click.ClickException("no QR photos: ../shared/data/qr is absent; pass --data")
        data_dir = shared / "qr"
    samples, unreadable = load_samples(data_dir)
    if not samples:
        raise click.ClickException(f"no readable images under {data_dir}")
    result: dict[str, Any] = {"images": len(samples), "unreadable_files": unreadable,
                              "folder": str(data_dir)}
    for name in DECODERS:
        result[name] = measure(name, samples, repeats)
    emit_json(result)

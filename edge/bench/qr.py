"""`gridgate bench qr`: decode rate and time per image of each QR decoder on real photos, or
(`--scenes`) on generated gate-camera frames of signed passes (edge/bench/scenes.py)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import numpy as np

from edge.bench.qr_scenes import (
    DEFAULT_VARIANT,
    HIGH_RESOLUTION_ONLY,
    VARIANTS,
    empty_frame_cost,
    report,
)
from edge.bench.qr_scenes import measure as measure_frames
from edge.bench.qr_scenes import save_frames as save_frames_to
from edge.bench.scenes import NoBackgrounds, card_scenes, load_backgrounds, pass_deck, phone_scenes
from edge.cli.output import emit_json
from edge.shared_data import REPO_ROOT, shared_data_dir
from gate.model import Colour
from gate.passes.qr import ERROR_LEVEL, qr_version
from gate.passes.verify import MAX_TEXT
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
@click.option("--scenes", is_flag=True,
              help="Generated gate-camera frames of signed passes instead of the photos.")
@click.option("--cards", type=click.IntRange(1, 5000), default=300, show_default=True,
              help="--scenes: how many cards (or phone screens) to show.")
@click.option("--frames-per-card", type=click.IntRange(1, 10), default=3, show_default=True,
              help="--scenes: frames of each card, as a hand holds it for a moment.")
@click.option("--seed", type=click.IntRange(0, 2**31), default=14, show_default=True,
              help="--scenes: the seed; the same seed makes the same frames.")
@click.option("--phone", is_flag=True, help="--scenes: codes on a phone's screen, not cards.")
@click.option("--text", "texts", multiple=True, metavar="TEXT",
              help="--scenes --phone: show this text (repeatable), e.g. a live code; it is "
                   "matched, not verified. Default: the signed passes.")
@click.option("--scale", type=click.Choice(["1", "1.5", "2"]), default="1", show_default=True,
              help="--scenes: capture resolution as a multiple of 640x480.")
@click.option("--ecc", type=click.Choice(["l", "m", "q", "h"]), default=ERROR_LEVEL,
              show_default=True, help="--scenes: render the codes at this error correction "
              "level, to compare with the gate's.")
@click.option("--short-ids", is_flag=True, help="--scenes: passes with ids short enough for a "
              "smaller QR version (a recommendation to the platform, measured).")
@click.option("--worn", is_flag=True, help="--scenes: a thumb over the card's edge and scuffs "
              "on it (beyond the issue's ranges).")
@click.option("--variant", "variants", multiple=True, type=click.Choice(list(VARIANTS)),
              help="--scenes: decoders to measure (repeatable) [default: all].")
@click.option("--backgrounds", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="--scenes: background photos [default: ../shared/data/faces].")
@click.option("--save-frames", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="--scenes: also write every frame and an index.json to this folder.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (the default output anyway).")
def bench_qr(data_dir: Path | None, repeats: int, scenes: bool, cards: int,
             frames_per_card: int, seed: int, phone: bool, texts: tuple[str, ...], scale: str,
             ecc: str, short_ids: bool, worn: bool, variants: tuple[str, ...],
             backgrounds: Path | None, save_frames: Path | None, as_json: bool) -> None:
    """Rate and time per image of zxing-cpp and pyzbar on real QR photos, or with --scenes the
    rate of gate-camera frames decoded and verified, per module size, blur and angle."""
    if scenes:
        emit_json(run_scenes(cards=cards, frames_per_card=frames_per_card, seed=seed,
                             phone=phone, texts=texts, scale=float(scale), ecc=ecc,
                             short_ids=short_ids, worn=worn,
                             variants=variants or default_variants(float(scale)),
                             backgrounds=backgrounds,
                             save_frames=save_frames))
        return
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


def default_variants(scale: float) -> tuple[str, ...]:
    """Every lever; the search at 640 px only when frames are larger than that."""
    return tuple(n for n in VARIANTS if scale > 1 or n not in HIGH_RESOLUTION_ONLY)


def run_scenes(*, cards: int, frames_per_card: int, seed: int, phone: bool,
               texts: tuple[str, ...], scale: float, ecc: str, short_ids: bool, worn: bool,
               variants: tuple[str, ...], backgrounds: Path | None,
               save_frames: Path | None) -> dict[str, Any]:
    """Generate the frames once, then measure each decoder variant on the same frames."""
    if backgrounds is None:
        shared = shared_data_dir()
        backgrounds = (shared or REPO_ROOT.parent / "shared" / "data") / "faces"
    if texts and not phone:
        raise click.BadParameter("--text shows a text on a phone screen: add --phone")
    if worn and phone:
        raise click.BadParameter("--worn wears a printed card, not a phone: drop one")
    if any(not 0 < len(t) <= MAX_TEXT for t in texts):
        raise click.BadParameter(f"each --text must be 1-{MAX_TEXT} characters")
    for text in texts:
        try:
            qr_version(text, ecc)
        except ValueError as exc:  # segno's DataOverflowError: more than any QR code holds
            raise click.BadParameter(f"--text {text[:20]!r}...: {exc}") from None
    try:
        photos = load_backgrounds(backgrounds)
    except NoBackgrounds as exc:
        raise click.ClickException(str(exc)) from None
    deck = pass_deck(seed, short_ids=short_ids)
    if phone:
        shown = [(t, Colour.GREEN) for t in texts] or [(p.text, p.colour) for p in deck.passes]
        frames = list(phone_scenes(shown, photos, seed=seed, cards=cards,
                                   frames_per_card=frames_per_card, scale=scale, error=ecc))
    else:
        frames = list(card_scenes(deck, photos, seed=seed, cards=cards,
                                  frames_per_card=frames_per_card, scale=scale, worn=worn,
                                  error=ecc))
    if save_frames is not None:
        save_frames_to(frames, save_frames)
    height, width = frames[0].image.shape[:2]
    versions: dict[str, list[int]] = {}
    for scene in frames:
        kind = scene.label.split()[0]
        versions[kind] = sorted(set(versions.get(kind, [])) | {scene.qr_version})
    checked = None if texts else deck
    result: dict[str, Any] = {
        "mode": "phone" if phone else "card", "seed": seed, "cards": cards,
        "frames_per_card": frames_per_card, "frame_size": f"{width}x{height}",
        "backgrounds": str(backgrounds), "ecc": ecc, "short_ids": short_ids,
        "worn": worn, "qr_versions": versions,
        "verified": checked is not None, "default_variant": DEFAULT_VARIANT,
        "variants": {name: report(measure_frames(VARIANTS[name](), frames, checked), frames,
                                  frames_per_card) for name in variants},
        "empty_frame_ms": empty_frame_cost(variants, photos, seed=seed),
    }
    return result

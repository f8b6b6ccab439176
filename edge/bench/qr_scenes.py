"""`gridgate bench qr --scenes`: how many gate-camera frames of a pass are decoded AND verified,
per module size, blur and angle, with false reads and the time per frame, for each lever."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge.bench.scenes import Deck, Scene, empty_frames
from vision.qr import QrDecoder
from vision.qr.zxing import ZxingDecoder

# Each lever on its own and together; "grey+second-looks" is what make_decoder("zxing") builds.
DEFAULT_VARIANT = "grey+second-looks"
VARIANTS: dict[str, Callable[[], QrDecoder]] = {
    "before": lambda: ZxingDecoder(grey=False, try_invert=False, second_looks=False,
                                   micro_codes=True),
    "grey": lambda: ZxingDecoder(second_looks=False),
    DEFAULT_VARIANT: ZxingDecoder,
    "grey+sharpen": lambda: ZxingDecoder(sharpen_first=True, second_looks=False),
    "grey+sharpen+second-looks": lambda: ZxingDecoder(sharpen_first=True),
    # Above 640x480: the first look at a 640-wide copy, second looks at full resolution.
    "search@640": lambda: ZxingDecoder(search_width=640),
}
HIGH_RESOLUTION_ONLY = ("search@640",)
BINS: dict[str, tuple[str, tuple[float, ...]]] = {
    "by_px_per_module": ("px_per_module", (2.0, 2.5, 3.0, 3.5, 4.0, 5.0)),
    "by_blur_px": ("motion_px", (0.0, 1.0, 2.0, 3.0, 4.0, 5.0)),
    "by_angle_deg": ("roll", (0.0, 10.0, 20.0, 30.0)),
    "by_tilt_deg": ("tilt", (0.0, 10.0, 20.0, 30.0, 40.0)),
}
EMPTY_SIZES = ((640, 480), (1280, 720))


@dataclass
class Tally:
    """What one decoder made of every frame."""

    read: list[bool] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    false_reads: list[str] = field(default_factory=list)
    unverified: int = 0  # the right text decoded, yet the gate refused it (never expected)


def _percentiles(seconds: Sequence[float]) -> dict[str, float]:
    ms = np.array(seconds) * 1000
    return {"p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p95_ms": round(float(np.percentile(ms, 95)), 2),
            "max_ms": round(float(ms.max()), 2)}


def _bin_label(value: float, edges: tuple[float, ...]) -> str:
    """Bins [low, high), the last one closed: the ranges' upper ends belong to them."""
    if value < edges[0]:
        return f"<{edges[0]:g}"
    for low, high in zip(edges, edges[1:], strict=False):
        if value < high or (high == edges[-1] and value <= high + 1e-9):
            return f"{low:g}-{high:g}"
    return f">{edges[-1]:g}"


def _rates(scenes: Sequence[Scene], read: Sequence[bool], attribute: str,
           edges: tuple[float, ...]) -> dict[str, dict[str, float]]:
    groups: dict[str, list[bool]] = {}
    for scene, ok in zip(scenes, read, strict=True):
        value = abs(float(getattr(scene, attribute)))
        groups.setdefault(_bin_label(value, edges), []).append(ok)
    return {label: {"frames": len(oks), "rate": round(sum(oks) / len(oks), 3)}
            for label, oks in sorted(groups.items(), key=lambda kv: _sort_key(kv[0]))}


def _sort_key(label: str) -> float:
    digits = label.lstrip("<>").split("-")[0]
    return float(digits) + {"<": -0.5, ">": 0.5}.get(label[0], 0.0)


def measure(decoder: QrDecoder, scenes: Sequence[Scene],
            deck: Deck | None) -> Tally:
    """Decode each frame, verify what was decoded through the gate's own verification."""
    tally = Tally()
    for scene in scenes:
        started = time.perf_counter()
        texts = [code.text for code in decoder.decode(scene.image)]
        verdicts = {text: deck.check(text).valid if deck else None for text in texts}
        tally.seconds.append(time.perf_counter() - started)
        decoded = scene.text in verdicts
        verified = decoded and verdicts[scene.text] is not False
        tally.read.append(verified)
        tally.unverified += decoded and not verified
        tally.false_reads += [text[:80] for text in texts if text != scene.text]
    return tally


def report(tally: Tally, scenes: Sequence[Scene], frames_per_card: int) -> dict[str, Any]:
    """Rates overall and per bin, false reads, time per frame, and cards read within k frames."""
    result: dict[str, Any] = {
        "frames": len(scenes), "read": sum(tally.read),
        "rate": round(sum(tally.read) / len(scenes), 3),
        "false_reads": len(tally.false_reads), "false_read_texts": tally.false_reads[:5],
        "decoded_but_refused": tally.unverified, **_percentiles(tally.seconds),
    }
    for key, (attribute, edges) in BINS.items():
        result[key] = _rates(scenes, tally.read, attribute, edges)
    kinds: dict[str, list[bool]] = {}
    for scene, ok in zip(scenes, tally.read, strict=True):
        kinds.setdefault(scene.label.split()[0], []).append(ok)
    result["by_kind"] = {k: round(sum(v) / len(v), 3) for k, v in sorted(kinds.items())}
    if frames_per_card > 1:
        cards: dict[int, list[bool]] = {}
        for scene, ok in zip(scenes, tally.read, strict=True):
            cards.setdefault(scene.card, []).append(ok)
        result["cards_read_within_frames"] = {
            str(k): round(sum(any(oks[:k]) for oks in cards.values()) / len(cards), 3)
            for k in range(1, frames_per_card + 1)}
    return result


def empty_frame_cost(names: Sequence[str], backgrounds: Sequence[np.ndarray], *, seed: int,
                     count: int = 40, repeats: int = 3) -> dict[str, dict[str, dict[str, float]]]:
    """ms per frame with no code in view, per variant, at 640x480 and 1280x720."""
    result: dict[str, dict[str, dict[str, float]]] = {}
    for w, h in EMPTY_SIZES:
        frames = list(empty_frames(backgrounds, seed=seed, count=count, size=(w, h)))
        result[f"{w}x{h}"] = {}
        for name in names:
            decoder = VARIANTS[name]()
            best = []
            for frame in frames:
                times = []
                for _ in range(repeats):
                    started = time.perf_counter()
                    decoder.decode(frame)
                    times.append(time.perf_counter() - started)
                best.append(min(times))
            figures = _percentiles(best)
            result[f"{w}x{h}"][name] = {"p50_ms": figures["p50_ms"],
                                        "p95_ms": figures["p95_ms"]}
    return result


def save_frames(scenes: Sequence[Scene], folder: Path) -> None:
    """Each frame as a JPEG (quality 95: the frame already carries its own JPEG loss) and an
    index of what it shows, for a person to look at or another tool to read."""
    folder.mkdir(parents=True, exist_ok=True)
    index = []
    for scene in scenes:
        name = f"card{scene.card:04d}-f{scene.frame}.jpg"
        cv2.imwrite(str(folder / name), scene.image, [cv2.IMWRITE_JPEG_QUALITY, 95])
        index.append({"file": name, "text": scene.text, "label": scene.label,
                      "card": scene.card, "frame": scene.frame,
                      "px_per_module": round(scene.px_per_module, 2),
                      "blur_px": round(scene.motion_px, 2), "roll_deg": round(scene.roll, 1),
                      "tilt_deg": round(scene.tilt, 1), "jpeg_quality": scene.jpeg_quality,
                      "qr_version": scene.qr_version,
                      "code_box": np.round(scene.code_box, 1).tolist()})
    (folder / "index.json").write_text(json.dumps(index, indent=1))

"""`gridgate bench faces`: face-to-decision latency, frame rate, idle CPU, 1:N search, accuracy.

The clip is played as a live camera would deliver it: frame i arrives at i/fps, and a reader
that is still busy when frames arrive gets only the newest one. A decision's latency runs from
the arrival of the first frame in which the face is visible (found offline, frame by frame) to
the moment the door is commanded. The same clip is also run the way face_recognition's
"faster webcam" example does it (every other frame at quarter scale, every face encoded).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import cv2
import numpy as np
from gpiozero.pins.mock import MockFactory

from edge.app import GateApp
from edge.bench.face_accuracy import measure_accuracy
from edge.cli.output import emit_json, friendly_errors
from edge.reader.faces import build_face_watch
from edge.settings import Settings, parse_settings
from edge.settings.faces import FacesSettings
from edge.shared_data import shared_data_dir
from gate.checkpoint import Outcome
from gate.clock import SystemClock
from gate.faces.gallery import FaceGallery
from gate.model import Colour, Permit, Person
from gate.passes import SigningKey, TrustList, generate_signing_key
from gate.store import open_database
from vision.errors import CameraError
from vision.faces.detect import FaceDetector, find_faces_in_photo
from vision.faces.encode import FaceEncoder, dlib_encode_chip, encode_chip, encoder_engine
from vision.facts import Frame
from vision.images import load_image

CLIP = "short_hamilton_clip.mp4"
ENROLLED = {"p-lin": "lin-manuel-miranda.png", "p-alex": "alex-lacamoire.png"}
RESOLUTIONS = ((640, 360), (1280, 720))
SEARCH_SIZES = (1_000, 10_000, 100_000)
CLIP_START = 60  # the first two seconds show no face; start shortly before the first one


def _percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50_ms": None, "p95_ms": None}
    array = np.array(values) * 1000
    return {"p50_ms": round(float(np.percentile(array, 50)), 1),
            "p95_ms": round(float(np.percentile(array, 95)), 1)}


def read_clip(path: Path, size: tuple[int, int]) -> list[np.ndarray]:
    """Every frame of the clip, resized to `size` when that is not its own size."""
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        if (frame.shape[1], frame.shape[0]) != size:
            frame = cv2.resize(frame, size, interpolation=cv2.INTER_CUBIC)
        frames.append(frame)
    capture.release()
    if not frames:
        raise CameraError(f"{path}: no frames")
    return frames


def appearances(frames: list[np.ndarray], min_face_px: int, gap: int = 5) -> list[tuple[int, int]]:
    """(first, last) frame of each stretch in which a face is visible (ground truth)."""
    detector = FaceDetector(detect_width=640)
    seen = [i for i, f in enumerate(frames)
            if any(b[2] - b[0] >= min_face_px for b in detector.detect(f))]
    runs: list[tuple[int, int]] = []
    for i in seen:
        if runs and i - runs[-1][1] <= gap:
            runs[-1] = (runs[-1][0], i)
        else:
            runs.append((i, i))
    return runs


def play_live(frames: list[np.ndarray], fps: float,
              handle: Callable[[int, Frame], None]) -> tuple[float, list[float], float]:
    """Deliver frames as a live camera with a one-frame buffer; (start, busy times, CPU s)."""
    start = time.monotonic() + 0.05
    busy: list[float] = []
    cpu = time.process_time()
    index = 0
    while True:
        now = time.monotonic()
        newest = int((now - start) * fps)
        if newest < index:
            time.sleep(max(0.0, start + index / fps - now))
            newest = index
        if newest >= len(frames):
            break
        began = time.perf_counter()
        handle(newest, Frame(frames[newest], newest + 1, start + newest / fps))
        busy.append(time.perf_counter() - began)
        index = newest + 1
    return start, busy, time.process_time() - cpu


def face_gate_settings(root: Path, *, faces: dict[str, Any] | None = None,
                       policy: dict[str, Any] | None = None, direction: str = "in",
                       compound_id: str = "bench-01", key: SigningKey | None = None) -> Settings:
    """A one-reader gate ('cam', relay pin 17) with faces enabled under `root`, trusting `key`
    (a throwaway key when None)."""
    root.mkdir(parents=True, exist_ok=True)
    trust = TrustList()
    key = key or generate_signing_key()
    trust.add(key.key_id, key.public_key)
    trust.save(root / "trust.json")
    return parse_settings({
        "gate": {"gate_id": "gate-bench", "compound_id": compound_id},
        "readers": [{"reader_id": "cam", "direction": direction, "camera": "0",
                     "relay_pin": 17, "fps": 30}],
        "door": {"open_seconds": 0.5},
        "storage": {"state_dir": str(root / "state")},
        "passes": {"trust_list": str(root / "trust.json")},
        "faces": {"enabled": True, **(faces or {})},
        "policy": policy or {},
    })


def enrolled_encodings(data: Path) -> dict[str, np.ndarray]:
    """The encodings of the clip's people from their portraits."""
    encoder = FaceEncoder()
    found = {}
    for person, name in ENROLLED.items():
        image = load_image(data / name)
        found[person] = encoder.encode(image, find_faces_in_photo(image)[0])
    return found


def fillers(count: int, seed: int = 7) -> dict[str, list[list[float]]]:
    """Random unit vectors standing in for other residents (far from every real face)."""
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(count, 128))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return {f"filler-{i:06d}": [v.tolist()] for i, v in enumerate(vectors)}


def enrol_gate(app: GateApp, encodings: dict[str, np.ndarray], gallery_persons: int) -> None:
    """Register the clip's people as green residents and fill the gallery to its size."""
    app.registry.put_persons(Person(p, household_id=f"h-{p}") for p in encodings)
    app.registry.put_permits(Permit(p, Colour.GREEN) for p in encodings)
    assert app.face_gallery is not None
    app.face_gallery.replace_many({**{p: [e.tolist()] for p, e in encodings.items()},
                                   **fillers(max(0, gallery_persons - len(encodings)))})


def _latencies(decisions: list[tuple[int, Outcome]], runs: list[tuple[int, int]], start: float,
               fps: float) -> tuple[list[float], list[float]]:
    known: list[float] = []
    unknown: list[float] = []
    for index, outcome in decisions:
        run = next((r for r in reversed(runs) if r[0] <= index), None)
        if run is None:
            continue
        latency = outcome.acted_at - (start + run[0] / fps)
        (known if outcome.observation.face_person_id else unknown).append(latency)
    return known, unknown


def measure_ours(frames: list[np.ndarray], fps: float, runs: list[tuple[int, int]],
                 encodings: dict[str, np.ndarray], gallery_persons: int, rounds: int,
                 root: Path) -> dict[str, Any]:
    """The gate itself (GateApp with faces enabled) on the clip, played live."""
    known: list[float] = []
    unknown: list[float] = []
    busy: list[float] = []
    cpu = 0.0
    decisions_total = 0
    for round_no in range(rounds):
        settings = face_gate_settings(root / f"ours-{round_no}")
        with GateApp(settings, clock=SystemClock(), pin_factory=MockFactory()) as app:
            enrol_gate(app, encodings, gallery_persons)
            if app.face_pool is not None:
                app.face_pool.wait_ready()
            pipeline = app.pipelines["cam"]
            decisions: list[tuple[int, Outcome]] = []
            current = [0]

            def record(outcome: Outcome, decisions: list[tuple[int, Outcome]] = decisions,
                       current: list[int] = current) -> None:
                decisions.append((current[0], outcome))

            app.add_outcome_listener(record)

            def handle(index: int, frame: Frame, pipeline: Any = pipeline,
                       current: list[int] = current) -> None:
                current[0] = index
                pipeline.process(frame)

            offset = CLIP_START + round_no  # a different phase of arrivals every round
            workers = app.face_pool.cpu_seconds() if app.face_pool is not None else 0.0
            start, round_busy, round_cpu = play_live(frames[offset:], fps, handle)
            if app.face_pool is not None:  # the encoder worker's CPU counts too
                round_cpu += app.face_pool.cpu_seconds() - workers
            shifted = [(i + offset, o) for i, o in decisions]
            k, u = _latencies(shifted, runs, start - offset / fps, fps)
            known += k
            unknown += u
            busy += round_busy
            cpu += round_cpu
            decisions_total += len(decisions)
    seconds = rounds * (len(frames) - CLIP_START) / fps
    return {**_percentiles(known), "fps": round(len(busy) / sum(busy), 1),
            "unknown_face_p50_ms": _percentiles(unknown)["p50_ms"],
            "decisions": decisions_total, "identified": len(known), "unknown": len(unknown),
            "frames": len(busy), "cpu_s_per_min": round(cpu / seconds * 60, 1)}


class FasterWebcam:
    """face_recognition's examples/facerec_from_webcam_faster.py, minus the display."""

    def __init__(self, names: list[str], known: np.ndarray) -> None:
        import face_recognition

        self.fr = face_recognition
        self.names = names
        self.known = known
        self.process_this_frame = True
        self.face_names: list[str] = []

    def frame(self, frame: np.ndarray) -> list[str]:
        """One frame as the example handles it; the names it shows."""
        small_frame = cv2.resize(frame, (0, 0), fx=0.25, fy=0.25)
        rgb_small_frame = np.ascontiguousarray(small_frame[:, :, ::-1])
        if self.process_this_frame:
            locations = self.fr.face_locations(rgb_small_frame)
            encodings = self.fr.face_encodings(rgb_small_frame, locations)
            self.face_names = []
            for encoding in encodings:
                matches = self.fr.compare_faces(self.known, encoding)
                name = "Unknown"
                if True in matches:
                    name = self.names[matches.index(True)]
                self.face_names.append(name)
        self.process_this_frame = not self.process_this_frame
        return self.face_names


def measure_faster_webcam(frames: list[np.ndarray], fps: float, runs: list[tuple[int, int]],
                          encodings: dict[str, np.ndarray], gallery_persons: int,
                          rounds: int) -> dict[str, Any]:
    """The example's way on the same clip and gallery; a face is decided when first named."""
    fill = fillers(max(0, gallery_persons - len(encodings)))
    names = [*encodings, *fill]
    known = np.array([*encodings.values(), *(v[0] for v in fill.values())])
    latencies: list[float] = []
    busy: list[float] = []
    cpu = 0.0
    for round_no in range(rounds):
        example = FasterWebcam(names, known)
        named: dict[int, float] = {}  # appearance start -> when first named
        offset = CLIP_START + round_no

        def handle(index: int, frame: Frame, example: FasterWebcam = example,
                   named: dict[int, float] = named, offset: int = offset) -> None:
            shown = example.frame(frame.image)
            at = time.monotonic()
            run = next((r for r in reversed(runs) if r[0] <= index + offset), None)
            if run is not None and any(n != "Unknown" for n in shown):
                named.setdefault(run[0], at)

        start, round_busy, round_cpu = play_live(frames[offset:], fps, handle)
        latencies += [at - (start + (first - offset) / fps) for first, at in named.items()]
        busy += round_busy
        cpu += round_cpu
    seconds = rounds * (len(frames) - CLIP_START) / fps
    return {**_percentiles(latencies), "fps": round(len(busy) / sum(busy), 1),
            "identified": len(latencies), "frames": len(busy),
            "cpu_s_per_min": round(cpu / seconds * 60, 1)}


def still_scene(frames: list[np.ndarray], seconds: float, fps: float) -> list[np.ndarray]:
    """A still background (a clip frame with no face) with fresh sensor noise per frame."""
    detector = FaceDetector(detect_width=640)
    empty = next(f for f in frames[:CLIP_START] if not detector.detect(f))
    rng = np.random.default_rng(3)
    variants = [np.clip(empty + rng.normal(0, 2.0, empty.shape), 0, 255).astype(np.uint8)
                for _ in range(30)]
    return [variants[i % len(variants)] for i in range(int(seconds * fps))]


def measure_empty(frames: list[np.ndarray], fps: float, gallery: FaceGallery) -> dict[str, Any]:
    """CPU seconds per minute of a still scene: our face path, the example's, and QR decoding."""
    scene = still_scene(frames, 60.0, fps)
    watch = build_face_watch(FacesSettings(enabled=True), gallery, None)
    cpu = time.process_time()
    for i, image in enumerate(scene):
        watch.observe(Frame(image, i + 1, i / fps))
    ours = time.process_time() - cpu
    example = FasterWebcam(["x"], np.zeros((1, 128)))
    cpu = time.process_time()
    for image in scene:
        example.frame(image)
    theirs = time.process_time() - cpu
    from vision.qr import make_decoder

    decoder = make_decoder("zxing")
    cpu = time.process_time()
    for image in scene[: int(10 * fps)]:
        decoder.decode(image)
    qr = (time.process_time() - cpu) * 6
    return {"cpu_s_per_min": round(ours, 2), "core_percent": round(ours / 60 * 100, 2),
            "detections": watch.stats.detections, "frames": len(scene),
            "faster_webcam_cpu_s_per_min": round(theirs, 2),
            "ratio": round(theirs / ours, 1) if ours > 0 else None,
            "qr_decoding_cpu_s_per_min": round(qr, 1)}


def measure_encoder(frames: list[np.ndarray], repeats: int = 40) -> dict[str, Any]:
    """Milliseconds per encoding of a face chip from the clip: the gate's engine and dlib's own
    code, each on one BLAS thread as the gate runs them."""
    from threadpoolctl import threadpool_limits

    image = frames[100]
    encoder = FaceEncoder()
    chip = encoder.chip(image, FaceDetector().detect(image)[0])
    result: dict[str, Any] = {"engine": encoder_engine()}
    with threadpool_limits(limits=1, user_api="blas"):
        for name, encode in (("gate", encode_chip), ("dlib", dlib_encode_chip)):
            encode(chip)
            times = []
            for _ in range(repeats):
                began = time.perf_counter()
                encode(chip)
                times.append(time.perf_counter() - began)
            result[name] = _percentiles(times)
    result["ratio"] = _ratio(result["dlib"]["p50_ms"], result["gate"]["p50_ms"])
    return result


def measure_search(root: Path, queries: int = 200) -> dict[str, Any]:
    """1:N search time for galleries of random unit vectors."""
    rng = np.random.default_rng(11)
    result = {}
    for size in SEARCH_SIZES:
        gallery = FaceGallery(open_database(root / f"search-{size}.db"))
        gallery.replace_many(fillers(size, seed=size))
        began = time.perf_counter()
        gallery.index()
        load = time.perf_counter() - began
        probes = rng.normal(size=(queries, 128))
        probes /= np.linalg.norm(probes, axis=1, keepdims=True)
        times = []
        for probe in probes:
            began = time.perf_counter()
            gallery.search(probe, k=2)
            times.append(time.perf_counter() - began)
        result[str(size)] = {**_percentiles(times), "load_ms": round(load * 1000, 1)}
        gallery.db.close()
    return result


def _ratio(theirs: float | None, ours: float | None) -> float | None:
    return round(theirs / ours, 2) if theirs and ours else None


@click.command("faces")
@click.option("--rounds", type=click.IntRange(1, 50), default=10, show_default=True,
              help="Plays of the clip per resolution and method.")
@click.option("--gallery", "gallery_persons", type=click.IntRange(2, 100_000), default=10,
              show_default=True, help="Enrolled persons during the clip (the clip's two "
              "people plus random stand-ins); the accepted distance tightens with it.")
@click.option("--accuracy/--no-accuracy", default=True, show_default=True,
              help="Also measure identification accuracy on the shared photos (~15 s).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (the default output anyway).")
@friendly_errors
def bench_faces(rounds: int, gallery_persons: int, accuracy: bool, as_json: bool) -> None:
    """Face-to-decision p50/p95 at 640x360 and 1280x720, fps, idle CPU, encoding time, 1:N
    search, accuracy."""
    shared = shared_data_dir()
    data = shared / "faces" if shared else None
    if data is None or not (data / CLIP).is_file():
        raise click.ClickException("the shared face data is missing: expected "
                                   "../shared/data/faces (or set GRIDGATE_SHARED_DATA)")
    encodings = enrolled_encodings(data)
    # Other work on the machine shows in every figure; say how much there was.
    result: dict[str, Any] = {"gallery_persons": gallery_persons, "rounds": rounds,
                              "load_average_1min": round(os.getloadavg()[0], 2)}
    with tempfile.TemporaryDirectory(prefix="gridgate-bench-faces-") as tmp:
        root = Path(tmp)
        native: list[np.ndarray] = []
        for width, height in RESOLUTIONS:
            frames = read_clip(data / CLIP, (width, height))
            native = native or frames
            fps = 30.0
            runs = appearances(frames, FacesSettings().min_face_px)
            ours = measure_ours(frames, fps, runs, encodings, gallery_persons, rounds,
                                root / f"{width}x{height}")
            theirs = measure_faster_webcam(frames, fps, runs, encodings, gallery_persons,
                                           rounds)
            result[f"{width}x{height}"] = {
                **ours, "faster_webcam": theirs,
                "latency_ratio": _ratio(theirs["p50_ms"], ours["p50_ms"]),
                "latency_p95_ratio": _ratio(theirs["p95_ms"], ours["p95_ms"]),
                "fps_ratio": _ratio(ours["fps"], theirs["fps"]),
                "cpu_ratio": _ratio(theirs["cpu_s_per_min"], ours["cpu_s_per_min"]),
            }
        result["encoder"] = measure_encoder(native)
        gallery = FaceGallery(open_database(root / "empty.db"))
        result["empty_scene"] = measure_empty(native, 30.0, gallery)
        result["search"] = measure_search(root)
    if accuracy:
        result["accuracy"] = measure_accuracy(data)
    emit_json(result)

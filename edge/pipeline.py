"""One reader's frame loop: camera frame -> QR (and face) facts -> observation -> checkpoint."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gate.checkpoint import Checkpoint, Outcome
from gate.clock import Clock
from gate.model import Method, Reader
from gate.observation import Observation
from vision.facts import Frame, QrSeen
from vision.qr import QrDecoder
from vision.repeat import RepeatFilter

if TYPE_CHECKING:
    from edge.face_reader import FacePassages

log = logging.getLogger(__name__)


@dataclass
class ReaderStats:
    """Counters the panel and doctor show for a reader."""

    frames: int = 0
    scans: int = 0
    decisions: int = 0
    last_frame_at: float | None = None  # monotonic
    fps: float = 0.0
    camera_ok: bool = False
    last_error: str = ""


class ReaderPipeline:
    """Turns one reader's frames into decisions; one thread per reader."""

    def __init__(
        self,
        reader: Reader,
        *,
        checkpoint: Checkpoint,
        decoder: QrDecoder,
        repeat: RepeatFilter,
        clock: Clock,
        on_frame: Callable[[Frame, list[QrSeen]], None] | None = None,
        faces: FacePassages | None = None,
    ) -> None:
        self.reader = reader
        self.checkpoint = checkpoint
        self.decoder = decoder
        self.repeat = repeat
        self.clock = clock
        self.on_frame = on_frame
        self.faces = faces  # face identification at this reader, when enabled
        self.stats = ReaderStats()
        self._fps_window: list[float] = []

    def process(self, frame: Frame) -> list[Outcome]:
        """Handle one frame; returns the outcomes decided on it (scans, and faces when enabled)."""
        codes = self.decoder.decode(frame.image)
        if self.faces is not None:
            self.faces.observe(frame)
        self._count_frame(frame)
        if self.on_frame is not None:
            self.on_frame(frame, codes)
        outcomes = []
        for code in codes:
            if not self.repeat.admit(code.text, frame.arrived):
                continue
            self.stats.scans += 1
            now = self.clock.now()
            check = self.checkpoint.check_pass(code.text, now)
            if self.faces is not None:
                # The pass may wait a moment for its holder's face (edge/face_reader.py).
                outcome = self.faces.pass_scanned(check)
                if outcome is not None:
                    outcomes.append(outcome)
                continue
            observation = Observation(reader=self.reader, method=Method.PASS, seen_at=now,
                                      pass_check=check)
            outcomes.append(self.checkpoint.handle(observation))
        if self.faces is not None:
            outcomes += self.faces.settle()
        self.stats.decisions += len(outcomes)
        return outcomes

    def _count_frame(self, frame: Frame) -> None:
        self.stats.frames += 1
        self.stats.last_frame_at = frame.arrived
        self.stats.camera_ok = True
        window = self._fps_window
        window.append(frame.arrived)
        while window and frame.arrived - window[0] > 2.0:
            window.pop(0)
        if len(window) > 1 and window[-1] > window[0]:
            self.stats.fps = (len(window) - 1) / (window[-1] - window[0])

    def run(self, frames: Iterable[Frame], stop: threading.Event) -> None:
        """Process frames until the source ends or `stop` is set; errors in one frame are logged."""
        for frame in frames:
            if stop.is_set():
                break
            try:
                self.process(frame)
            except Exception as exc:  # one bad frame must not stop the gate
                self.stats.last_error = str(exc)
                log.exception("reader %s: frame %d failed", self.reader.reader_id, frame.seq)
                time.sleep(0.01)

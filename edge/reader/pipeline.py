"""One reader's frame loop: camera frame -> QR facts -> pass admission -> binding -> checkpoint."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

from edge.reader.binding import Binding, PassOnly
from gate.checkpoint import Checkpoint, Outcome
from gate.clock import Clock
from gate.model import Reader
from gate.observation import Observation
from vision.facts import FaceSeen, Frame, QrSeen
from vision.qr import QrDecoder
from vision.repeat import RepeatFilter

log = logging.getLogger(__name__)

# Hears every processed frame with the codes and faces found in it (the panel's live image).
FrameListener = Callable[[Frame, Sequence[QrSeen], Sequence[FaceSeen]], None]
# Hears a pass start (True) and stop (False) waiting for its holder's face.
WaitingListener = Callable[[bool], None]


@dataclass
class ReaderStats:
    """Counters the panel and doctor show for a reader."""

    frames: int = 0
    scans: int = 0
    decisions: int = 0
    last_frame_at: float | None = None  # monotonic
    fps: float = 0.0
    decode_seconds: float = 0.0  # QR decoding time of all frames so far (metrics)
    dropped: int = 0  # frames the camera captured that the reader never took (it was behind)
    frame_age_s: float = 0.0  # how old the latest frame was when the reader took it
    camera_ok: bool = False
    last_error: str = ""


class ReaderPipeline:
    """Turns one reader's frames into decisions; one thread per reader."""

    def __init__(self, reader: Reader, *, checkpoint: Checkpoint, decoder: QrDecoder,
                 repeat: RepeatFilter, clock: Clock, binding: Binding | None = None) -> None:
        self.reader = reader
        self.checkpoint = checkpoint
        self.decoder = decoder
        self.repeat = repeat
        self.clock = clock
        self.binding: Binding = binding if binding is not None else PassOnly(reader)
        self.stats = ReaderStats()
        self._listeners: list[FrameListener] = []
        self._fps_window: list[float] = []
        self._waiting_listeners: list[WaitingListener] = []
        self._waiting = False
        self._frame: Frame | None = None  # the frame being processed
        self._last_seq = 0

    def add_frame_listener(self, listener: FrameListener) -> Callable[[], None]:
        """Hear every processed frame; returns the function that stops it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def add_waiting_listener(self, listener: WaitingListener) -> None:
        """Hear when a pass starts and stops waiting for its holder's face."""
        self._waiting_listeners.append(listener)

    def process(self, frame: Frame) -> list[Outcome]:
        """Handle one frame; returns the outcomes decided on it."""
        self._frame = frame
        started = time.perf_counter()
        codes = self.decoder.decode(frame.image)
        self.stats.decode_seconds += time.perf_counter() - started
        self.binding.observe(frame)
        self._count_frame(frame)
        if self._listeners:
            self._tell(frame, codes)
        outcomes = []
        for code in codes:
            if not self.repeat.admit(code.text, frame.arrived):
                continue
            self.stats.scans += 1
            now = self.clock.now()
            outcome = self.binding.scanned(self.checkpoint.check_pass(code.text, now), now,
                                           self._decide)
            if outcome is not None:
                outcomes.append(outcome)
        outcomes += self.binding.settle(self._decide)
        self.stats.decisions += len(outcomes)
        if self.binding.waiting != self._waiting:
            self._tell_waiting(not self._waiting)
        return outcomes

    def _tell_waiting(self, waiting: bool) -> None:
        self._waiting = waiting
        for listener in self._waiting_listeners:
            try:
                listener(waiting)
            except Exception:  # lamps and screens must never cost the gate a decision
                log.exception("reader %s: waiting listener failed", self.reader.reader_id)

    def _tell(self, frame: Frame, codes: Sequence[QrSeen]) -> None:
        # A live picture must never cost the gate a decision, nor one listener another's frame.
        faces: Sequence[FaceSeen] = ()
        try:
            faces = self.binding.faces_in(frame)
        except Exception:
            log.exception("reader %s: faces of frame %d not told", self.reader.reader_id,
                          frame.seq)
        for listener in list(self._listeners):
            try:
                listener(frame, codes, faces)
            except Exception:
                log.exception("reader %s: frame listener failed", self.reader.reader_id)

    def _decide(self, observation: Observation) -> Outcome:
        if observation.captured is None and self._frame is not None:
            # The picture the decision was made on: how long the resident waited, from it.
            observation = replace(observation, captured=self._frame.captured_at)
        return self.checkpoint.handle(observation)

    def _count_frame(self, frame: Frame) -> None:
        if self._last_seq and frame.seq > self._last_seq + 1:
            self.stats.dropped += frame.seq - self._last_seq - 1
        self._last_seq = frame.seq
        self.stats.frame_age_s = max(0.0, self.clock.monotonic() - frame.captured_at)
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

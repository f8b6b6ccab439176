"""The newest frame of a live source: a reader that falls behind skips to the present.

A camera keeps capturing while the reader decodes. Read on the reader's own thread, frames
that came during a slow decode would wait in the driver's queue and every decision after it
would be made on an old picture. Here a thread reads the source as fast as it delivers and
keeps only the latest frame; the reader takes that one, and the frames it never took are
counted as dropped.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from types import TracebackType

from vision.facts import Frame
from vision.sources import FrameSource

log = logging.getLogger(__name__)
POLL_S = 0.2  # how often a reader waiting for a frame looks at its stop flag


class NewestFrame:
    """Iterable of a source's frames that hands out only the newest one not yet taken."""

    def __init__(self, source: FrameSource, *, stop: threading.Event | None = None) -> None:
        self.source = source
        self.dropped = 0  # frames replaced by a newer one before the reader took them
        self._stop = stop if stop is not None else threading.Event()
        self._closing = threading.Event()
        self._frame: Frame | None = None
        self._ended = False
        self._error: BaseException | None = None
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._grab_all, daemon=True,
                                        name="frames-" + type(source).__name__)
        self._thread.start()

    def _grab_all(self) -> None:
        try:
            while not (self._closing.is_set() or self._stop.is_set()):
                frame = self.source.read()
                with self._changed:
                    if frame is None:
                        break
                    if self._frame is not None:
                        self.dropped += 1
                    self._frame = frame
                    self._changed.notify_all()
        except BaseException as exc:  # the reader must hear why its camera stopped
            self._error = exc
        finally:
            with self._changed:
                self._ended = True
                self._changed.notify_all()

    def take(self) -> Frame | None:
        """The newest frame not taken yet, waiting for one; None when the source ended or the
        reader was asked to stop. Raises what stopped the source."""
        with self._changed:
            while self._frame is None:
                if self._ended or self._stop.is_set() or self._closing.is_set():
                    if self._error is not None:
                        raise self._error
                    return None
                self._changed.wait(POLL_S)
            frame, self._frame = self._frame, None
            return frame

    def __iter__(self) -> Iterator[Frame]:
        while (frame := self.take()) is not None:
            yield frame

    def close(self, timeout: float = 5.0) -> None:
        """Stop reading (the source stays open: its owner closes it)."""
        self._closing.set()
        with self._changed:
            self._changed.notify_all()
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("camera %s: still reading after %.0f s at stop",
                        type(self.source).__name__, timeout)

    def __enter__(self) -> NewestFrame:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

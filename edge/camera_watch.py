"""Camera down: one `camera_down` alert per reader whose camera stopped, once per outage.

A reader is down when its thread ended on a camera error, or when no frame came for
`stall_s` seconds (a live camera that went away keeps retrying by itself, and says nothing
else). The stall limit is the frame watchdog's: under systemd, a stall that lasts also
withholds the watchdog's pings and the service is restarted (edge/notify.py); the alert is
journaled before, and repeats after restarts fold into it (gate/alert_folding.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping

from edge.notify import STALL_SECONDS
from edge.reader.pipeline import ReaderPipeline
from gate.journal.keeper import RecordKeeper
from gate.model import AlertSpec
from gate.reasons import CAMERA_DOWN
from gate.vocabulary import AlertKind

log = logging.getLogger(__name__)


class CameraWatch:
    """Looks at each reader's frames; alerts when one stops, again only after it came back."""

    def __init__(self, keeper: RecordKeeper, pipelines: Mapping[str, ReaderPipeline], *,
                 stall_s: float = STALL_SECONDS,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.keeper = keeper
        self.pipelines = pipelines
        self.stall_s = stall_s
        self.monotonic = monotonic  # the frames' own clock (vision/sources.py)
        self._since: float | None = None  # the first look: readers get stall_s to start
        self._down: set[str] = set()

    def check(self) -> list[AlertSpec]:
        """The alerts raised now."""
        now = self.monotonic()
        if self._since is None:
            self._since = now
        raised = []
        for reader_id, pipeline in self.pipelines.items():
            stats = pipeline.stats
            last = stats.last_frame_at
            ended = not stats.camera_ok and bool(stats.last_error)
            silent = now - (last if last is not None else self._since)
            if not ended and silent <= self.stall_s:
                self._down.discard(reader_id)
                continue
            if reader_id in self._down:
                continue
            self._down.add(reader_id)
            error = (stats.last_error if ended else f"no frame for {silent:.0f} s")[:200]
            severity, zh, en = CAMERA_DOWN
            spec = AlertSpec(AlertKind.CAMERA_DOWN, severity,
                             zh.format(reader=reader_id, error=error),
                             en.format(reader=reader_id, error=error))
            log.error("%s", spec.message_en)
            self.keeper.alert(spec, reader_id=reader_id)
            raised.append(spec)
        return raised

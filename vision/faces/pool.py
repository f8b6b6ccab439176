"""Encoding face chips in worker processes, beside the reader thread (`faces.encode_workers`).

Off by default: the numpy engine (`vision.faces.resnet`, ~8 ms) encodes faster than a chip
travels to a worker and back, and releases the GIL for other readers. The workers pay off only
where encodings fall back to dlib's own code (~75 ms, holding the GIL): then the first two
encodings of a new face (the two votes) run at the same time on a two-core board.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from vision.faces.encode import CHIP_SIZE, encode_chip

log = logging.getLogger(__name__)


def _warm_up() -> None:
    threadpool_limits(limits=1, user_api="blas")  # the reader threads use the other cores
    encode_chip(np.zeros((CHIP_SIZE, CHIP_SIZE, 3), np.uint8))


class EncoderPool:
    """Up to `workers` encodings in flight in other processes; callers fall back to encoding
    in their own thread when every worker is busy (or there are none)."""

    def __init__(self, workers: int = 1) -> None:
        self.workers = workers
        self._executor: ProcessPoolExecutor | None = None
        self._in_flight: set[Future[np.ndarray]] = set()
        self._lock = threading.Lock()  # readers share one pool
        self._warming: list[Future[None]] = []
        if workers > 0:
            # spawn, not fork: the gate process has threads, and forking those is unsafe.
            context = multiprocessing.get_context("spawn")
            self._executor = ProcessPoolExecutor(max_workers=workers, mp_context=context,
                                                 initializer=_warm_up)
            self._warming = [self._executor.submit(_warm_up) for _ in range(workers)]

    def wait_ready(self, timeout: float = 60.0) -> bool:
        """Wait until the workers have loaded the model; False when they did not in time."""
        try:
            for future in self._warming:
                future.result(timeout=timeout)
        except Exception as exc:
            log.error("face encoder workers not ready: %s", exc)
            return False
        return True

    def try_submit(self, chip: np.ndarray) -> Future[np.ndarray] | None:
        """Start encoding `chip` in a worker; None when all workers are busy."""
        with self._lock:
            self._in_flight = {f for f in self._in_flight if not f.done()}
            if self._executor is None or len(self._in_flight) >= self.workers:
                return None
            try:
                future = self._executor.submit(encode_chip, chip)
            except (BrokenProcessPool, RuntimeError) as exc:
                log.error("face encoder worker unavailable (%s); encoding in the reader thread",
                          exc)
                self._executor = None
                return None
            self._in_flight.add(future)
            return future

    def cpu_seconds(self) -> float:
        """CPU time the workers have used so far (Linux /proc; 0 where unavailable)."""
        executor = self._executor
        processes = getattr(executor, "_processes", None) or {}
        tick = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for pid in list(processes):
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            total += (int(fields[11]) + int(fields[12])) / tick  # utime + stime
        return total

    def close(self) -> None:
        """Stop the workers."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> EncoderPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

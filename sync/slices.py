"""Long work on the link's threads leaves the interpreter to the door's thread now and then.

Python runs one thread at a time. A thread that computes (parsing and checking a roster of
megabytes) hands the interpreter lock over only when another thread has waited for it for the
switch interval (5 ms), and the door's thread needs the lock back after each of the dozens of
database calls a decision makes: a second of roster work made decisions ten times slower
(issue 15). So long loops of the link call a `TimeSlices` object once per item: after each
millisecond of work it sleeps a tenth of one, and a thread waiting for the lock gets it then.
"""

from __future__ import annotations

import time

SLICE_S = 0.001
PAUSE_S = 0.0001


class TimeSlices:
    """Call once per item of a long loop; costs a clock reading until a slice is used up."""

    def __init__(self, slice_s: float = SLICE_S, pause_s: float = PAUSE_S) -> None:
        self.slice_s = slice_s
        self.pause_s = pause_s
        self._since = time.perf_counter()

    def __call__(self) -> None:
        now = time.perf_counter()
        if now - self._since >= self.slice_s:
            time.sleep(self.pause_s)  # releases the interpreter lock: whoever waits gets it
            self._since = time.perf_counter()

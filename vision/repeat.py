"""The same pass held up for a second is one scan, not thirty."""

from __future__ import annotations

from collections import OrderedDict

MAX_REMEMBERED = 256


class RepeatFilter:
    """Admit a text when it was not seen in the last `window_s` seconds (sliding while visible)."""

    def __init__(self, window_s: float, max_remembered: int = MAX_REMEMBERED) -> None:
        self.window_s = window_s
        self.max_remembered = max_remembered
        self._last_seen: OrderedDict[str, float] = OrderedDict()

    def admit(self, text: str, now: float) -> bool:
        """True when this sighting is a new scan; every sighting extends the window."""
        last = self._last_seen.pop(text, None)
        self._last_seen[text] = now
        while len(self._last_seen) > self.max_remembered:
            self._last_seen.popitem(last=False)
        return last is None or now - last > self.window_s

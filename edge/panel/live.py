"""Fan-out of journal events to the browsers watching the live feed (Server-Sent Events).

Journal listeners run on the gate's threads; each browser's stream waits on an asyncio queue
in the server's loop. A slow browser loses old items rather than slowing the gate down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LiveItem:
    """One thing to tell the browsers: a passage, an alert, a door event, an acknowledgement."""

    kind: str  # "passage" | "alert" | "door" | "ack" | "guard" | SESSIONS_CHANGED (not sent on)
    row: dict[str, Any]


SESSIONS_CHANGED = "sessions"  # some session ended: each stream re-checks its own at once


class Subscription:
    """One browser's queue of live items."""

    def __init__(self, loop: asyncio.AbstractEventLoop, maxsize: int) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[LiveItem | None] = asyncio.Queue(maxsize)
        self.dropped = 0

    def offer(self, item: LiveItem | None) -> None:
        """Hand an item over from any thread (None ends the stream)."""

        def put() -> None:
            if item is None:  # the end must get through even to a full queue
                while self.queue.full():
                    self.queue.get_nowait()
            try:
                self.queue.put_nowait(item)
            except asyncio.QueueFull:
                self.dropped += 1

        with contextlib.suppress(RuntimeError):  # the loop already closed: nobody listens
            self.loop.call_soon_threadsafe(put)

    async def get(self, timeout: float) -> LiveItem | None:
        """The next item; raises TimeoutError when none came within `timeout` seconds."""
        return await asyncio.wait_for(self.queue.get(), timeout)


class EventHub:
    """Publishes live items to every open subscription."""

    def __init__(self, maxsize: int = 200) -> None:
        self.maxsize = maxsize
        self._subs: set[Subscription] = set()
        self._lock = threading.Lock()
        self._closed = False

    def publish(self, item: LiveItem) -> None:
        """Send an item to every subscriber; safe from any thread."""
        with self._lock:
            subs = list(self._subs)
        for sub in subs:
            sub.offer(item)

    def sessions_changed(self) -> None:
        """Tell every stream that sessions ended (logout, password, removed account), so the
        streams of those sessions stop now rather than at their next periodic check."""
        self.publish(LiveItem(SESSIONS_CHANGED, {}))

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[Subscription]:
        """A subscription for the current event loop, removed when the block ends."""
        sub = Subscription(asyncio.get_running_loop(), self.maxsize)
        with self._lock:
            if self._closed:
                sub.offer(None)
            self._subs.add(sub)
        try:
            yield sub
        finally:
            with self._lock:
                self._subs.discard(sub)

    @property
    def subscribers(self) -> int:
        """How many streams are open."""
        with self._lock:
            return len(self._subs)

    def close(self) -> None:
        """End every stream (the server is stopping)."""
        with self._lock:
            self._closed = True
            subs = list(self._subs)
        for sub in subs:
            sub.offer(None)

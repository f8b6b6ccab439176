"""Login throttling: too many failures lock the account and, separately, the address.

Counting per account stops guessing one guard's password from many addresses; counting per
address stops one device trying many accounts. Unknown names are counted like real ones, so a
lockout says nothing about which names exist.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

_MAX_KEYS = 10_000  # bound memory whatever an attacker sends


class _Counter:
    """Recent failures and lockout deadlines for one kind of key."""

    def __init__(self, limit: int, window_s: float, lockout_s: float) -> None:
        self.limit = limit
        self.window_s = window_s
        self.lockout_s = lockout_s
        self.failures: OrderedDict[str, deque[float]] = OrderedDict()
        self.locked_until: dict[str, float] = {}

    def remaining(self, key: str, now: float) -> float:
        until = self.locked_until.get(key)
        if until is None:
            return 0.0
        if now >= until:
            del self.locked_until[key]
            self.failures.pop(key, None)
            return 0.0
        return until - now

    def fail(self, key: str, now: float) -> None:
        times = self.failures.pop(key, None) or deque()
        times.append(now)
        while times and now - times[0] > self.window_s:
            times.popleft()
        self.failures[key] = times  # most recent last, so the oldest keys are dropped first
        if len(times) >= self.limit:
            self.locked_until[key] = now + self.lockout_s
        while len(self.failures) > _MAX_KEYS:
            self.failures.popitem(last=False)
        if len(self.locked_until) > _MAX_KEYS:
            for stale in [k for k, u in self.locked_until.items() if u <= now]:
                del self.locked_until[stale]

    def clear(self, key: str) -> None:
        self.failures.pop(key, None)


class LoginThrottle:
    """Decides whether a login may be tried now and records the outcome."""

    def __init__(self, *, account_failures: int, address_failures: int, window_s: float,
                 lockout_s: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._accounts = _Counter(account_failures, window_s, lockout_s)
        self._addresses = _Counter(address_failures, window_s, lockout_s)
        self._monotonic = monotonic
        self._lock = threading.Lock()

    def locked_for(self, account: str, address: str) -> float:
        """Seconds until a login for this account from this address may be tried; 0 now."""
        now = self._monotonic()
        with self._lock:
            return max(self._accounts.remaining(account.lower(), now),
                       self._addresses.remaining(address, now))

    def failed(self, account: str, address: str) -> float:
        """Record a failed login; returns the lockout that follows (0 when none)."""
        now = self._monotonic()
        with self._lock:
            self._accounts.fail(account.lower(), now)
            self._addresses.fail(address, now)
        return self.locked_for(account, address)

    def succeeded(self, account: str, address: str) -> None:
        """Forget the account's failures; the address keeps its count (one valid account must
        not let a device reset its budget for guessing others)."""
        with self._lock:
            self._accounts.clear(account.lower())

"""Login throttling: too many failures lock the account and, separately, the address.

Counting per account stops guessing one guard's password from many addresses; counting per
address stops one device trying many accounts. Unknown names are counted like real ones, so a
lockout says nothing about which names exist. An attempt is reserved under the lock before its
password is checked, and attempts still being checked count against the limit: parallel
guesses cannot slip past it while the slow Argon2 check runs.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

_MAX_KEYS = 10_000  # bound memory whatever an attacker sends
BUSY_S = 5.0  # what a refused parallel attempt is told to wait (others are being checked)


class _Counter:
    """Recent failures, attempts being checked and lockout deadlines for one kind of key."""

    def __init__(self, limit: int, window_s: float, lockout_s: float) -> None:
        self.limit = limit
        self.window_s = window_s
        self.lockout_s = lockout_s
        self.failures: OrderedDict[str, deque[float]] = OrderedDict()
        self.locked_until: dict[str, float] = {}
        self.checking: dict[str, int] = {}

    def remaining(self, key: str, now: float) -> float:
        until = self.locked_until.get(key)
        if until is None:
            return 0.0
        if now >= until:
            del self.locked_until[key]
            self.failures.pop(key, None)
            return 0.0
        return until - now

    def _recent(self, key: str, now: float) -> int:
        times = self.failures.get(key)
        if not times:
            return 0
        while times and now - times[0] > self.window_s:
            times.popleft()
        return len(times)

    def has_room(self, key: str, now: float) -> bool:
        """True when one more attempt fits: failures plus attempts being checked stay under
        the limit."""
        return self._recent(key, now) + self.checking.get(key, 0) < self.limit

    def begin(self, key: str) -> None:
        self.checking[key] = self.checking.get(key, 0) + 1

    def end(self, key: str) -> None:
        left = self.checking.get(key, 0) - 1
        if left > 0:
            self.checking[key] = left
        else:
            self.checking.pop(key, None)

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


class LoginAttempt:
    """One login try: `wait` > 0 means it was refused (nothing to check; `busy` when only
    attempts still being checked stood in the way); otherwise its slot is held until
    `failed()`, `succeeded()` or the end of the `with` block."""

    def __init__(self, throttle: LoginThrottle, account: str, address: str, wait: float,
                 *, busy: bool = False) -> None:
        self._throttle = throttle
        self.account = account
        self.address = address
        self.wait = wait
        self.busy = busy
        self._open = wait == 0

    def failed(self) -> float:
        """The password was wrong: the slot becomes a failure; returns the lockout that
        follows (0 when none), also kept in `wait`."""
        if self._open:
            self._open = False
            self.wait = self._throttle._settle(self.account, self.address, failed=True)
        return self.wait

    def succeeded(self) -> None:
        """The password was right: free the slot and forget the account's failures."""
        if self._open:
            self._open = False
            self._throttle._settle(self.account, self.address, failed=False)

    def release(self) -> None:
        """Free the slot without an outcome (the check did not happen)."""
        if self._open:
            self._open = False
            self._throttle._release(self.account, self.address)

    def __enter__(self) -> LoginAttempt:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class LoginThrottle:
    """Decides whether a login may be tried now and records the outcome."""

    def __init__(self, *, account_failures: int, address_failures: int, window_s: float,
                 lockout_s: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._accounts = _Counter(account_failures, window_s, lockout_s)
        self._addresses = _Counter(address_failures, window_s, lockout_s)
        self._monotonic = monotonic
        self._lock = threading.Lock()

    def _locked(self, account: str, address: str, now: float) -> float:
        return max(self._accounts.remaining(account, now), self._addresses.remaining(address, now))

    def locked_for(self, account: str, address: str) -> float:
        """Seconds until a login for this account from this address may be tried; 0 now."""
        now = self._monotonic()
        with self._lock:
            return self._locked(account.lower(), address, now)

    def attempt(self, account: str, address: str) -> LoginAttempt:
        """Reserve a try before the password is checked (use as a `with` block); its `wait`
        is > 0 when the account or address is locked or has no budget left for it."""
        account = account.lower()
        now = self._monotonic()
        with self._lock:
            wait = self._locked(account, address, now)
            busy = not wait and not (self._accounts.has_room(account, now)
                                     and self._addresses.has_room(address, now))
            if busy:
                wait = BUSY_S  # the budget is taken by attempts still being checked
            if not wait:
                self._accounts.begin(account)
                self._addresses.begin(address)
        return LoginAttempt(self, account, address, wait, busy=busy)

    def _release(self, account: str, address: str) -> None:
        with self._lock:
            self._accounts.end(account)
            self._addresses.end(address)

    def _settle(self, account: str, address: str, *, failed: bool) -> float:
        now = self._monotonic()
        with self._lock:
            self._accounts.end(account)
            self._addresses.end(address)
            if not failed:
                # The address keeps its count: one valid account must not let a device reset
                # its budget for guessing others.
                self._accounts.clear(account)
                return 0.0
            self._accounts.fail(account, now)
            self._addresses.fail(address, now)
            return self._locked(account, address, now)

    def failed(self, account: str, address: str) -> float:
        """Record a failed login; returns the lockout that follows (0 when none)."""
        now = self._monotonic()
        with self._lock:
            self._accounts.fail(account.lower(), now)
            self._addresses.fail(address, now)
            return self._locked(account.lower(), address, now)

    def succeeded(self, account: str, address: str) -> None:
        """Forget the account's failures; the address keeps its count (one valid account must
        not let a device reset its budget for guessing others)."""
        with self._lock:
            self._accounts.clear(account.lower())

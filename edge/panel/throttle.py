"""Login throttling: too many failures lock the account for the addresses that failed, and,
separately, lock an address that fails too often.

Counting per address stops one device trying many accounts. Counting per account stops
guessing one guard's password from many addresses, without letting anyone who knows the name
lock the guard out:

- `account_failures` failures within the window, from any addresses, lock the account for
  `lockout_s`. Every address that failed is locked out of it until the lockout ends, and so is
  every address that fails during it (each such failure also prolongs the lockout).
- An address with no failure in the window may still try a locked account, but one attempt at
  a time and, after a failure, only once `lockout_s / account_failures` has passed: guessing
  from ever new addresses stays at the rate the lockout allows anyway (5 per 15 minutes by
  default), however many addresses the guesser has.
- An address the account signed in from before (within `KNOWN_S`, since the panel started)
  is not held to that pace, so the guard at the usual desk gets in even while the guesser
  takes every paced turn. It is still locked out once it fails itself.

The trade-off, without a second factor: a guesser with unlimited fresh addresses who takes
every paced turn keeps a guard on a device never used before waiting (`paced`); the guard's
known devices and everyone else's accounts are not affected. Unknown names are counted like
real ones, so a lockout says nothing about which names exist. An attempt is reserved under
the lock before its password is checked, and attempts still being checked count against the
limits: parallel guesses cannot slip past them while the slow Argon2 check runs.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from itertools import islice

_MAX_KEYS = 10_000  # bound memory whatever an attacker sends
_MAX_BLOCKED = 1_000  # addresses kept per locked account
_MAX_KNOWN = 16  # addresses remembered per account
KNOWN_S = 30 * 24 * 3600.0  # how long an address an account signed in from stays known
BUSY_S = 5.0  # what a refused parallel attempt is told to wait (others are being checked)


class _Counter:
    """Recent failures, attempts being checked and lockout deadlines per address."""

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

    def recent(self, key: str, now: float) -> int:
        times = self.failures.get(key)
        if not times:
            return 0
        while times and now - times[0] > self.window_s:
            times.popleft()
        return len(times)

    def has_room(self, key: str, now: float) -> bool:
        """True when one more attempt fits: failures plus attempts being checked stay under
        the limit."""
        return self.recent(key, now) + self.checking.get(key, 0) < self.limit

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


class _Account:
    """One account name's failures (with their addresses), lockout and known addresses."""

    def __init__(self) -> None:
        self.failures: deque[tuple[float, str]] = deque()  # (time, address), oldest first
        self.locked_until = 0.0
        self.blocked: dict[str, float] = {}  # address -> its last failure, while locked
        self.next_turn = 0.0  # when an address without failures may try next, while locked
        self.checking = 0
        self.known: dict[str, float] = {}  # address -> last sign-in

    def locked(self, now: float) -> bool:
        return now < self.locked_until

    def recent(self, now: float, window_s: float) -> int:
        while self.failures and now - self.failures[0][0] > window_s:
            self.failures.popleft()
        return len(self.failures)

    def is_known(self, address: str, now: float) -> bool:
        seen = self.known.get(address)
        return seen is not None and now - seen <= KNOWN_S

    def idle(self, now: float) -> bool:
        """Nothing worth keeping: forgettable when memory runs short."""
        return not self.checking and not self.locked(now) and not self.known


@dataclass(frozen=True)
class Guessing:
    """An account just locked by failures: what the admins are told (never a password)."""

    account: str  # as typed, lower case
    failures: int
    addresses: int  # distinct addresses among those failures


class LoginAttempt:
    """One login try: `wait` > 0 means it was refused (nothing to check; `busy` when only
    attempts still being checked stood in the way, `paced` when a locked account's turn for
    new addresses has not come yet); otherwise its slot is held until `failed()`,
    `succeeded()` or the end of the `with` block. After `failed()`, `guessing` is set when
    this failure locked the account."""

    def __init__(self, throttle: LoginThrottle, account: str, address: str, wait: float,
                 *, busy: bool = False, paced: bool = False) -> None:
        self._throttle = throttle
        self.account = account
        self.address = address
        self.wait = wait
        self.busy = busy
        self.paced = paced
        self.guessing: Guessing | None = None
        self._open = wait == 0

    def failed(self) -> float:
        """The password was wrong: the slot becomes a failure; returns the lockout that
        follows for this address (0 when none), also kept in `wait`."""
        if self._open:
            self._open = False
            self.wait, self.guessing = self._throttle._settle(self.account, self.address,
                                                              failed=True)
        return self.wait

    def succeeded(self) -> None:
        """The password was right: free the slot, forget this address's failures on the
        account and remember the address as one the account signs in from."""
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


@dataclass(frozen=True)
class _Verdict:
    wait: float = 0.0
    busy: bool = False
    paced: bool = False


class LoginThrottle:
    """Decides whether a login may be tried now and records the outcome (see the module)."""

    def __init__(self, *, account_failures: int, address_failures: int, window_s: float,
                 lockout_s: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.account_limit = account_failures
        self.window_s = window_s
        self.lockout_s = lockout_s
        self.pace_s = lockout_s / account_failures  # a locked account's turns for new addresses
        self._accounts: OrderedDict[str, _Account] = OrderedDict()
        self._addresses = _Counter(address_failures, window_s, lockout_s)
        self._monotonic = monotonic
        self._lock = threading.Lock()

    def _account(self, key: str, now: float) -> _Account:
        state = self._accounts.get(key)
        if state is None:
            state = self._accounts[key] = _Account()
            self._trim(now)
        else:
            self._accounts.move_to_end(key)
        if state.locked_until and not state.locked(now):  # the lockout is over: start afresh
            state.locked_until = 0.0
            state.failures.clear()
            state.blocked.clear()
        return state

    def _trim(self, now: float) -> None:
        if len(self._accounts) <= _MAX_KEYS:
            return
        # Least recently used first; names tried once and forgotten are almost always there.
        for key, state in list(islice(self._accounts.items(), 64)):
            if state.idle(now):
                del self._accounts[key]
                if len(self._accounts) <= _MAX_KEYS:
                    return
        while len(self._accounts) > 2 * _MAX_KEYS:  # all busy or locked: oldest go
            self._accounts.popitem(last=False)

    def _verdict(self, state: _Account, address: str, now: float) -> _Verdict:
        """Whether an attempt on this account from this address may start now."""
        wait = self._addresses.remaining(address, now)
        if wait:
            return _Verdict(wait)
        if not self._addresses.has_room(address, now):
            return _Verdict(BUSY_S, busy=True)
        if not state.locked(now):
            if state.recent(now, self.window_s) + state.checking < self.account_limit:
                return _Verdict()
            return _Verdict(BUSY_S, busy=True)  # the budget is taken by attempts being checked
        if address in state.blocked or self._addresses.recent(address, now):
            return _Verdict(state.locked_until - now)  # this address failed: locked out
        if state.checking:
            return _Verdict(BUSY_S, busy=True)  # a locked account: one attempt at a time
        if now < state.next_turn and not state.is_known(address, now):
            return _Verdict(state.next_turn - now, paced=True)
        return _Verdict()

    def locked_for(self, account: str, address: str) -> float:
        """Seconds until a login for this account from this address may be tried; 0 now."""
        now = self._monotonic()
        with self._lock:
            state = self._accounts.get(account.lower())
            if state is not None:
                state = self._account(account.lower(), now)  # ends a lockout that is over
            return self._verdict(state or _Account(), address, now).wait

    def attempt(self, account: str, address: str) -> LoginAttempt:
        """Reserve a try before the password is checked (use as a `with` block); its `wait`
        is > 0 when the account or address is locked or has no room for it now."""
        account = account.lower()
        now = self._monotonic()
        with self._lock:
            state = self._account(account, now)
            verdict = self._verdict(state, address, now)
            if not verdict.wait:
                state.checking += 1
                self._addresses.begin(address)
        return LoginAttempt(self, account, address, verdict.wait, busy=verdict.busy,
                            paced=verdict.paced)

    def _release(self, account: str, address: str) -> None:
        with self._lock:
            self._end(account, address)

    def _end(self, account: str, address: str) -> None:
        state = self._accounts.get(account)
        if state is not None and state.checking:
            state.checking -= 1
        self._addresses.end(address)

    def _settle(self, account: str, address: str, *,
                failed: bool) -> tuple[float, Guessing | None]:
        now = self._monotonic()
        with self._lock:
            self._end(account, address)
            if failed:
                return self._fail(account, address, now)
            self._succeed(account, address, now)
            return 0.0, None

    def _fail(self, account: str, address: str, now: float) -> tuple[float, Guessing | None]:
        state = self._account(account, now)
        self._addresses.fail(address, now)
        state.recent(now, self.window_s)  # drop failures out of the window
        state.failures.append((now, address))
        guessing = None
        if state.locked(now):  # guessed at from one more address: it joins the locked out
            state.locked_until = now + self.lockout_s
            state.next_turn = now + self.pace_s
            state.blocked[address] = now
        elif state.recent(now, self.window_s) >= self.account_limit:
            state.locked_until = now + self.lockout_s
            state.next_turn = now  # an address without failures may try at once
            state.blocked = {a: t for t, a in state.failures}
            guessing = Guessing(account, len(state.failures), len(state.blocked))
        while len(state.blocked) > _MAX_BLOCKED:
            del state.blocked[next(iter(state.blocked))]
        wait = self._addresses.remaining(address, now)
        if address in state.blocked:
            wait = max(wait, state.locked_until - now)
        return wait, guessing

    def _succeed(self, account: str, address: str, now: float) -> None:
        # The address keeps its own count: one valid account must not let a device reset its
        # budget for guessing others. On the account, only this address's failures are
        # forgiven (the guard's own slips): others' guesses still count, and a lockout stays.
        state = self._account(account, now)
        state.failures = deque(f for f in state.failures if f[1] != address)
        state.known.pop(address, None)
        state.known[address] = now
        while len(state.known) > _MAX_KNOWN:
            del state.known[next(iter(state.known))]

    def failed(self, account: str, address: str) -> float:
        """Record a failed login; returns the lockout that follows for this address."""
        now = self._monotonic()
        with self._lock:
            return self._fail(account.lower(), address, now)[0]

    def succeeded(self, account: str, address: str) -> None:
        """Record a successful login (see `LoginAttempt.succeeded`)."""
        now = self._monotonic()
        with self._lock:
            self._succeed(account.lower(), address, now)

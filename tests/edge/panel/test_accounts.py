"""Accounts, sessions and login throttling on a real SQLite file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from edge.panel.db import PanelDatabase
from edge.panel.errors import UserError
from edge.panel.sessions import SessionStore
from edge.panel.throttle import LoginThrottle
from edge.panel.users import Role, UserStore
from gate.clock import ManualClock

PASSWORD = "correct horse battery"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 2, 14, 8, 0, tzinfo=UTC))


@pytest.fixture
def db(tmp_path: Path):  # type: ignore[no-untyped-def]
    database = PanelDatabase(tmp_path / "gridgate.db")
    yield database
    database.close()


@pytest.fixture
def users(db: PanelDatabase, clock: ManualClock) -> UserStore:
    # Real Argon2id, with a lighter cost so the suite stays quick.
    return UserStore(db, clock=clock, hasher=PasswordHasher(time_cost=1, memory_cost=8192))


def sessions_of(db: PanelDatabase, clock: ManualClock) -> SessionStore:
    return SessionStore(db, clock=clock, lifetime=timedelta(hours=8), idle=timedelta(minutes=30))


def test_passwords_are_stored_as_argon2id_and_checked(users: UserStore, db: PanelDatabase) -> None:
    users.add("alice", Role.GUARD, PASSWORD)
    stored = db.conn().execute("SELECT password_hash FROM panel_users").fetchone()[0]
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert users.authenticate("alice", PASSWORD) is not None
    assert users.authenticate("ALICE", PASSWORD) is not None  # names are case-insensitive
    assert users.authenticate("alice", PASSWORD + "x") is None
    assert users.authenticate("nobody", PASSWORD) is None
    assert users.authenticate("bad name!", PASSWORD) is None


@pytest.mark.parametrize(("name", "password", "message"), [
    ("alice", "short", "at least 10"),
    ("alice", "alice", "at least 10"),
    ("alicealice", "AliceAlice", "must not be the user name"),
    ("bad name", PASSWORD, "user name"),
    ("", PASSWORD, "user name"),
    ("x" * 33, PASSWORD, "user name"),
    ("alice", "p" * 300, "at most"),
])
def test_bad_names_and_weak_passwords_are_refused(users: UserStore, name: str, password: str,
                                                  message: str) -> None:
    with pytest.raises(UserError, match=message):
        users.add(name, Role.GUARD, password)
    assert users.list() == []


def test_duplicate_names_unknown_roles_and_the_last_admin(users: UserStore) -> None:
    users.add("root", Role.ADMIN, PASSWORD)
    with pytest.raises(UserError, match="already exists"):
        users.add("ROOT", Role.GUARD, PASSWORD)
    with pytest.raises(UserError, match="unknown role"):
        users.add("bob", "superuser", PASSWORD)
    with pytest.raises(UserError, match="last admin"):
        users.remove("root")
    users.add("second", Role.ADMIN, PASSWORD)
    users.remove("root")
    assert [u.name for u in users.list()] == ["second"]
    with pytest.raises(UserError, match="no user"):
        users.remove("root")


def test_roles_admin_may_do_what_guards_do_not_the_other_way() -> None:
    assert Role.ADMIN.allows(Role.GUARD) and Role.ADMIN.allows(Role.ADMIN)
    assert Role.GUARD.allows(Role.GUARD) and not Role.GUARD.allows(Role.ADMIN)


def test_session_lifetime_idle_timeout_and_logout(users: UserStore, db: PanelDatabase,
                                                  clock: ManualClock) -> None:
    user = users.add("alice", Role.GUARD, PASSWORD)
    store = sessions_of(db, clock)
    token, session = store.create(user, "10.0.0.5")
    stored = db.conn().execute("SELECT token_hash FROM panel_sessions").fetchone()[0]
    assert token not in stored  # only a hash of the cookie value is kept
    assert store.get(token) == session
    assert store.get(token + "x") is None and store.get("") is None
    for _ in range(20):  # active use keeps it alive up to the absolute lifetime
        clock.advance(20 * 60)
        assert store.get(token) is not None
    clock.advance(1 * 3600)  # 7 h 40 min + 1 h > 8 h
    assert store.get(token) is None
    token, _ = store.create(user)
    clock.advance(31 * 60)  # idle too long
    assert store.get(token) is None
    token, _ = store.create(user)
    store.revoke(token)
    assert store.get(token) is None


def test_password_change_and_removal_end_every_session(users: UserStore, db: PanelDatabase,
                                                       clock: ManualClock) -> None:
    alice = users.add("alice", Role.GUARD, PASSWORD)
    bob = users.add("bob", Role.GUARD, PASSWORD)
    store = sessions_of(db, clock)
    phone, _ = store.create(alice)
    pc, _ = store.create(alice)
    other, _ = store.create(bob)
    users.set_password("alice", "another good password")
    assert store.get(phone) is None and store.get(pc) is None
    assert store.get(other) is not None
    assert users.authenticate("alice", PASSWORD) is None
    assert users.authenticate("alice", "another good password") is not None
    users.remove("bob")
    assert store.get(other) is None


def test_throttle_locks_an_account_for_the_addresses_that_failed_and_then_forgives() -> None:
    now = [0.0]
    throttle = LoginThrottle(account_failures=3, address_failures=100, window_s=600,
                             lockout_s=900, monotonic=lambda: now[0])
    for i in range(2):
        assert throttle.failed("alice", f"10.0.0.{i}") == 0
    assert throttle.failed("Alice", "10.0.0.9") == pytest.approx(900)
    for address in ("10.0.0.0", "10.0.0.1", "10.0.0.9"):
        assert throttle.locked_for("alice", address) == pytest.approx(900)
    assert throttle.locked_for("bob", "10.0.0.1") == 0  # other accounts are not affected
    # An address without failures may still try, one failure per lockout / failures (300 s).
    assert throttle.locked_for("alice", "10.9.9.9") == 0
    now[0] += 100
    assert throttle.failed("alice", "10.9.9.9") == pytest.approx(900)  # prolonged
    assert throttle.locked_for("alice", "10.9.9.8") == pytest.approx(300)
    now[0] += 300
    assert throttle.locked_for("alice", "10.9.9.8") == 0
    assert throttle.locked_for("alice", "10.0.0.1") == pytest.approx(600)
    now[0] += 601
    assert throttle.locked_for("alice", "10.0.0.1") == 0


def test_throttle_lets_a_known_address_skip_the_pace_and_alerts_once() -> None:
    now = [0.0]
    throttle = LoginThrottle(account_failures=3, address_failures=100, window_s=600,
                             lockout_s=900, monotonic=lambda: now[0])
    throttle.succeeded("alice", "10.1.1.1")  # the guard's desk
    locks = []
    for i in range(3):
        with throttle.attempt("alice", f"10.0.0.{i}") as attempt:
            attempt.failed()
            locks.append(attempt.guessing)
    assert locks[:2] == [None, None] and locks[2] is not None
    assert (locks[2].account, locks[2].failures, locks[2].addresses) == ("alice", 3, 3)
    with throttle.attempt("alice", "10.0.0.7") as fresh:  # a new address: checked, fails
        assert fresh.wait == 0
        assert fresh.failed() == pytest.approx(900) and fresh.guessing is None
    paced = throttle.attempt("alice", "10.0.0.8")
    assert paced.paced and paced.wait == pytest.approx(300)
    with throttle.attempt("alice", "10.1.1.1") as desk:
        assert desk.wait == 0
        desk.succeeded()
    assert throttle.locked_for("alice", "10.0.0.1") > 0  # a success does not end the lockout


def test_throttle_locks_an_address_trying_many_accounts() -> None:
    now = [0.0]
    throttle = LoginThrottle(account_failures=3, address_failures=5, window_s=600,
                             lockout_s=60, monotonic=lambda: now[0])
    for i in range(5):
        throttle.failed(f"user{i}", "10.0.0.66")
    assert throttle.locked_for("someone-new", "10.0.0.66") > 0
    assert throttle.locked_for("someone-new", "10.0.0.67") == 0
    throttle.succeeded("user0", "10.0.0.66")  # a valid login does not reset the address
    assert throttle.locked_for("someone-new", "10.0.0.66") > 0


def test_throttle_forgets_failures_outside_the_window() -> None:
    now = [0.0]
    throttle = LoginThrottle(account_failures=3, address_failures=100, window_s=60,
                             lockout_s=60, monotonic=lambda: now[0])
    for _ in range(5):
        throttle.failed("alice", "10.0.0.1")
        now[0] += 61
    assert throttle.locked_for("alice", "10.0.0.1") == 0


def test_throttle_counts_attempts_still_being_checked() -> None:
    now = [0.0]
    throttle = LoginThrottle(account_failures=2, address_failures=100, window_s=600,
                             lockout_s=900, monotonic=lambda: now[0])
    first, second = throttle.attempt("alice", "10.0.0.1"), throttle.attempt("Alice", "10.0.0.2")
    assert first.wait == second.wait == 0
    third = throttle.attempt("alice", "10.0.0.3")  # both slots are being checked
    assert third.busy and third.wait > 0
    third.failed()  # refused attempts record nothing
    first.release()  # no outcome (e.g. the request broke off): the slot is free again
    with throttle.attempt("alice", "10.0.0.4") as fourth:
        assert fourth.wait == 0
        assert fourth.failed() == 0
    assert second.failed() == pytest.approx(900)  # the second failure locks the account
    locked = throttle.attempt("alice", "10.0.0.2")  # an address that failed
    assert locked.wait == pytest.approx(900) and not locked.busy and not locked.paced
    with throttle.attempt("alice", "10.0.0.5") as clean:  # one that has not may still try
        assert clean.wait == 0
        parallel = throttle.attempt("alice", "10.0.0.6")
        assert parallel.busy and parallel.wait > 0  # a locked account: one at a time
    with throttle.attempt("bob", "10.0.0.1") as other:
        assert other.wait == 0
        other.succeeded()
    now[0] += 901
    with throttle.attempt("alice", "10.0.0.1") as later:
        assert later.wait == 0
        later.succeeded()
        later.release()  # settled already: nothing more happens
    with throttle.attempt("alice", "10.0.0.1") as again:
        assert again.wait == 0

"""The one write transaction every component uses: the write lock up front, all or nothing."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlite_utils import Database

from gate.model import Person
from gate.registry import Registry
from gate.store import begin_immediate, immediate, open_database


def test_a_commit_that_fails_leaves_no_open_transaction_and_no_row(tmp_path: Path) -> None:
    db = open_database(tmp_path / "gridgate.db")
    db.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
    # A deferred foreign key is checked at COMMIT: the commit itself fails, as on a full disk.
    db.execute("CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES "
               "parent (id) DEFERRABLE INITIALLY DEFERRED)")
    with pytest.raises(sqlite3.IntegrityError), immediate(db):
        db.execute("INSERT INTO child (id, parent_id) VALUES (1, 99)")
    assert not db.conn.in_transaction  # the next writer on this connection can begin
    assert db.execute("SELECT count(*) FROM child").fetchone()[0] == 0
    with immediate(db):
        db.execute("INSERT INTO parent (id) VALUES (99)")
        db.execute("INSERT INTO child (id, parent_id) VALUES (1, 99)")
    assert db.execute("SELECT count(*) FROM child").fetchone()[0] == 1
    db.close()


def test_an_error_inside_rolls_back_and_is_raised(tmp_path: Path) -> None:
    db = open_database(tmp_path / "gridgate.db")
    db.execute("CREATE TABLE t (v INTEGER)")
    with pytest.raises(KeyError), immediate(db):
        db.execute("INSERT INTO t (v) VALUES (1)")
        raise KeyError("stop")
    assert not db.conn.in_transaction
    assert db.execute("SELECT count(*) FROM t").fetchone()[0] == 0
    db.close()


def test_two_connections_that_read_before_writing_both_commit(tmp_path: Path) -> None:
    """The write lock is taken before the read: the second writer waits instead of failing
    with "database is locked" when the first commits between its read and its write."""
    path = tmp_path / "gridgate.db"
    setup = open_database(path)
    setup.execute("CREATE TABLE counter (v INTEGER)")
    setup.execute("INSERT INTO counter (v) VALUES (0)")
    setup.close()
    errors: list[BaseException] = []

    def bump() -> None:
        db = open_database(path)
        try:
            for _ in range(200):
                with immediate(db):
                    (value,) = db.execute("SELECT v FROM counter").fetchone()
                    db.execute("UPDATE counter SET v = ?", [value + 1])
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=bump) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    check = open_database(path)
    assert check.execute("SELECT v FROM counter").fetchone()[0] == 400  # no update lost
    check.close()


def _registry_write(db: Database) -> None:
    # A platform document applied while another connection writes (sqlite-utils' upsert).
    Registry(db).put_persons([Person("p-1", "h-1")])
    db.execute("INSERT INTO t VALUES (2)")


@pytest.mark.parametrize("write", ["immediate", "registry"])
def test_waiting_for_another_writer_does_not_stall_the_connections_other_threads(
        tmp_path: Path, write: str) -> None:
    # A writer waiting on a shared connection must leave it usable by the gate's other threads:
    # SQLite's own busy wait held the connection's mutex, a reader then blocked on it holding
    # the GIL, and the whole process stood still until the wait timed out.
    shared = open_database(tmp_path / "gridgate.db")
    shared.execute("CREATE TABLE t (x INTEGER)")
    if write == "registry":
        Registry(shared)  # its tables, before the other connection takes the lock
    other = open_database(tmp_path / "gridgate.db")
    held, released = threading.Event(), threading.Event()
    times: dict[str, float] = {}

    def hold_the_write_lock() -> None:
        with immediate(other):
            other.execute("INSERT INTO t VALUES (1)")
            held.set()
            time.sleep(2.0)
            times["released"] = time.monotonic()
        released.set()

    def write_on_the_shared_connection() -> None:
        if write == "registry":
            _registry_write(shared)
        else:
            with immediate(shared):
                shared.execute("INSERT INTO t VALUES (2)")
        times["written"] = time.monotonic()

    holder = threading.Thread(target=hold_the_write_lock)
    holder.start()
    held.wait(5)
    writer = threading.Thread(target=write_on_the_shared_connection)
    writer.start()
    time.sleep(0.2)  # the writer is waiting now
    assert shared.execute("SELECT count(*) FROM t").fetchone()[0] == 0
    times["read"] = time.monotonic()
    holder.join(10)
    writer.join(10)
    assert times["read"] < times["released"] <= times["written"]
    assert shared.execute("SELECT count(*) FROM t").fetchone()[0] == 2
    shared.close()
    other.close()


def test_a_writer_that_waits_too_long_gets_a_clear_error(tmp_path: Path) -> None:
    first = open_database(tmp_path / "gridgate.db")
    second = open_database(tmp_path / "gridgate.db")
    with immediate(first), pytest.raises(sqlite3.OperationalError, match="locked"):
        begin_immediate(second.conn, wait_s=0.2)
    assert not second.conn.in_transaction
    first.close()
    second.close()

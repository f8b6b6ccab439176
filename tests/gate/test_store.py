"""The one write transaction every component uses: the write lock up front, all or nothing."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from gate.store import immediate, open_database


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

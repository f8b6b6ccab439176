"""Reading the journal: the history a decision needs, trajectories, who is out, contacts.

Every query reads through an index of `passage_log` (gate/journal/schema.py) and decodes the
rows it returns (gate/journal/codec.py): the dicts have the columns of the `passages` view.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from gate.journal import recent
from gate.journal.codec import (
    STORED,
    Kind,
    NameBook,
    decode_doors,
    decode_passages,
    from_us,
    to_us,
    us_text,
    utc_text,
)
from gate.model import Colour, Direction, History, PassageRef

if TYPE_CHECKING:
    from sqlite_utils import Database

    from gate.policy import Policy

__all__ = ["JournalQueries", "utc_text"]

_SELECT = f"SELECT {', '.join(STORED)} FROM passage_log"
_SELECT_LAST = f"SELECT {', '.join(STORED)} FROM passage_last"
# Time ranges: the planner, without statistics, would walk the id index for an ORDER BY id.
_BY_TIME = _SELECT + " INDEXED BY passage_log_at"
_BY_SEQ = _SELECT + " INDEXED BY passage_log_seq"
# Rows by key, in the order given (CROSS JOIN keeps the planner from reordering it).
_BY_KEYS = (f"WITH k(person, id) AS (VALUES {{}}) SELECT "
            f"{', '.join('p.' + c for c in STORED)} FROM k CROSS JOIN passage_log p "
            f"ON p.person = k.person AND p.id = k.id")
# Contacts: the passages of others at a gate within a window (from, to, gate, the person).
_NEAR = " WHERE at >= ? AND at <= ? AND gate = ? AND granted = 1 AND person NOT IN (0, ?)"
_INDEX_NEAR = "SELECT person, id, at FROM passage_log INDEXED BY passage_log_at"
_FIRST_OWN = ("SELECT seq, id FROM passage_log INDEXED BY passage_log_seq WHERE seq >= ? "
              "ORDER BY seq LIMIT 1")
_ORDER = "at + order_lag"  # order_at


def quota_need(policy: Policy) -> timedelta:
    """How far back a decision reads a household's yellow exits (its quota period, a day
    more for where the period's start falls)."""
    return timedelta(days=policy.yellow.period_days + 1)


def _ref(row: dict[str, Any]) -> PassageRef:
    return PassageRef(
        person_id=row["person_id"],
        household_id=row["household_id"],
        direction=Direction(row["direction"]),
        at=datetime.fromisoformat(row["at"]),
        reader_id=row["reader_id"],
        colour=Colour(row["colour"]) if row["colour"] else None,
    )


def _dicts(cursor: sqlite3.Cursor) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]


# An alert with what grew later (gate/alert_folding.py, gate/escalation.py): how many times it
# happened, the last time, and when and to whom it was escalated.
_ALERTS = ("SELECT a.*, COALESCE(f.count, 1) AS count, COALESCE(f.last_at, a.at) AS last_at, "
           "e.at AS escalated_at, e.audience AS escalated_to FROM alerts a "
           "LEFT JOIN alert_folds f ON f.alert_id = a.id "
           "LEFT JOIN alert_escalations e ON e.alert_id = a.id")


def _alert_rows(cursor: sqlite3.Cursor) -> list[dict[str, Any]]:
    """Alert rows as read, without their place in the chain."""
    return [{k: v for k, v in r.items() if k not in ("seq", "link")} for r in _dicts(cursor)]


class JournalQueries:
    """Read-only views of the journal; any connection to the database will do (a
    sqlite-utils Database or a plain sqlite3 connection, which the CLI uses to start fast)."""

    def __init__(self, db: Database | sqlite3.Connection) -> None:
        self.conn: sqlite3.Connection = db if isinstance(db, sqlite3.Connection) else db.conn
        self.book = NameBook(self.conn)

    @staticmethod
    def readable(conn: sqlite3.Connection) -> bool:
        """True when the database has the journal's current tables (else: migrate first)."""
        found = conn.execute("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name "
                             "IN ('passage_log', 'door_log', 'journal_names', 'journal_counters', "
                             "'passage_recent')").fetchone()[0]
        return bool(found == 5)

    def _passages(self, sql: str, params: list[Any]) -> list[dict[str, Any]]:
        return decode_passages(self.book, self.conn.execute(sql, params).fetchall())

    def _code(self, kind: Kind, name: str | None) -> int | None:
        return None if name is None else self.book.find(kind, name)

    def history(self, *, person_id: str | None, household_id: str | None, gate_id: str,
                policy: Policy, now: datetime) -> History:
        """The passages a decision about this person may look at (see gate.model.History):
        the person's last granted passage at any gate, the household's granted yellow exits
        (the only ones its quota counts) and this gate's granted exits of the companion
        window."""
        last = None
        person = self._code(Kind.PERSON, person_id)
        if person is not None:
            rows = self._passages(_SELECT_LAST + " WHERE person = ?", [person])
            last = _ref(rows[0]) if rows else None
        household: tuple[PassageRef, ...] = ()
        code = self._code(Kind.HOUSEHOLD, household_id)
        if code is not None:
            since = now - quota_need(policy)
            raws = self.conn.execute(
                "SELECT person, at, reader FROM passage_log INDEXED BY passage_log_yellow_exits "
                "WHERE household = ? AND granted = 1 AND direction = 1 AND colour = 2 "
                "AND at >= ? ORDER BY at, id", [code, to_us(since)]).fetchall()
            persons = self.book.names(Kind.PERSON, (r[0] for r in raws))
            readers = self.book.names(Kind.READER, (r[2] for r in raws))
            household = tuple(PassageRef(persons.get(p) or "", household_id, Direction.OUT,
                                         from_us(at), readers[r] or "", Colour.YELLOW)
                              for p, at, r in raws)
        # Companions travel through the same door: this gate's exits only.
        gate = self._code(Kind.GATE, gate_id)
        recent: tuple[PassageRef, ...] = ()
        if gate is not None:
            since = now - timedelta(seconds=max(policy.yellow.companion_window_s, 1))
            recent = tuple(_ref(r) for r in self._passages(
                _BY_TIME + " WHERE at >= ? AND gate = ? AND granted = 1 AND direction = 1 "
                "AND person != 0 ORDER BY id", [to_us(since), gate]))
        return History(last_passage=last, household_exits=household, recent_exits=recent)

    def trajectory(self, person_id: str, limit: int | None = None) -> list[dict[str, Any]]:
        """One person's passages at every gate of the compound, oldest first (denied attempts
        included: they are part of it)."""
        person = self._code(Kind.PERSON, person_id)
        if person is None:
            return []
        sql = f"{_SELECT} WHERE person = ? ORDER BY {_ORDER}, id"
        params: list[Any] = [person]
        if limit is not None:
            sql = (f"SELECT * FROM ({_SELECT} WHERE person = ? ORDER BY {_ORDER} DESC, id DESC "
                   f"LIMIT ?) ORDER BY {_ORDER}, id")
            params.append(limit)
        return self._passages(sql, params)

    def has_passages(self, person_id: str) -> bool:
        """True when the journal holds any passage of this person."""
        person = self._code(Kind.PERSON, person_id)
        return person is not None and self.conn.execute(
            "SELECT 1 FROM passage_log WHERE person = ? LIMIT 1", [person]).fetchone() is not None

    def who_is_out(self) -> list[dict[str, Any]]:
        """Persons whose last granted passage, at any gate of the compound, was an exit; longest
        out first. Read from `passage_last`, kept with every passage."""
        return self._passages(_SELECT_LAST + f" WHERE direction = 1 ORDER BY {_ORDER}, id", [])

    def passages_between(self, start: datetime, end: datetime, *,
                         gate_id: str | None = None) -> list[dict[str, Any]]:
        """Passages from `start` (inclusive) to `end` (exclusive), oldest first; of one gate of
        the compound or of all."""
        params: list[Any] = [to_us(start), to_us(end)]
        where = " WHERE at >= ? AND at < ?"
        if gate_id is not None:
            gate = self._code(Kind.GATE, gate_id)
            if gate is None:
                return []
            where += " AND gate = ?"
            params.append(gate)
        if self._covered(params[0]):
            rows = self._passages(recent.SELECT + where + " ORDER BY at, id", params)
            if self._covered(params[0]):  # else a trim committed in between: read the log
                return rows
        return self._passages(_BY_TIME + where + " ORDER BY at, id", params)

    def _covered(self, start_us: int) -> bool:
        """True when every passage from `start_us` on is in the copy in time order. Asked
        again after reading the copy: a trim commits its delete and its counter together."""
        covered = recent.covered_from(self.conn)
        return covered is not None and start_us >= covered

    def passage_times(self, start: datetime, end: datetime) -> list[tuple[datetime, str, bool]]:
        """When each passage from `start` to `end` was, its direction and whether it was
        granted (counts per hour; from the time index alone)."""
        return [(from_us(at), "out" if direction else "in", bool(granted))
                for at, direction, granted in self.conn.execute(
                    "SELECT at, direction, granted FROM passage_log INDEXED BY passage_log_at "
                    "WHERE at >= ? AND at < ?",
                    [to_us(start), to_us(end)])]

    def contacts(self, person_id: str, within: timedelta, *,
                 since: datetime | None = None) -> list[dict[str, Any]]:
        """Everyone who passed the same gate within `within` of one of the person's granted
        passages (from `since`), oldest first: each of their passages once, with the person's
        passage it was nearest (`near_event_id`, `near_at`) and the gap in seconds."""
        person = self._code(Kind.PERSON, person_id)
        if person is None:
            return []
        span = within // timedelta(microseconds=1)
        own = self.conn.execute(
            "SELECT event_id, gate, at FROM passage_log WHERE person = ? AND granted = 1 "
            "AND at >= ? ORDER BY at, id", [person, to_us(since) if since else 0]).fetchall()
        covered = recent.covered_from(self.conn)
        near, raws, oldest = self._near(own, span, person, covered)
        if oldest is not None and not self._covered(oldest):  # a trim committed in between
            near, raws, _ = self._near(own, span, person, None)
        # The older rows in the table's order: each contact's passages share a page.
        keys = sorted(key for key in near if key not in raws)
        for start in range(0, len(keys), 400):
            part = keys[start:start + 400]
            raws.update(((raw[0], raw[1]), raw) for raw in self.conn.execute(
                _BY_KEYS.format(", ".join("(?, ?)" for _ in part)),
                [v for key in part for v in key]))
        # A row gone since the time index named it (a prune, a wipe) is left out.
        ordered = sorted((key for key in near if key in raws),
                         key=lambda key: (raws[key][2], key[1]))  # (at, id)
        found_rows = []
        for key, row in zip(ordered, decode_passages(self.book, [raws[k] for k in ordered]),
                            strict=True):
            gap, event_id, at = near[key]
            found_rows.append({**row, "gap_s": round(gap / 1e6, 3),
                               "near_event_id": event_id.hex(), "near_at": us_text(at)})
        return found_rows

    def _near(self, own: list[tuple[bytes, int, int]], span: int, person: int,
              covered: int | None) -> tuple[dict[tuple[int, int], tuple[int, bytes, int]],
                                           dict[tuple[int, int], tuple[Any, ...]], int | None]:
        """Contacts' passages near each of `own` (event id, gate, at): (person, id) -> the
        smallest gap, the nearest own passage's event id and time; the whole rows read from
        the copy (from `covered` on); the earliest window start read from it."""
        near: dict[tuple[int, int], tuple[int, bytes, int]] = {}
        raws: dict[tuple[int, int], tuple[Any, ...]] = {}
        oldest = None
        for event_id, gate, at in own:
            window = [at - span, at + span, gate, person]
            if covered is not None and at - span >= covered:  # whole rows, neighbouring pages
                found = self.conn.execute(recent.SELECT + _NEAR, window).fetchall()
                raws.update(((raw[0], raw[1]), raw) for raw in found)
                oldest = at - span if oldest is None else min(oldest, at - span)
            else:  # who and when from the time index alone; the rows after
                found = self.conn.execute(_INDEX_NEAR + _NEAR, window).fetchall()
            for other, other_id, other_at, *_ in found:
                gap = abs(other_at - at)
                if near.get((other, other_id), (gap + 1,))[0] > gap:
                    near[(other, other_id)] = (gap, event_id, at)
        return near, raws, oldest

    def recent_passages(self, limit: int = 50) -> list[dict[str, Any]]:
        """The latest passages at every gate, newest first."""
        newest = self._passages(recent.SELECT + " ORDER BY at DESC, id DESC LIMIT ?", [limit])
        if len(newest) == limit:  # else older ones may be left out of the copy
            return newest
        return self._passages(_BY_TIME + " ORDER BY at DESC, id DESC LIMIT ?", [limit])

    def own_passages(self, *, after_id: int | None = None, since: datetime | None = None,
                     limit: int = 1000) -> list[dict[str, Any]]:
        """This gate's own passages in recording order: after the one with `after_id`, or
        those that happened from `since` (what a peer's catch-up asks for)."""
        if after_id is not None:
            sql = _BY_SEQ + " WHERE seq >= ? AND id > ? ORDER BY seq LIMIT ?"
            params = [self._own_seq_after(after_id), after_id, limit]
        else:
            sql = _BY_TIME + " WHERE at >= ? AND received_lag IS NULL ORDER BY id LIMIT ?"
            params = [to_us(since) if since else 0, limit]
        return self._passages(sql, params)

    def _own_seq_after(self, after_id: int) -> int:
        """The place in the chain of this gate's first passage recorded after `after_id`:
        own ids and places grow together, so a bisection of the seq index finds it."""
        low, high = 0, int(self.conn.execute(
            "SELECT coalesce(max(seq), 0) + 1 FROM passage_log").fetchone()[0])
        while low < high:
            middle = (low + high) // 2
            row = self.conn.execute(_FIRST_OWN, [middle]).fetchone()
            if row is None or row[1] > after_id:
                high = middle
            else:
                low = row[0] + 1
        return low

    def yellow_exits(self, household_id: str, start: datetime,
                     end: datetime) -> list[dict[str, Any]]:
        """A household's granted yellow exits at every gate from `start` to `end`, in time
        order (what its quota counts)."""
        household = self._code(Kind.HOUSEHOLD, household_id)
        if household is None:
            return []
        return self._passages(
            _SELECT + " INDEXED BY passage_log_yellow_exits WHERE household = ? "
            "AND granted = 1 AND direction = 1 AND colour = 2 AND at >= ? AND at < ? "
            "ORDER BY at, event_id", [household, to_us(start), to_us(end)])

    def alerts(self, *, open_only: bool = False, severity: str | None = None,
               grid_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Alerts newest first, optionally only unacknowledged, of one severity or one grid."""
        where, params = ["1 = 1"], []
        if open_only:
            where.append("a.acknowledged_at IS NULL")
        if severity:
            where.append("a.severity = ?")
            params.append(severity)
        if grid_id:
            where.append("a.grid_id = ?")
            params.append(grid_id)
        sql = f"{_ALERTS} WHERE {' AND '.join(where)} ORDER BY a.id DESC LIMIT ?"
        return _alert_rows(self.conn.execute(sql, [*params, limit]))

    def alert(self, alert_id: int) -> dict[str, Any] | None:
        """One alert with its count and escalation, or None."""
        rows = _alert_rows(self.conn.execute(f"{_ALERTS} WHERE a.id = ?", [alert_id]))
        return rows[0] if rows else None

    def door_events(self, limit: int = 50) -> list[dict[str, Any]]:
        """The latest door events, newest first."""
        return decode_doors(self.book, self.conn.execute(
            "SELECT * FROM door_log ORDER BY seq DESC LIMIT ?", [limit]).fetchall())

    def chain_head(self) -> dict[str, Any]:
        """The newest place in the hash chain and its link (16 hex digits)."""
        values = dict(self.conn.execute(
            "SELECT name, value FROM journal_counters WHERE name IN ('chain_seq', 'chain_link')"))
        link = int(values.get("chain_link", 0))
        return {"seq": int(values.get("chain_seq", 0)),
                "link": link.to_bytes(8, "big", signed=True).hex()}

"""How the journal stores what it records: times as integer microseconds, event ids as 16
bytes, every repeated word (gate, reader, person, rule, reason text...) as a small integer code
of the `journal_names` dictionary. Rows are decoded back to the texts they were written with.

Codes are never reused: a wipe blanks a name (NULL) instead of deleting its code, so a code
read from any row, by any process, always meant the same name.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from enum import IntEnum
from functools import lru_cache
from typing import Any

US = 1_000_000  # microseconds per second
_DAY_US = 86_400 * US
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
REASON_SEPARATOR = "\x1f"  # between the zh and en text of a reason name
MILLIONTHS = 1_000_000  # a face distance is kept to six decimals, as an integer


class Kind(IntEnum):
    """What a `journal_names` entry names."""

    GATE = 1
    READER = 2
    PERSON = 3
    HOUSEHOLD = 4
    GRID = 5
    PASS = 6
    ACTOR = 7
    METHOD = 8
    RULE = 9
    REASON = 10  # "zh\x1fen"
    DOOR = 11
    DOOR_KIND = 12
    DETAIL = 13


# Fixed codes: the partial indexes name them, so they can never move.
DIRECTIONS = ("in", "out")  # code = position
COLOURS = {"green": 1, "yellow": 2, "red": 3, "white": 4}
COLOUR_NAMES = {code: name for name, code in COLOURS.items()}
YELLOW = COLOURS["yellow"]
OUT = 1


# -- times ------------------------------------------------------------------------------------

def utc_text(when: datetime) -> str:
    """The journal's time format: UTC ISO 8601 with microseconds, sortable as text."""
    return when.astimezone(UTC).isoformat(timespec="microseconds")


def to_us(when: datetime | str) -> int:
    """Microseconds since 1970 UTC of an aware time or of a journal time text."""
    if isinstance(when, str):
        when = datetime.fromisoformat(when)
    return (when - _EPOCH) // timedelta(microseconds=1)


def from_us(us: int) -> datetime:
    """The aware UTC time of a microsecond count."""
    return _EPOCH + timedelta(microseconds=us)


@lru_cache(maxsize=4096)
def _day_prefix(day: int) -> str:
    return (_EPOCH + timedelta(days=day)).strftime("%Y-%m-%dT")


def us_text(us: int) -> str:
    """`utc_text` of a microsecond count, without building a datetime (rows decode in bulk)."""
    day, rest = divmod(us, _DAY_US)
    seconds, micro = divmod(rest, US)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{_day_prefix(day)}{hours:02d}:{minutes:02d}:{secs:02d}.{micro:06d}+00:00"


def iso_sql(column: str) -> str:
    """SQL rendering the microsecond column as `us_text` does (for the compatibility views)."""
    return (f"(strftime('%Y-%m-%dT%H:%M:%S', {column} / 1000000, 'unixepoch') || "
            f"printf('.%06d+00:00', {column} % 1000000))")


# -- event ids ---------------------------------------------------------------------------------

def id_bytes(event_id: str) -> bytes:
    """16 bytes of a 32-hex-digit event id (uuid4().hex)."""
    try:
        raw = bytes.fromhex(event_id)
    except ValueError:
        raw = b""
    if len(raw) != 16:
        raise ValueError(f"an event id is 32 hex digits, not {event_id!r}")
    return raw


# -- names -------------------------------------------------------------------------------------

def reason_name(zh: str, en: str) -> str:
    """The dictionary name of a reason: both languages, one code."""
    return f"{zh}{REASON_SEPARATOR}{en}"


def split_reason(name: str | None) -> tuple[str | None, str | None]:
    """The zh and en texts of a reason name."""
    if name is None:
        return None, None
    zh, _, en = name.partition(REASON_SEPARATOR)
    return zh, en


class NameBook:
    """Codes of names, both ways, cached. Writing looks names up inside the caller's
    transaction; a wipe in another process bumps `names_epoch`, which empties the cache."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._codes: dict[tuple[int, str], int] = {}
        self._names: dict[tuple[int, int], str | None] = {}
        self._epoch: int | None = None

    def check_epoch(self, epoch: int) -> None:
        """Forget cached codes when a wipe blanked names since (`epoch`: the names_epoch
        counter, read inside the write transaction)."""
        if epoch != self._epoch:
            self.forget()
            self._epoch = epoch

    def forget(self) -> None:
        """Forget every cached code (after a rolled-back transaction that may have added some)."""
        self._codes.clear()
        self._names.clear()
        self._epoch = None

    def code(self, kind: Kind, name: str | None) -> int | None:
        """The code of a name, added when new (inside a write transaction); None for None."""
        if name is None:
            return None
        name = str(name)  # a StrEnum member is kept as its plain value
        key = (kind, name)
        code = self._codes.get(key)
        if code is not None:
            return code
        row = self.conn.execute("SELECT code FROM journal_names WHERE kind = ? AND name = ?",
                                key).fetchone()
        if row is None:
            code = int(self.conn.execute(
                "INSERT INTO journal_names (kind, code, name) SELECT ?, coalesce(max(code), 0) + 1,"
                " ? FROM journal_names WHERE kind = ? RETURNING code",
                [kind, name, kind]).fetchone()[0])
        else:
            code = int(row[0])
        self._codes[key] = code
        self._names[(kind, code)] = name
        return code

    def find(self, kind: Kind, name: str) -> int | None:
        """The code of a name already known, without adding it (for queries)."""
        code = self._codes.get((kind, name))
        if code is not None:
            return code
        row = self.conn.execute("SELECT code FROM journal_names WHERE kind = ? AND name = ?",
                                [kind, name]).fetchone()
        if row is None:
            return None
        self._codes[(kind, name)] = code = int(row[0])
        return code

    def names(self, kind: Kind, codes: Iterable[int | None]) -> dict[int, str | None]:
        """Names of codes of one kind (loaded once, in one query, then cached)."""
        wanted = {c for c in codes if c is not None}
        missing = [c for c in wanted if (kind, c) not in self._names]
        for start in range(0, len(missing), 500):
            part = missing[start:start + 500]
            marks = ",".join("?" * len(part))
            for code, name in self.conn.execute(
                    f"SELECT code, name FROM journal_names WHERE kind = ? AND code IN ({marks})",
                    [kind, *part]):
                self._names[(kind, code)] = name
            for code in part:  # 0 (nobody) and blanked names: None, asked once
                self._names.setdefault((kind, code), None)
        return {c: self._names[(kind, c)] for c in wanted}


# -- passages ----------------------------------------------------------------------------------

# The stored columns of passage_log (and passage_last), in order.
STORED = ("person", "id", "at", "order_lag", "event_id", "gate", "reader", "direction",
          "granted", "household", "grid", "pass", "method", "colour", "rule", "reason",
          "face_distance", "faces_in_view", "snapshot", "actor", "origin_seq", "received_lag",
          "seq", "link", "live_step")
# Name-coded columns: stored column -> (kind, row key).
_NAMED = (("person", Kind.PERSON, "person_id"), ("gate", Kind.GATE, "gate_id"),
          ("reader", Kind.READER, "reader_id"), ("household", Kind.HOUSEHOLD, "household_id"),
          ("grid", Kind.GRID, "grid_id"), ("pass", Kind.PASS, "pass_id"),
          ("method", Kind.METHOD, "method"), ("rule", Kind.RULE, "rule"),
          ("actor", Kind.ACTOR, "actor"))
_NAMED_AT = tuple(STORED.index(column) for column, _, _ in _NAMED)
_REASON_AT = STORED.index("reason")


def encode_passage(book: NameBook, row: Mapping[str, Any], *, passage_id: int,
                   seq: int | None = None, link: int | None = None) -> tuple[Any, ...]:
    """The stored values of a passage row (the shape of `decode_passage`)."""
    at = to_us(row["at"])
    received = row.get("received_at")
    values: dict[str, Any] = {
        "id": passage_id, "at": at, "order_lag": to_us(row["order_at"]) - at,
        "event_id": id_bytes(row["event_id"]), "direction": DIRECTIONS.index(row["direction"]),
        "granted": int(bool(row["granted"])), "colour": COLOURS.get(row["colour"] or ""),
        "reason": book.code(Kind.REASON, reason_name(row["reason_zh"], row["reason_en"])),
        "face_distance": None if row["face_distance"] is None else round(
            row["face_distance"] * MILLIONTHS),
        "faces_in_view": row["faces_in_view"],
        "snapshot": row.get("snapshot"), "origin_seq": row.get("origin_seq"),
        "received_lag": None if received is None else to_us(received) - at,
        "seq": seq, "link": link, "live_step": row.get("live_step"),
    }
    for column, kind, key in _NAMED:
        values[column] = book.code(kind, row[key])
    values["person"] = values["person"] or 0  # part of the key: 0 for nobody identified
    return tuple(values[name] for name in STORED)


def decode_passages(book: NameBook, raws: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
    """Passage rows as the journal always showed them (the columns of the `passages` view),
    `granted` as a bool."""
    names = {column: book.names(kind, (r[at] for r in raws))
             for (column, kind, _), at in zip(_NAMED, _NAMED_AT, strict=True)}
    reasons = book.names(Kind.REASON, (r[_REASON_AT] for r in raws))
    out = []
    for (person, passage_id, at, lag, event_id, gate, reader, direction, granted, household,
         grid, pass_, method, colour, rule, reason, face_distance, faces_in_view, snapshot,
         actor, origin_seq, received, _seq, _link, live_step) in raws:
        zh, en = split_reason(reasons.get(reason))
        at_text = us_text(at)
        out.append({
            "id": passage_id, "event_id": event_id.hex(), "at": at_text,
            "gate_id": names["gate"][gate], "reader_id": names["reader"][reader],
            "direction": DIRECTIONS[direction], "person_id": names["person"].get(person),
            "household_id": names["household"].get(household),
            "grid_id": names["grid"].get(grid), "pass_id": names["pass"].get(pass_),
            "method": names["method"][method], "colour": COLOUR_NAMES.get(colour),
            "granted": bool(granted), "rule": names["rule"][rule], "reason_zh": zh,
            "reason_en": en,
            "face_distance": None if face_distance is None else face_distance / MILLIONTHS,
            "faces_in_view": faces_in_view,
            "snapshot": snapshot, "actor": names["actor"].get(actor), "origin_seq": origin_seq,
            "received_at": None if received is None else us_text(at + received),
            "order_at": us_text(at + lag) if lag else at_text, "live_step": live_step,
        })
    return out


# -- door events -------------------------------------------------------------------------------

def encode_door(book: NameBook, row: Mapping[str, Any], *, link: int) -> tuple[Any, ...]:
    """The stored values of a door event row (`id` is its place in the chain)."""
    return (row["id"], id_bytes(row["event_id"]), to_us(row["at"]),
            book.code(Kind.GATE, row["gate_id"]), book.code(Kind.DOOR, row["door"]),
            book.code(Kind.DOOR_KIND, row["kind"]), book.code(Kind.DETAIL, row["detail"] or None),
            book.code(Kind.ACTOR, row["actor"]), link)


def decode_doors(book: NameBook, raws: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
    """Door event rows as the journal always showed them (the `door_events` view)."""
    names = [book.names(kind, (r[i] for r in raws)) for i, kind in
             ((3, Kind.GATE), (4, Kind.DOOR), (5, Kind.DOOR_KIND), (6, Kind.DETAIL),
              (7, Kind.ACTOR))]
    gates, doors, kinds, details, actors = names
    return [{"id": seq, "event_id": event_id.hex(), "at": us_text(at), "gate_id": gates[gate],
             "door": doors[door], "kind": kinds[kind], "detail": details.get(detail) or "",
             "actor": actors.get(actor)}
            for seq, event_id, at, gate, door, kind, detail, actor, _link in raws]

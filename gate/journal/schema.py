"""Journal tables as small named migrations (sqlite-utils Migrations), applied at start.

Since 0003 the journal keeps passages and door events compactly (gate/journal/codec.py) in
`passage_log` and `door_log`; the views `passages` and `door_events` show them with exactly the
columns and texts the tables had, for anyone reading with SQL (an investigator with the sqlite3
shell, a test). Code reads through `JournalQueries`, whose queries use the indexes.
"""

from __future__ import annotations

from typing import Any

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from gate.journal import chain, recent
from gate.journal.codec import (
    STORED,
    Kind,
    NameBook,
    encode_door,
    encode_passage,
    iso_sql,
)

migrations = Migrations("gridgate.journal")


@migrations(name="0001_passages_alerts_door_events")
def _create_tables(db: Database) -> None:
    db.execute(
        """
        CREATE TABLE passages (
            id INTEGER PRIMARY KEY AUTOINCREMENT,  -- order of recording; wall clocks may step back
            event_id TEXT NOT NULL UNIQUE,
            at TEXT NOT NULL,                      -- UTC, ISO 8601 with microseconds
            gate_id TEXT NOT NULL,
            reader_id TEXT NOT NULL,
            direction TEXT NOT NULL,
            person_id TEXT,
            household_id TEXT,
            grid_id TEXT,
            pass_id TEXT,
            method TEXT NOT NULL,
            colour TEXT,
            granted INTEGER NOT NULL,
            rule TEXT NOT NULL,
            reason_zh TEXT NOT NULL,
            reason_en TEXT NOT NULL,
            face_distance REAL,
            faces_in_view INTEGER NOT NULL DEFAULT 0,
            snapshot TEXT,
            actor TEXT                             -- the guard, for overrides
        )
        """
    )
    db.execute("CREATE INDEX passages_person ON passages (person_id, id)")
    db.execute("CREATE INDEX passages_household ON passages (household_id, granted, direction, at)")
    db.execute("CREATE INDEX passages_exits ON passages (gate_id, granted, direction, at)")
    db.execute(
        """
        CREATE TABLE alerts (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            event_id TEXT NOT NULL UNIQUE,
            at TEXT NOT NULL,
            gate_id TEXT NOT NULL,
            reader_id TEXT,
            kind TEXT NOT NULL,
            severity TEXT NOT NULL,
            person_id TEXT,
            household_id TEXT,
            grid_id TEXT,
            passage_id INTEGER REFERENCES passages (id),
            message_zh TEXT NOT NULL,
            message_en TEXT NOT NULL,
            acknowledged_at TEXT,
            acknowledged_by TEXT,
            ack_comment TEXT
        )
        """
    )
    db.execute("CREATE INDEX alerts_open ON alerts (acknowledged_at, id)")
    db.execute(
        """
        CREATE TABLE door_events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            event_id TEXT NOT NULL UNIQUE,
            at TEXT NOT NULL,
            gate_id TEXT NOT NULL,
            door TEXT NOT NULL,                    -- e.g. 'relay17'
            kind TEXT NOT NULL,  -- released, locked, opened, closed, forced, held_open, mode
            detail TEXT NOT NULL DEFAULT '',
            actor TEXT
        )
        """
    )


@migrations(name="0002_peer_passages")
def _peer_passages(db: Database) -> None:
    # The compound's history: other gates' passages are kept beside this gate's own, in the same
    # table (gate_id says whose). Passages are immutable facts with unique event ids, so the
    # union is the same whatever order they arrive in; rules order them by `order_at`, not by
    # `id` (arrival). `order_at` is `at`, except that a gate never orders a passage before one
    # it recorded earlier (a clock stepped back by NTP keeps each gate's recording order).
    db.execute("ALTER TABLE passages ADD COLUMN origin_seq INTEGER")  # the peer's event seq
    db.execute("ALTER TABLE passages ADD COLUMN received_at TEXT")  # NULL: decided here
    db.execute("ALTER TABLE passages ADD COLUMN order_at TEXT")
    db.execute("UPDATE passages SET order_at = (SELECT MAX(q.at) FROM passages q "
               "WHERE q.id <= passages.id)")
    db.execute("CREATE INDEX passages_person_order ON passages (person_id, order_at)")
    db.execute("CREATE INDEX passages_gate_at ON passages (gate_id, at)")
    db.execute("CREATE INDEX passages_at ON passages (at)")


_PASSAGE_COLUMNS = """
    person INTEGER NOT NULL,         -- journal_names code (kind 3); 0: nobody identified
    id INTEGER NOT NULL,             -- order of recording at this gate (own and peer passages);
                                     -- own passages' ids grow with their seq
    at INTEGER NOT NULL,             -- UTC microseconds since 1970
    order_lag INTEGER NOT NULL,      -- order_at - at: 0 unless this gate's clock stepped back
    event_id BLOB NOT NULL,          -- 16 bytes
    gate INTEGER NOT NULL,           -- the other columns named *_id, method, rule, actor:
    reader INTEGER NOT NULL,         --   journal_names codes
    direction INTEGER NOT NULL,      -- 0 in, 1 out
    granted INTEGER NOT NULL,
    household INTEGER,
    grid INTEGER,
    pass INTEGER,
    method INTEGER NOT NULL,
    colour INTEGER,                  -- 1 green, 2 yellow, 3 red, 4 white
    rule INTEGER NOT NULL,
    reason INTEGER NOT NULL,         -- journal_names code of "zh<US>en": the words shown
    face_distance INTEGER,           -- millionths
    faces_in_view INTEGER NOT NULL,
    snapshot TEXT,
    actor INTEGER,
    origin_seq INTEGER,              -- a peer passage: its seq at the gate that decided it
    received_lag INTEGER,            -- a peer passage: received_at - at; NULL: decided here
    seq INTEGER,                     -- its place in this gate's hash chain (own passages)
    link INTEGER"""


def _name(alias: str, kind: Kind, column: str) -> str:
    return (f"LEFT JOIN journal_names {alias} "
            f"ON {alias}.kind = {int(kind)} AND {alias}.code = {column}")


def _create_views(db: Database) -> None:
    _create_passages_view(db)
    _create_door_events_view(db)


def _create_passages_view(db: Database, *, live_step: bool = False) -> None:
    joins = " ".join(_name(f"n_{key}", kind, f"p.{column}") for key, (column, kind) in {
        "gate_id": ("gate", Kind.GATE), "reader_id": ("reader", Kind.READER),
        "person_id": ("person", Kind.PERSON), "household_id": ("household", Kind.HOUSEHOLD),
        "grid_id": ("grid", Kind.GRID), "pass_id": ("pass", Kind.PASS),
        "method": ("method", Kind.METHOD), "rule": ("rule", Kind.RULE),
        "actor": ("actor", Kind.ACTOR), "reason": ("reason", Kind.REASON)}.items())
    reason = "n_reason.name"
    extra = ", p.live_step AS live_step" if live_step else ""  # since 0004
    db.execute(f"""
        CREATE VIEW passages AS SELECT
            p.id AS id, lower(hex(p.event_id)) AS event_id, {iso_sql("p.at")} AS at,
            n_gate_id.name AS gate_id, n_reader_id.name AS reader_id,
            CASE p.direction WHEN 1 THEN 'out' ELSE 'in' END AS direction,
            n_person_id.name AS person_id, n_household_id.name AS household_id,
            n_grid_id.name AS grid_id, n_pass_id.name AS pass_id, n_method.name AS method,
            CASE p.colour WHEN 1 THEN 'green' WHEN 2 THEN 'yellow' WHEN 3 THEN 'red'
                WHEN 4 THEN 'white' END AS colour,
            p.granted AS granted, n_rule.name AS rule,
            substr({reason}, 1, instr({reason}, char(31)) - 1) AS reason_zh,
            substr({reason}, instr({reason}, char(31)) + 1) AS reason_en,
            p.face_distance / 1000000.0 AS face_distance, p.faces_in_view AS faces_in_view,
            p.snapshot AS snapshot, n_actor.name AS actor, p.origin_seq AS origin_seq,
            CASE WHEN p.received_lag IS NOT NULL THEN {iso_sql("(p.at + p.received_lag)")}
                END AS received_at,
            {iso_sql("(p.at + p.order_lag)")} AS order_at{extra}
        FROM passage_log p {joins}""")


def _create_door_events_view(db: Database) -> None:
    joins = " ".join(_name(f"n_{column}", kind, f"d.{column}") for column, kind in (
        ("gate", Kind.GATE), ("door", Kind.DOOR), ("kind", Kind.DOOR_KIND),
        ("detail", Kind.DETAIL), ("actor", Kind.ACTOR)))
    db.execute(f"""
        CREATE VIEW door_events AS SELECT
            d.seq AS id, lower(hex(d.event_id)) AS event_id, {iso_sql("d.at")} AS at,
            n_gate.name AS gate_id, n_door.name AS door, n_kind.name AS kind,
            coalesce(n_detail.name, '') AS detail, n_actor.name AS actor
        FROM door_log d {joins}""")


@migrations(name="0003_journal_compact_chained")
def _compact_chained(db: Database) -> None:
    # Compact storage (gate/journal/codec.py) and the hash chain (gate/journal/chain.py); the
    # passages, door events and alerts recorded so far are converted and chained in the order
    # of their times, the best knowledge of the order they were written in.
    db.execute("CREATE TABLE journal_counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)"
               " WITHOUT ROWID")
    db.execute("CREATE TABLE journal_names (kind INTEGER NOT NULL, code INTEGER NOT NULL, "
               "name TEXT, PRIMARY KEY (kind, code)) WITHOUT ROWID")
    db.execute("CREATE UNIQUE INDEX journal_names_name ON journal_names (kind, name)")
    # Clustered by person: a whole trajectory is a few neighbouring pages, even cold.
    db.execute(f"CREATE TABLE passage_log ({_PASSAGE_COLUMNS}, PRIMARY KEY (person, id))"
               " WITHOUT ROWID")
    # Time windows, contacts and today's counts read this index alone for their filters.
    db.execute("CREATE INDEX passage_log_at ON passage_log (at, gate, granted, direction)")
    # The household quota counts granted yellow exits only.
    db.execute("CREATE INDEX passage_log_yellow_exits ON passage_log (household, at, reader) "
               "WHERE granted = 1 AND direction = 1 AND colour = 2")
    db.execute("CREATE UNIQUE INDEX passage_log_seq ON passage_log (seq) WHERE seq IS NOT NULL")
    db.execute("CREATE INDEX passage_log_snapshots ON passage_log (at) "
               "WHERE snapshot IS NOT NULL")
    # Each person's latest granted passage, at any gate (who is out, the last passage a
    # decision looks at), written in the passage's own transaction.
    last = _PASSAGE_COLUMNS.replace("person INTEGER NOT NULL", "person INTEGER PRIMARY KEY")
    db.execute(f"CREATE TABLE passage_last ({last})")
    db.execute("CREATE TABLE journal_peer_seq (gate INTEGER PRIMARY KEY, seq INTEGER NOT NULL)")
    db.execute("""
        CREATE TABLE door_log (
            seq INTEGER PRIMARY KEY,         -- its place in the chain; the view's id
            event_id BLOB NOT NULL,
            at INTEGER NOT NULL,
            gate INTEGER NOT NULL,
            door INTEGER NOT NULL,
            kind INTEGER NOT NULL,
            detail INTEGER,
            actor INTEGER,
            link INTEGER NOT NULL)""")
    db.execute("""
        CREATE TABLE journal_notes (
            seq INTEGER PRIMARY KEY,
            at INTEGER NOT NULL,
            action TEXT NOT NULL,            -- prune, wipe
            detail TEXT NOT NULL,            -- JSON: which data class, up to when
            removed INTEGER NOT NULL,        -- chained records removed
            link INTEGER NOT NULL)""")
    # The link of a removed record whose successor in the chain is still there.
    db.execute("CREATE TABLE journal_chain_gaps (seq INTEGER PRIMARY KEY, link INTEGER NOT NULL)")
    # Persons wiped while a rule still needed some of their passages: those go when it is done.
    db.execute("CREATE TABLE journal_wipes (person INTEGER PRIMARY KEY, until INTEGER NOT NULL)")
    # The passage an alert is about may be pruned before the alert: no foreign key.
    db.table("alerts").transform(drop_foreign_keys=["passage_id"])
    db.execute("ALTER TABLE alerts ADD COLUMN seq INTEGER")
    db.execute("ALTER TABLE alerts ADD COLUMN link INTEGER")
    db.execute("CREATE UNIQUE INDEX alerts_seq ON alerts (seq)")
    _convert(db)
    db.execute("DROP TABLE passages")
    db.execute("DROP TABLE door_events")
    _create_views(db)


def _rows(db: Database, sql: str) -> list[dict[str, Any]]:
    cursor = db.execute(sql)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _convert(db: Database) -> None:
    book = NameBook(db.conn)
    for name in ("names_epoch", "passage_id", "chain_seq", "chain_link"):
        db.execute("INSERT INTO journal_counters VALUES (?, 0)", [name])
    passages = _rows(db, "SELECT * FROM passages ORDER BY id")
    doors = _rows(db, "SELECT * FROM door_events ORDER BY id")
    alerts = _rows(db, "SELECT * FROM alerts ORDER BY id")
    # Own passages by order_at: never decreasing in recording order, so their places in the
    # chain grow with their ids (JournalQueries.own_passages relies on it).
    own: list[tuple[str, int, str, dict[str, Any]]] = [
        (p["order_at"], 0, chain.Table.PASSAGES, p) for p in passages
        if p["received_at"] is None]
    own += [(d["at"], 1, chain.Table.DOORS, d) for d in doors]
    own += [(a["at"], 2, chain.Table.ALERTS, a) for a in alerts]
    own.sort(key=lambda r: (r[0], r[1], r[3]["id"]))
    places: dict[tuple[str, int], tuple[int, int]] = {}
    prev = chain.GENESIS
    for seq, (_, _, table, row) in enumerate(own, start=1):
        if table == chain.Table.DOORS:
            row["id"] = seq
        prev = chain.link(prev, table, seq, chain.CONTENT[table](row))
        places[(table, id(row))] = (seq, prev)
    # The columns as this migration makes them: later ones add to STORED (NULL here).
    columns = STORED[:STORED.index("link") + 1]
    marks = ", ".join("?" * len(columns))
    for p in passages:
        place = places.get((chain.Table.PASSAGES, id(p)))
        db.execute(f"INSERT INTO passage_log ({', '.join(columns)}) VALUES ({marks})",
                   encode_passage(book, p, passage_id=p["id"], seq=place and place[0],
                                  link=place and place[1])[:len(columns)])
    for d in doors:
        db.execute("INSERT INTO door_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   encode_door(book, d, link=places[(chain.Table.DOORS, id(d))][1]))
    for a in alerts:
        db.execute("UPDATE alerts SET seq = ?, link = ? WHERE id = ?",
                   [*places[(chain.Table.ALERTS, id(a))], a["id"]])
    db.execute("""
        INSERT INTO passage_last SELECT * FROM passage_log p WHERE p.granted = 1
        AND p.person != 0 AND p.id = (SELECT q.id FROM passage_log q WHERE q.person = p.person
            AND q.granted = 1 ORDER BY q.at + q.order_lag DESC, q.id DESC LIMIT 1)""")
    db.execute("INSERT INTO journal_peer_seq SELECT gate, max(origin_seq) FROM passage_log "
               "WHERE origin_seq IS NOT NULL GROUP BY gate")
    db.execute("UPDATE journal_counters SET value = ? WHERE name = 'passage_id'",
               [max((p["id"] for p in passages), default=0)])
    db.execute("UPDATE journal_counters SET value = ? WHERE name = 'chain_seq'", [len(own)])
    db.execute("UPDATE journal_counters SET value = ? WHERE name = 'chain_link'", [prev])


@migrations(name="0003_alerts_folds_escalations_audit")
def _alerts_loop(db: Database) -> None:
    # Kept beside the alerts, not in them: an alert row is written once (its hash covers it);
    # what grows later (a folded count, an escalation) lives here, keyed by the alert's id.
    db.execute(
        """
        CREATE TABLE alert_folds (
            alert_id INTEGER PRIMARY KEY REFERENCES alerts (id),
            fold_key TEXT NOT NULL,               -- kind, reader and person; or the pattern
            count INTEGER NOT NULL DEFAULT 1,     -- occurrences folded into the alert
            first_at TEXT NOT NULL,
            last_at TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX alert_folds_key ON alert_folds (fold_key, alert_id)")
    db.execute(
        """
        CREATE TABLE alert_escalations (
            alert_id INTEGER PRIMARY KEY REFERENCES alerts (id),  -- once per alert
            event_id TEXT NOT NULL UNIQUE,        -- the escalated copy sent again
            at TEXT NOT NULL,
            audience TEXT NOT NULL                -- street_office, grid:ID or webhook:NAME
        )
        """
    )
    db.execute("CREATE INDEX alerts_urgent_open ON alerts (severity, acknowledged_at, at)")
    db.execute(
        """
        CREATE TABLE audit (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            event_id TEXT NOT NULL UNIQUE,
            at TEXT NOT NULL,
            gate_id TEXT NOT NULL,
            kind TEXT NOT NULL,                   -- an AuditKind
            actor TEXT,                           -- the account (or the name typed)
            address TEXT,                         -- the client's address, for panel actions
            target TEXT,                          -- the account, file or reader acted on
            detail TEXT NOT NULL DEFAULT ''
        )
        """
    )
    db.execute("CREATE INDEX audit_at ON audit (at)")


@migrations(name="0004_journal_live_step")
def _live_step(db: Database) -> None:
    # The step of the live code a passage was shown with, kept with the passage itself (in its
    # transaction): the peer message takes it from there, so a code spent while the live-code
    # ledger could not be written is still told to the other gates. NULL: no live code.
    db.execute("ALTER TABLE passage_log ADD COLUMN live_step INTEGER")
    db.execute("ALTER TABLE passage_last ADD COLUMN live_step INTEGER")
    db.execute("DROP VIEW passages")
    _create_passages_view(db, live_step=True)


@migrations(name="0005_journal_recent_in_time_order")
def _recent_in_time_order(db: Database) -> None:
    # The last month once more, clustered by time, for questions about a span of time
    # (gate/journal/recent.py).
    recent.create(db.conn, _PASSAGE_COLUMNS + ",\n    live_step INTEGER")


def migrate(db: Database) -> None:
    """Bring the journal tables up to date."""
    migrations.apply(db)

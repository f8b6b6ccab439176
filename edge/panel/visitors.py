"""The visitor desk: register a visitor and print a time-limited pass signed by a local key.

The local key is trusted by this gate for visitor passes only (scope "visitor"): a guard's
device can let a visitor in, but a pass it signs can never claim to be a resident's.
"""

from __future__ import annotations

import io
import logging
import re
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import segno

from edge.panel.db import PanelDatabase
from edge.panel.errors import PanelError, VisitorError
from gate.clock import Clock
from gate.journal.queries import utc_text
from gate.model import Colour, PersonKind
from gate.passes import (
    SigningKey,
    TrustList,
    encode_pass,
    generate_signing_key,
    load_signing_key,
    write_signing_key,
)
from gate.passes.claims import PassClaims
from gate.passes.qr import ERROR_LEVEL, QUIET_ZONE
from gate.rulebook import Rulebook

log = logging.getLogger(__name__)

HOUSEHOLD = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MIN_VALIDITY = timedelta(minutes=5)
VISITOR_SCOPE = "visitor"


@dataclass(frozen=True)
class VisitorPass:
    """A registered visitor and the pass issued to them."""

    pass_id: str
    person_id: str
    name: str
    host_household_id: str
    grid_id: str | None
    valid_from: str
    valid_until: str
    key_id: str
    created_by: str
    created_at: str
    pass_text: str


def clean_name(name: str) -> str:
    """A visitor's name as printed: single spaces, no control characters, 1-40 characters."""
    cleaned = " ".join("".join(c for c in name if c.isprintable()).split())
    if not 1 <= len(cleaned) <= 40:
        raise VisitorError("the visitor's name needs 1 to 40 characters", "visitorerror.name")
    return cleaned


class VisitorDesk:
    """Registers visitors and signs their passes with the gate's local visitor key."""

    def __init__(self, db: PanelDatabase, *, key_path: Path, rules: Rulebook,
                 compound_id: str, clock: Clock, max_hours: int) -> None:
        self.db = db
        self.key_path = Path(key_path)
        # The rules in force: the platform may replace the gate's trust list while the panel
        # runs, and the visitor key must stay in whichever list is in force.
        self.rules = rules
        self.compound_id = compound_id
        self.clock = clock
        self.max_validity = timedelta(hours=max_hours)
        self._key: SigningKey | None = None
        self._lock = threading.Lock()

    def ensure_key(self) -> str:
        """Create the local key on first use and make sure the trust list in force trusts it
        for visitors; returns its key id."""
        with self._lock:
            if self._key is None:
                try:
                    if not self.key_path.exists():
                        # 0600 from the first byte; never replaces a key.
                        write_signing_key(generate_signing_key(), self.key_path)
                        log.warning("panel: created the local visitor key %s", self.key_path)
                except OSError as exc:
                    raise PanelError(f"cannot create the visitor key {self.key_path}: "
                                     f"{exc.strerror or exc}; set panel.visitor_key to a "
                                     "writable place") from exc
                self._key = load_signing_key(self.key_path)
            key = self._key

            def with_visitor_key(held: TrustList) -> TrustList:
                held.add(key.key_id, key.public_key, scope=VISITOR_SCOPE)
                return held

            known = self.rules.trust.get(key.key_id)
            if known is None or known.scope != VISITOR_SCOPE:
                self.rules.change_trust(with_visitor_key)
            return str(key.key_id)

    def register(self, *, name: str, host_household_id: str, valid_until: datetime,
                 by: str) -> VisitorPass:
        """Register a visitor of a household and sign their pass, valid until `valid_until`."""
        name = clean_name(name)
        host = host_household_id.strip()
        if not HOUSEHOLD.match(host):
            raise VisitorError("the host household id is 1 to 64 letters, digits, '_', '.', '-'",
                               "visitorerror.host")
        if valid_until.tzinfo is None:
            raise VisitorError("the end of validity needs a time zone", "visitorerror.zone")
        now = self.clock.now()
        if valid_until < now + MIN_VALIDITY:
            raise VisitorError("the pass must stay valid for at least 5 minutes",
                               "visitorerror.too_short")
        if valid_until > now + self.max_validity:
            hours = int(self.max_validity.total_seconds() // 3600)
            raise VisitorError(f"a visitor pass may be valid for at most {hours} hours",
                               "visitorerror.too_long", hours=hours)
        key_id = self.ensure_key()
        assert self._key is not None
        claims = PassClaims(
            pass_id=f"vp-{secrets.token_hex(8)}", person_id=f"v-{secrets.token_hex(5)}",
            household_id=host, compound_id=self.compound_id, colour=Colour.GREEN,
            issued_at=now, not_before=now - timedelta(minutes=1), expires_at=valid_until,
            kind=PersonKind.VISITOR, grid_id=self.grid_of(host), host_household_id=host)
        visitor = VisitorPass(
            pass_id=claims.pass_id, person_id=claims.person_id, name=name,
            host_household_id=host, grid_id=claims.grid_id, valid_from=utc_text(now),
            valid_until=utc_text(valid_until), key_id=key_id, created_by=by,
            created_at=utc_text(now), pass_text=encode_pass(claims, self._key))
        with self.db.write() as db:
            db.table("panel_visitors").insert(visitor.__dict__)
        log.info("panel: %s registered visitor %s of household %s until %s", by,
                 visitor.person_id, host, visitor.valid_until)
        return visitor

    def grid_of(self, household_id: str) -> str | None:
        """The grid of a household, as the roster knows it (None when unknown)."""
        row = self.db.conn().execute(
            "SELECT grid_id FROM persons WHERE household_id = ? AND grid_id IS NOT NULL LIMIT 1",
            [household_id]).fetchone()
        return row[0] if row else None

    def household_known(self, household_id: str) -> bool:
        """True when the roster has anybody of this household."""
        return self.db.conn().execute("SELECT 1 FROM persons WHERE household_id = ? LIMIT 1",
                                      [household_id]).fetchone() is not None

    def recent(self, limit: int = 50) -> list[VisitorPass]:
        """The latest visitors, newest first."""
        rows = self.db.conn()["panel_visitors"].rows_where(order_by="created_at DESC",
                                                           limit=limit)
        return [VisitorPass(**row) for row in rows]

    def get(self, pass_id: str) -> VisitorPass | None:
        """One visitor pass, or None."""
        rows = list(self.db.conn()["panel_visitors"].rows_where("pass_id = ?", [pass_id]))
        return VisitorPass(**rows[0]) if rows else None

    def qr_png(self, visitor: VisitorPass, scale: int = 8) -> bytes:
        """The pass as a PNG QR code, ready to print (same code settings as gate.passes.qr)."""
        buffer = io.BytesIO()
        segno.make_qr(visitor.pass_text, error=ERROR_LEVEL, boost_error=True).save(
            buffer, kind="png", scale=scale, border=QUIET_ZONE)
        return buffer.getvalue()

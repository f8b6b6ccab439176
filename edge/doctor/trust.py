"""Trust family: the trust list the gate uses is present, readable, has keys valid now, and is
not older than its maximum age (by the issue time of the platform's document in force, not by
a file's date: trust lists from the platform land in the database and never touch the file)."""

from __future__ import annotations

import base64
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from edge.doctor.context import DoctorContext
from edge.doctor.findings import Finding, fail, ok, warn
from gate.errors import KeyFileError
from gate.passes import Revocations, TrustList, load_signing_key
from gate.store import database_path, gate_key_path
from sync.bodies import TrustSnapshot
from sync.topics import DocumentKind

EXPIRY_WARNING = timedelta(days=30)


def check(context: DoctorContext) -> Iterator[Finding]:
    """The trust list the gate uses (the platform's, held in the database, or else the file),
    its keys, and its age by the issue time of what is in force; the policy's age too."""
    settings = context.settings
    if settings is None:
        return
    path = settings.passes.trust_list
    held = held_documents(database_path(settings.storage.state_dir))
    platform = held.get(DocumentKind.TRUST.value)
    if platform is not None and platform.body:
        trust = _trust_of(platform.body)
        where = f"the platform's trust list (version {platform.version})"
    else:
        try:
            trust = TrustList.load(path)
        except KeyFileError as exc:
            yield fail("trust.list", str(exc),
                       f"copy the platform's trust list (or its signing.pub) to {path}; once "
                       "the broker link works the platform keeps it up to date")
            return
        where = str(path)
    now = context.clock.now()
    valid = [k for k in trust if k.not_after is None or k.not_after > now]
    if not valid:
        yield fail("trust.list", f"{where}: all {len(trust)} key(s) have expired, so every "
                   "pass is refused", "get a current trust list from the platform")
        return
    expiring = [k for k in valid if k.not_after is not None and k.not_after - now < EXPIRY_WARNING]
    if expiring and len(expiring) == len(valid):
        last = max(k.not_after for k in expiring if k.not_after is not None)
        yield warn("trust.list", f"{where}: every key expires by {last:%Y-%m-%d}",
                   "ask the platform for its next key before then")
    else:
        kids = ", ".join(k.key_id for k in valid)
        yield ok("trust.list", f"{where}: {len(valid)} key(s) valid now ({kids})")
    fresh = settings.freshness
    yield _age("trust.fresh", "trust list", platform, fresh.trust_max_age_days, now,
               fresh.when_stale, file=path, linked=settings.mqtt.enabled, others=held)
    policy = held.get(DocumentKind.POLICY.value)
    if policy is not None or settings.mqtt.enabled:
        yield _age("trust.policy_fresh", "policy", policy, fresh.policy_max_age_days, now,
                   fresh.when_stale, file=None, linked=settings.mqtt.enabled, others=held)
    if settings.mqtt.enabled and settings.mqtt.peer_link:
        yield _gate_key(trust, settings.storage.state_dir, settings.gate.gate_id)
    revocations = settings.passes.revocations
    if revocations is not None:
        try:
            count = len(Revocations.load(revocations))
        except KeyFileError as exc:
            yield fail("trust.revocations", str(exc),
                       "create the file (one revoked pass id per line) or unset "
                       "passes.revocations")
            return
        yield ok("trust.revocations", f"{revocations}: {count} revoked pass(es)")


@dataclass(frozen=True)
class HeldDocument:
    """A platform document version the gate holds, as its database says."""

    version: int
    issued_at: datetime | None
    applied_at: datetime | None
    body: str | None


def held_documents(db_path: Path) -> dict[str, HeldDocument]:
    """The platform documents the gate holds (read-only; {} before the gate's first run)."""
    if not db_path.exists():
        return {}
    try:
        with closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)) as db:
            rows = db.execute("SELECT document, version, issued_at, applied_at, body "
                              "FROM versions").fetchall()
    except sqlite3.Error:  # no versions table yet, or unreadable: the database check says
        return {}
    return {document: HeldDocument(int(version), _time(issued), _time(applied), body)
            for document, version, issued, applied, body in rows}


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text).astimezone(UTC) if text else None


def _trust_of(body: str) -> TrustList:
    trust = TrustList()
    for entry in TrustSnapshot.model_validate_json(body).keys:
        public = Ed25519PublicKey.from_public_bytes(base64.b64decode(entry.public_key))
        trust.add(entry.kid, public, entry.scope, entry.not_after, gate_id=entry.gate_id)
    return trust


def _age(check: str, what: str, held: HeldDocument | None, max_days: float, now: datetime,
         when_stale: str, *, file: Path | None, linked: bool,
         others: dict[str, HeldDocument]) -> Finding:
    """How old the document in force is, by its issue time (a file's date only as a fact)."""
    if held is None or held.issued_at is None:
        source = (f"the file {file} (changed {_file_date(file)})" if file is not None
                  else "the configuration file's policy")
        if linked and others:  # the gate has heard the platform, yet holds none of this
            return warn(check, f"the gate holds no {what} from the platform and uses "
                        f"{source}", f"check the broker findings: the gate asks the platform "
                        f"for its {what} at start; the platform should answer")
        return ok(check, f"the gate uses {source}; a file set at install has no maximum age "
                  + ("(the platform's, once it arrives, has)" if linked else
                     "(without the platform link it is kept up to date by hand)"))
    age = now - held.issued_at
    limit = f"maximum {max_days:g} days" if max_days > 0 else "no maximum age set"
    text = (f"the platform's {what} version {held.version}, issued {held.issued_at:%Y-%m-%d} "
            f"({age.days} days ago; {limit})")
    if max_days > 0 and age > timedelta(days=max_days):
        action = ("refuses what it would grant and lets the guard decide"
                  if when_stale == "guard" else "keeps deciding")
        return warn(check, f"{text}: out of date; the gate raises a {what.split()[0]}_stale "
                    f"alert and {action}", f"check the broker findings and have the platform "
                    f"issue its {what} again (a new version, even unchanged)")
    return ok(check, text)


def _file_date(path: Path) -> str:
    try:
        return f"{datetime.fromtimestamp(path.stat().st_mtime, UTC):%Y-%m-%d}"
    except OSError:
        return "date unknown"


def _gate_key(trust: TrustList, state_dir: Path, gate_id: str) -> Finding:
    """This gate's own key (it signs what the gate tells the other gates of its compound)."""
    path = gate_key_path(state_dir)
    if not path.exists():
        return ok("trust.gate_key", f"this gate's key is made on its first run ({path}); "
                  "`gridgate keys gate` then shows it for the platform's trust list")
    try:
        key = load_signing_key(path)
    except KeyFileError as exc:
        return fail("trust.gate_key", str(exc), f"remove {path} (a new key is made at the next "
                    "start) and give the new key to the platform")
    listed = trust.get(key.key_id)
    if listed is not None and listed.scope == "gate" and listed.gate_id == gate_id:
        return ok("trust.gate_key", f"this gate's key {key.key_id} is in the trust list "
                  f"(scope gate, {gate_id})")
    return warn("trust.gate_key", f"this gate's key {key.key_id} is not in the trust list as "
                f"the 'gate' key of {gate_id}: the other gates refuse its passages",
                "`gridgate keys gate` prints the entry: have the platform add it to the "
                "compound's trust list")

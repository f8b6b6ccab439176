"""Applying platform documents: versioned snapshots and deltas, atomic and idempotent.

Each document kind has one version the gate holds (registry `versions`). A snapshot newer
than it replaces the data; a delta applies only on top of exactly its base version. Older or
equal versions (replays, duplicate deliveries) change nothing. A delta whose base is ahead of
what the gate holds reveals a gap: it is kept aside, and a snapshot is requested; the missing
delta or the snapshot closes the gap. Database changes and the new version commit in one
transaction, a short one: every row is prepared before it begins (sync.staging), so the write
lock the journal needs is held for the time SQLite takes, not the time a roster takes to
convert. In-memory effects (policy, trust list, face gallery) follow the commit; the face
gallery gets its encodings in batches of FACE_BATCH persons, one short transaction each.
"""

from __future__ import annotations

import base64
import logging
import threading
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel, TypeAdapter, ValidationError
from sqlite_utils import Database

from gate.clock import Clock
from gate.passes import TrustList, key_id_of
from gate.passes.trust import TrustedKey
from gate.registry import Registry
from gate.rulebook import Rulebook
from gate.store import immediate
from sync.bodies import (
    BODIES,
    MAX_ITEMS,
    Document,
    PermitEntry,
    PermitsDelta,
    PermitsSnapshot,
    PersonEntry,
    PolicySnapshot,
    RevocationsDelta,
    RevocationsSnapshot,
    RosterDelta,
    RosterSnapshot,
    TrustDelta,
    TrustEntry,
    TrustSnapshot,
)
from sync.signing import SIGNER_SCOPES
from sync.slices import TimeSlices
from sync.staging import Changes, stage, swap, unstage, utc_text
from sync.topics import DocumentKind

log = logging.getLogger(__name__)

MAX_PENDING = 64
# Documents whose age the gate judges (gate/freshness.py): what decides passes and rules.
_AGED = (DocumentKind.TRUST, DocumentKind.POLICY)
SNAPSHOT_REQUEST_INTERVAL_S = 30.0
FACE_BATCH = 100  # persons per face-gallery transaction
VALIDATE_BATCH = 50  # roster persons validated per call (about a millisecond)
_PERSON_LIST = TypeAdapter(list[PersonEntry])


class Outcome(StrEnum):
    """What handling one document did."""

    APPLIED = "applied"
    DUPLICATE = "duplicate"  # the version held already
    STALE = "stale"  # older than the version held (a replay)
    GAP = "gap"  # a delta ahead of the version held; snapshot requested
    INVALID = "invalid"  # well signed but unusable; rejected


class FaceSink(Protocol):
    """Where face encodings go (gate.faces.gallery.FaceGallery provides this)."""

    def replace_person(self, person_id: str, encodings: list[list[float]]) -> None: ...

    def remove_person(self, person_id: str) -> bool: ...  # False: it had no encodings


@dataclass(frozen=True)
class Result:
    """The outcome of one document with a short explanation."""

    outcome: Outcome
    detail: str = ""


class DocumentError(ValueError):
    """A signed document that cannot be applied as it stands."""


def _persons(entries: Iterable[PersonEntry]) -> list[tuple[object, ...]]:
    rows: list[tuple[object, ...]] = []
    slices = TimeSlices()
    for e in entries:
        rows.append((e.person_id, e.household_id, e.grid_id, e.name, e.kind.value,
                     e.host_household_id))
        slices()
    return rows


def _parsed_body(doc: Document) -> BaseModel:
    """doc.parsed_body(), the persons of a roster validated VALIDATE_BATCH at a time in time
    slices (sync.slices), so a large roster does not keep the door's thread waiting; raises
    DocumentError."""
    body = doc.body
    kind = BODIES[(doc.document, doc.mode)]
    persons = body.get("persons")
    try:
        if kind is RosterSnapshot and isinstance(persons, list) and len(persons) <= MAX_ITEMS:
            rest = RosterSnapshot.model_validate({**body, "persons": []})
            return rest.model_copy(update={"persons": _checked_persons(persons, "persons")})
        upsert = persons.get("upsert") if isinstance(persons, dict) else None
        if (kind is RosterDelta and isinstance(persons, dict) and isinstance(upsert, list)
                and len(upsert) <= MAX_ITEMS):
            delta = RosterDelta.model_validate({**body, "persons": {**persons, "upsert": []}})
            checked = _checked_persons(upsert, "persons.upsert")
            return delta.model_copy(update={
                "persons": delta.persons.model_copy(update={"upsert": checked})})
        return doc.parsed_body()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise DocumentError(f"body {where}: {first['msg']}") from None


def _checked_persons(persons: list[Any], where: str) -> list[PersonEntry]:
    checked: list[PersonEntry] = []
    slices = TimeSlices()
    for start in range(0, len(persons), VALIDATE_BATCH):
        try:
            checked += _PERSON_LIST.validate_python(persons[start:start + VALIDATE_BATCH])
        except ValidationError as exc:
            first = exc.errors()[0]
            index, *inner = first["loc"]
            at = ".".join(str(p) for p in (where, start + int(index), *inner))
            raise DocumentError(f"body {at}: {first['msg']}") from None
        slices()
    return checked


def _permits(entries: Iterable[PermitEntry]) -> list[tuple[object, ...]]:
    return [(e.person_id, e.colour.value, utc_text(e.valid_from), utc_text(e.valid_until),
             utc_text(e.observation_until), e.reason, e.issuer) for e in entries]


def _blobs(encodings: list[list[float]]) -> list[bytes]:
    return [array("d", e).tobytes() for e in encodings]  # as Registry.set_face_encodings


def _trusted(entry: TrustEntry) -> TrustedKey:
    public = Ed25519PublicKey.from_public_bytes(base64.b64decode(entry.public_key, validate=True))
    if key_id_of(public) != entry.kid:
        raise ValueError(f"kid {entry.kid} does not match its public key ({key_id_of(public)})")
    return TrustList().add(entry.kid, public, entry.scope, entry.not_after,
                           gate_id=entry.gate_id)


class Documents:
    """Holds the version logic and applies documents to the registry and the gate."""

    def __init__(self, db: Database, *, compound_id: str, clock: Clock,
                 rules: Rulebook | None = None, faces: FaceSink | None = None,
                 request_snapshot: Callable[[DocumentKind, int | None, str], None] | None = None,
                 on_change: Callable[[], None] | None = None) -> None:
        self.db = db
        self.registry = Registry(db)
        self.compound_id = compound_id
        self.clock = clock
        self.rules = rules  # the trust list and policy in force; None: nothing in memory
        self.faces = faces  # the face gallery roster encodings go to, once attached
        self.request_snapshot = request_snapshot
        self.on_change = on_change
        self._pending: dict[DocumentKind, dict[int, Document]] = {}
        self._requested: dict[DocumentKind, float] = {}
        self._lock = threading.RLock()
        self._after: list[Callable[[], None]] = []

    def versions(self) -> dict[str, int]:
        """Versions held, by document kind."""
        return self.registry.versions()

    def handle(self, doc: Document) -> Result:
        """Apply, ignore or hold back one verified document."""
        with self._lock:
            if doc.compound_id != self.compound_id:
                return Result(Outcome.INVALID, f"for compound {doc.compound_id}")
            held = self.registry.version(doc.document.value) or 0
            if doc.version == held:
                return Result(Outcome.DUPLICATE, f"version {held} held already")
            if doc.version < held:
                return Result(Outcome.STALE, f"version {doc.version} is older than {held}")
            if doc.mode == "delta" and doc.base_version != held:
                return self._gap(doc, held)
            result = self._apply(doc)
            if result.outcome is Outcome.APPLIED:
                self._drain(doc.document)
            return result

    def _gap(self, doc: Document, held: int) -> Result:
        pending = self._pending.setdefault(doc.document, {})
        assert doc.base_version is not None
        if doc.base_version > held and len(pending) < MAX_PENDING:
            pending[doc.base_version] = doc
        detail = f"delta {doc.base_version}->{doc.version} but version {held} held"
        self._ask_snapshot(doc.document, held or None, detail)
        return Result(Outcome.GAP, detail)

    def _ask_snapshot(self, kind: DocumentKind, held: int | None, reason: str) -> None:
        now = self.clock.monotonic()
        last = self._requested.get(kind)
        if last is not None and now - last < SNAPSHOT_REQUEST_INTERVAL_S:
            return
        self._requested[kind] = now
        log.log(logging.INFO if held is None else logging.WARNING,
                "%s: %s; asking the platform for a snapshot", kind.value, reason)
        if self.request_snapshot is not None:
            self.request_snapshot(kind, held, reason)

    def request_missing(self) -> None:
        """Ask for a snapshot of every document the gate holds no version of."""
        held = self.registry.versions()
        for kind in DocumentKind:
            if kind.value not in held:
                self._ask_snapshot(kind, None, "no version held")

    def _drain(self, kind: DocumentKind) -> None:
        pending = self._pending.get(kind, {})
        while True:
            held = self.registry.version(kind.value) or 0
            for base in [b for b, d in pending.items() if d.version <= held]:
                del pending[base]
            doc = pending.pop(held, None)
            if doc is None or self._apply(doc).outcome is not Outcome.APPLIED:
                return

    def _apply(self, doc: Document) -> Result:
        try:
            body = _parsed_body(doc)
        except DocumentError as exc:
            return Result(Outcome.INVALID, str(exc))
        self._after = []
        changes = Changes()
        try:
            stored = self._plan(doc, body, changes)
        except DocumentError as exc:
            return Result(Outcome.INVALID, str(exc))
        if self.rules is not None and doc.document in _AGED:  # its age is judged from now on
            rules, kind = self.rules, doc.document.value
            self._after.append(lambda: rules.set_issued(kind, doc.version, doc.issued_at))
        changes.version = (doc.document.value, doc.version, utc_text(doc.issued_at),
                           utc_text(self.clock.now()), stored)
        try:
            stage(self.db, changes)
            with immediate(self.db):
                swap(self.db, changes)
        finally:
            unstage(self.db)
        for effect in self._after:
            try:
                effect()
            except Exception:  # the registry is committed; a failing gallery is logged
                log.exception("applying %s version %d in memory failed", doc.document.value,
                              doc.version)
        log.info("applied %s %s version %d", doc.document.value, doc.mode, doc.version)
        if self.on_change is not None:
            self.on_change()
        return Result(Outcome.APPLIED, f"{doc.mode} version {doc.version}")

    def _plan(self, doc: Document, body: BaseModel, changes: Changes) -> str | None:
        """The database changes of one document, prepared before its transaction; returns the
        body to store with the version."""
        if isinstance(body, RosterSnapshot):
            before = self._face_persons()
            changes.clear |= {"persons", "households", "grids"}
            changes.clear_faces = True
            changes.add("grids", ((g.grid_id, g.name) for g in body.grids))
            changes.add("households", ((h.household_id, h.grid_id, h.name)
                                       for h in body.households))
            changes.add("persons", _persons(body.persons))
            faces = {p.person_id: p.face_encodings for p in body.persons if p.face_encodings}
            slices = TimeSlices()
            for person_id, encodings in faces.items():
                changes.faces[person_id] = _blobs(encodings)
                slices()
            self._faces(faces, before - set(faces))
        elif isinstance(body, RosterDelta):
            changes.add("grids", ((g.grid_id, g.name) for g in body.grids.upsert))
            changes.drop("grids", body.grids.remove)
            changes.add("households", ((h.household_id, h.grid_id, h.name)
                                       for h in body.households.upsert))
            changes.drop("households", body.households.remove)
            changes.add("persons", _persons(body.persons.upsert))
            changes.drop("persons", body.persons.remove)
            faces = {}
            gone = set(body.persons.remove)
            for p in body.persons.upsert:
                if p.face_encodings is not None:
                    changes.faces[p.person_id] = _blobs(p.face_encodings)
                    if p.face_encodings:
                        faces[p.person_id] = p.face_encodings
                    else:
                        faces.pop(p.person_id, None)
                        gone.add(p.person_id)
            self._faces(faces, gone)
        elif isinstance(body, PermitsSnapshot):
            changes.clear.add("permits")
            changes.add("permits", _permits(body.permits))
        elif isinstance(body, PermitsDelta):
            changes.add("permits", _permits(body.upsert))
            changes.drop("permits", body.remove)
        elif isinstance(body, RevocationsSnapshot):
            now = utc_text(self.clock.now())
            changes.clear.add("revoked_passes")
            changes.add("revoked_passes", ((pass_id, now) for pass_id in body.pass_ids))
        elif isinstance(body, RevocationsDelta):
            now = utc_text(self.clock.now())
            changes.add("revoked_passes", ((pass_id, now) for pass_id in body.add))
            changes.drop("revoked_passes", body.remove)
        elif isinstance(body, TrustSnapshot | TrustDelta):
            return self._trust(body)
        elif isinstance(body, PolicySnapshot):
            policy = body.policy
            rules = self.rules
            if rules is not None:
                self._after.append(lambda: rules.set_policy(policy))
            return body.model_dump_json()
        return None

    def _face_persons(self) -> set[str]:
        """Persons with stored face encodings (read only when a gallery is attached)."""
        if self.faces is None:
            return set()
        return {row[0] for row in self.db.execute(
            "SELECT DISTINCT person_id FROM face_encodings")}

    def _faces(self, replace: dict[str, list[list[float]]], remove: set[str]) -> None:
        sink = self.faces
        if sink is None:
            return

        def effect() -> None:
            _replace(sink, replace, sorted(remove - set(replace)))

        self._after.append(effect)

    def _trust(self, body: TrustSnapshot | TrustDelta) -> str:
        if isinstance(body, TrustSnapshot):
            entries = list(body.keys)
        else:
            stored = self.registry.document_body(DocumentKind.TRUST.value)
            if stored is None:
                raise DocumentError("a trust delta needs a trust snapshot first")
            current = {e.kid: e for e in TrustSnapshot.model_validate_json(stored).keys}
            for kid in body.remove:
                current.pop(kid, None)
            current.update({e.kid: e for e in body.add})
            entries = list(current.values())
        try:
            keys = [_trusted(e) for e in entries]
        except Exception as exc:  # bad base64, wrong length, kid not matching its key
            raise DocumentError(f"trust list entry is invalid: {exc}") from None
        now = self.clock.now()
        if not any(k.scope in SIGNER_SCOPES and (k.not_after is None or k.not_after > now)
                   for k in keys):
            raise DocumentError("the trust list would hold no key that may sign platform data "
                                "now (none, or all past not_after); refused so the gate cannot "
                                "be locked out")
        if self.rules is not None:
            self._after.append(lambda: self._install_trust(keys))
        return TrustSnapshot(keys=entries).model_dump_json()

    def _install_trust(self, keys: list[TrustedKey]) -> None:
        # The platform speaks for its own keys; keys local to this gate (the panel's visitor
        # key) are not the platform's to remove.
        if self.rules is not None:
            self.rules.change_trust(
                lambda held: TrustList([k for k in held if k.scope == "visitor"] + keys))

    def restore(self) -> None:
        """At start: put the stored policy and trust list back in force, with their ages."""
        if self.rules is not None:
            for kind in _AGED:
                row = self.db.execute("SELECT version, issued_at FROM versions WHERE document "
                                      "= ? AND body IS NOT NULL", [kind.value]).fetchone()
                if row is not None and row[1]:
                    self.rules.set_issued(kind.value, int(row[0]),
                                          datetime.fromisoformat(row[1]))
        policy = self.registry.document_body(DocumentKind.POLICY.value)
        if policy and self.rules is not None:
            self.rules.set_policy(PolicySnapshot.model_validate_json(policy).policy)
        trust = self.registry.document_body(DocumentKind.TRUST.value)
        if trust and self.rules is not None:
            self._install_trust([_trusted(e) for e in
                                 TrustSnapshot.model_validate_json(trust).keys])

    def resync_faces(self) -> int:
        """Hand every stored face encoding to the face gallery; returns persons sent."""
        sink = self.faces
        if sink is None:
            return 0
        faces = self.registry.face_encodings()
        _replace(sink, faces)
        return len(faces)


def _replace(sink: FaceSink, faces: dict[str, list[list[float]]],
             remove: list[str] | None = None) -> None:
    """Hand encodings over (and persons' removals), FACE_BATCH persons a call when the gallery
    can take many (FaceGallery can: an empty list removes a person): each call is a
    transaction on the gate's database, so none holds the write lock for long. The registry
    is committed already; a batch that fails is logged by the caller and a restart resyncs."""
    many = getattr(sink, "replace_many", None)
    if many is None:
        for person_id in remove or []:
            sink.remove_person(person_id)
        for person_id, encodings in faces.items():
            sink.replace_person(person_id, encodings)
        return
    items: list[tuple[str, list[list[float]]]] = [(p, []) for p in remove or []]
    items += faces.items()
    for start in range(0, len(items), FACE_BATCH):
        many(dict(items[start:start + FACE_BATCH]))

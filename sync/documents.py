"""Applying platform documents: versioned snapshots and deltas, atomic and idempotent.

Each document kind has one version the gate holds (registry `versions`). A snapshot newer
than it replaces the data; a delta applies only on top of exactly its base version. Older or
equal versions (replays, duplicate deliveries) change nothing. A delta whose base is ahead of
what the gate holds reveals a gap: it is kept aside, and a snapshot is requested; the missing
delta or the snapshot closes the gap. Database changes and the new version commit in one
transaction; in-memory effects (policy, trust list, face gallery) follow the commit.
"""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel, ValidationError
from sqlite_utils import Database

from gate.clock import Clock
from gate.model import Permit, Person
from gate.passes import TrustList, key_id_of
from gate.passes.trust import TrustedKey
from gate.registry import Registry
from gate.rulebook import Rulebook
from gate.store import immediate
from sync.bodies import (
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
from sync.topics import DocumentKind

log = logging.getLogger(__name__)

MAX_PENDING = 64
SNAPSHOT_REQUEST_INTERVAL_S = 30.0


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


def _person(entry: PersonEntry) -> Person:
    return Person(person_id=entry.person_id, household_id=entry.household_id,
                  grid_id=entry.grid_id, name=entry.name, kind=entry.kind,
                  host_household_id=entry.host_household_id)


def _permit(entry: PermitEntry) -> Permit:
    return Permit(person_id=entry.person_id, colour=entry.colour, valid_from=entry.valid_from,
                  valid_until=entry.valid_until, observation_until=entry.observation_until,
                  reason=entry.reason, issuer=entry.issuer, source="registry")


def _trusted(entry: TrustEntry) -> TrustedKey:
    public = Ed25519PublicKey.from_public_bytes(base64.b64decode(entry.public_key, validate=True))
    if key_id_of(public) != entry.kid:
        raise ValueError(f"kid {entry.kid} does not match its public key ({key_id_of(public)})")
    return TrustList().add(entry.kid, public, entry.scope, entry.not_after)


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
            body = doc.parsed_body()
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            return Result(Outcome.INVALID, f"body {where}: {first['msg']}")
        self._after = []
        try:
            with immediate(self.db):
                stored = self._write(doc, body)
                self.registry.set_version(doc.document.value, doc.version,
                                          issued_at=doc.issued_at, applied_at=self.clock.now(),
                                          body=stored)
        except DocumentError as exc:
            return Result(Outcome.INVALID, str(exc))
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

    def _write(self, doc: Document, body: BaseModel) -> str | None:
        """Database changes of one document (inside the transaction); the body to store."""
        reg = self.registry
        if isinstance(body, RosterSnapshot):
            before = set(reg.face_encodings())
            reg.clear("persons", "households", "grids", "face_encodings")
            reg.put_grids(g.model_dump() for g in body.grids)
            reg.put_households(h.model_dump() for h in body.households)
            reg.put_persons(_person(p) for p in body.persons)
            faces = {p.person_id: p.face_encodings for p in body.persons if p.face_encodings}
            for person_id, encodings in faces.items():
                reg.set_face_encodings(person_id, encodings)
            self._faces(faces, before - set(faces))
        elif isinstance(body, RosterDelta):
            reg.put_grids(g.model_dump() for g in body.grids.upsert)
            reg.remove("grids", body.grids.remove)
            reg.put_households(h.model_dump() for h in body.households.upsert)
            reg.remove("households", body.households.remove)
            reg.put_persons(_person(p) for p in body.persons.upsert)
            reg.remove("persons", body.persons.remove)
            faces = {}
            gone = set(body.persons.remove)
            for p in body.persons.upsert:
                if p.face_encodings is not None:
                    reg.set_face_encodings(p.person_id, p.face_encodings)
                    if p.face_encodings:
                        faces[p.person_id] = p.face_encodings
                    else:
                        gone.add(p.person_id)
            self._faces(faces, gone)
        elif isinstance(body, PermitsSnapshot):
            reg.clear("permits")
            reg.put_permits(_permit(p) for p in body.permits)
        elif isinstance(body, PermitsDelta):
            reg.put_permits(_permit(p) for p in body.upsert)
            reg.remove("permits", body.remove)
        elif isinstance(body, RevocationsSnapshot):
            reg.clear("revoked_passes")
            reg.revoke(body.pass_ids, self.clock.now())
        elif isinstance(body, RevocationsDelta):
            reg.revoke(body.add, self.clock.now())
            reg.remove("revoked_passes", body.remove)
        elif isinstance(body, TrustSnapshot | TrustDelta):
            return self._trust(body)
        elif isinstance(body, PolicySnapshot):
            policy = body.policy
            rules = self.rules
            if rules is not None:
                self._after.append(lambda: rules.set_policy(policy))
            return body.model_dump_json()
        return None

    def _faces(self, replace: dict[str, list[list[float]]], remove: set[str]) -> None:
        sink = self.faces
        if sink is None:
            return

        def effect() -> None:
            for person_id in sorted(remove - set(replace)):
                sink.remove_person(person_id)
            _replace(sink, replace)

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
        """At start: put the stored policy and trust list back in force."""
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


def _replace(sink: FaceSink, faces: dict[str, list[list[float]]]) -> None:
    """Hand encodings over, in one call when the gallery can take many (FaceGallery can)."""
    many = getattr(sink, "replace_many", None)
    if many is not None:
        if faces:
            many(faces)
        return
    for person_id, encodings in faces.items():
        sink.replace_person(person_id, encodings)

"""Platform documents as pydantic models: the envelope and the body of each document kind.

A document is a full snapshot or a delta from `base_version` to `version`. Deltas list
`upsert` and `remove` per collection; snapshots list everything. Policy comes as snapshots only.
"""

from __future__ import annotations

from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from gate.faces.gallery import MAX_ENCODINGS_PER_PERSON, check_encoding
from gate.model import Colour, PersonKind
from gate.passes.trust import GATE_SCOPE, SCOPES
from gate.policy import Policy
from sync.topics import DocumentKind

Id = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")]
Text = Annotated[str, StringConstraints(max_length=200)]
MAX_ITEMS = 200_000
T = TypeVar("T")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GridEntry(_Strict):
    grid_id: Id
    name: Text = ""


class HouseholdEntry(_Strict):
    household_id: Id
    grid_id: Id | None = None
    name: Text = ""


class PersonEntry(_Strict):
    person_id: Id
    household_id: Id
    grid_id: Id | None = None
    name: Text | None = None
    kind: PersonKind = PersonKind.RESIDENT
    host_household_id: Id | None = None
    face_encodings: list[list[float]] | None = Field(
        None, max_length=MAX_ENCODINGS_PER_PERSON,  # the gallery's own limit
        description="128-float face encodings; in a delta, null leaves the faces unchanged.")

    @field_validator("face_encodings")
    @classmethod
    def _check_encodings(cls, value: list[list[float]] | None) -> list[list[float]] | None:
        for index, encoding in enumerate(value or []):
            check_encoding(encoding, f"encoding {index}")  # the gallery's own rule
        return value


class PermitEntry(_Strict):
    person_id: Id
    colour: Colour
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime | None = None
    observation_until: AwareDatetime | None = None
    reason: Text = ""
    issuer: Text = ""


class TrustEntry(_Strict):
    kid: str = Field(..., pattern=r"^[0-9a-f]{16}$")
    public_key: str = Field(..., min_length=40, max_length=60)
    scope: str = "all"
    gate_id: Id | None = Field(None, description="Scope 'gate': the gate the key speaks for.")
    not_after: AwareDatetime | None = None

    @field_validator("scope")
    @classmethod
    def _check_scope(cls, value: str) -> str:
        if value not in SCOPES:
            raise ValueError(f"scope must be one of {SCOPES}")
        return value

    @model_validator(mode="after")
    def _gate_keys_name_their_gate(self) -> TrustEntry:
        if (self.scope == GATE_SCOPE) != (self.gate_id is not None):
            raise ValueError("a key of scope 'gate' names its gate_id, and only such a key")
        return self


class Changes(_Strict, Generic[T]):
    upsert: list[T] = Field(default_factory=list, max_length=MAX_ITEMS)
    remove: list[Id] = Field(default_factory=list, max_length=MAX_ITEMS)


class RosterSnapshot(_Strict):
    grids: list[GridEntry] = Field(default_factory=list, max_length=MAX_ITEMS)
    households: list[HouseholdEntry] = Field(default_factory=list, max_length=MAX_ITEMS)
    persons: list[PersonEntry] = Field(default_factory=list, max_length=MAX_ITEMS)


class RosterDelta(_Strict):
    grids: Changes[GridEntry] = Field(default_factory=Changes[GridEntry])
    households: Changes[HouseholdEntry] = Field(default_factory=Changes[HouseholdEntry])
    persons: Changes[PersonEntry] = Field(default_factory=Changes[PersonEntry])


class PermitsSnapshot(_Strict):
    permits: list[PermitEntry] = Field(default_factory=list, max_length=MAX_ITEMS)


class PermitsDelta(Changes[PermitEntry]):
    pass


class RevocationsSnapshot(_Strict):
    pass_ids: list[Id] = Field(default_factory=list, max_length=MAX_ITEMS)


class RevocationsDelta(_Strict):
    add: list[Id] = Field(default_factory=list, max_length=MAX_ITEMS)
    remove: list[Id] = Field(default_factory=list, max_length=MAX_ITEMS)


class TrustSnapshot(_Strict):
    keys: list[TrustEntry] = Field(..., min_length=1, max_length=100)


class TrustDelta(_Strict):
    add: list[TrustEntry] = Field(default_factory=list, max_length=100)
    remove: list[str] = Field(default_factory=list, max_length=100)


class PolicySnapshot(_Strict):
    policy: Policy


BODIES: dict[tuple[DocumentKind, str], type[BaseModel]] = {
    (DocumentKind.ROSTER, "snapshot"): RosterSnapshot,
    (DocumentKind.ROSTER, "delta"): RosterDelta,
    (DocumentKind.PERMITS, "snapshot"): PermitsSnapshot,
    (DocumentKind.PERMITS, "delta"): PermitsDelta,
    (DocumentKind.REVOCATIONS, "snapshot"): RevocationsSnapshot,
    (DocumentKind.REVOCATIONS, "delta"): RevocationsDelta,
    (DocumentKind.TRUST, "snapshot"): TrustSnapshot,
    (DocumentKind.TRUST, "delta"): TrustDelta,
    (DocumentKind.POLICY, "snapshot"): PolicySnapshot,
}


class Document(_Strict):
    """A signed document's payload: which data, which version, and the body."""

    type: Literal["document"] = "document"
    document: DocumentKind
    mode: Literal["snapshot", "delta"]
    compound_id: Id
    version: int = Field(..., ge=1, le=2**62)
    base_version: int | None = Field(None, ge=0, le=2**62)
    issued_at: AwareDatetime
    body: dict[str, Any]

    @model_validator(mode="after")
    def _check(self) -> Document:
        if self.mode == "delta":
            if self.base_version is None or self.base_version >= self.version:
                raise ValueError("a delta needs base_version lower than version")
        elif self.base_version is not None:
            raise ValueError("a snapshot has no base_version")
        if (self.document, self.mode) not in BODIES:
            raise ValueError(f"{self.document.value} comes as snapshots only")
        return self

    def parsed_body(self) -> BaseModel:
        """The body validated against its kind (raises pydantic.ValidationError)."""
        return BODIES[(self.document, self.mode)].model_validate(self.body)

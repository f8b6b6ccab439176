"""Which keys the gate trusts (a trust list with rotation and scopes) and which passes are revoked.

Trust list JSON:

    {"version": 1,
     "keys": [{"kid": "3f2a...16 hex", "public_key": "<base64 of the 32 raw bytes>",
               "scope": "all" | "visitor" | "platform" | "gate",
               "gate_id": "gate-east" (scope "gate" only),
               "not_after": "2027-01-01T00:00:00+00:00" | null}]}

"visitor" keys (e.g. the panel's local key) may sign visitor passes only; "platform" keys sign
the platform's documents and commands (sync/) and no pass at all; "all" keys may sign both.
"gate" keys are the gates' own (state_dir/keys/gate.key): each signs the passages its gate
tells the other gates of the compound (sync/peers.py) for the one `gate_id` it names, and
nothing else: no pass, no document, no command. A single PEM public key file (`signing.pub`)
is also accepted as a trust list of one key with scope "all".
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gate.errors import KeyFileError
from gate.files import write_atomic
from gate.passes.keys import key_id_of, public_key_from_pem, raw_public

SCOPES = ("all", "visitor", "platform", "gate")
PASS_SCOPES = frozenset({"all", "visitor"})  # the scopes whose keys may sign a pass at all
GATE_SCOPE = "gate"


@dataclass(frozen=True)
class TrustedKey:
    """A public key the gate accepts signatures from."""

    key_id: str
    public_key: Ed25519PublicKey
    scope: str = "all"
    not_after: datetime | None = None
    gate_id: str | None = None  # scope "gate": the one gate this key speaks for


class TrustList:
    """Key id -> trusted key; several keys at once so the platform can rotate."""

    def __init__(self, keys: Iterable[TrustedKey] = ()) -> None:
        self._keys: dict[str, TrustedKey] = {}
        for key in keys:
            self._keys[key.key_id] = key

    def add(self, key_id: str | None, public_key: Ed25519PublicKey, scope: str = "all",
            not_after: datetime | None = None, *, gate_id: str | None = None) -> TrustedKey:
        """Trust a public key (its id is computed when not given); a "gate" key names the
        gate it speaks for, and only a gate key does."""
        if scope not in SCOPES:
            raise KeyFileError(f"scope must be one of {SCOPES}, not {scope!r}")
        if gate_id is not None and not isinstance(gate_id, str):
            raise KeyFileError(f"gate_id must be text, not {type(gate_id).__name__}")
        if scope == GATE_SCOPE and not gate_id:
            raise KeyFileError("a key of scope 'gate' needs the gate_id it speaks for")
        if scope != GATE_SCOPE and gate_id is not None:
            raise KeyFileError(f"gate_id belongs to keys of scope 'gate', not {scope!r}")
        key = TrustedKey(key_id or key_id_of(public_key), public_key, scope, not_after, gate_id)
        self._keys[key.key_id] = key
        return key

    def get(self, key_id: str) -> TrustedKey | None:
        return self._keys.get(key_id)

    def __iter__(self) -> Iterator[TrustedKey]:
        return iter(self._keys.values())

    def __len__(self) -> int:
        return len(self._keys)

    def merge(self, other: TrustList) -> TrustList:
        """A new trust list with the keys of both; `other` wins on equal ids."""
        return TrustList([*self, *other])

    def gate_key(self, gate_id: str) -> TrustedKey | None:
        """A key of scope "gate" that speaks for `gate_id` (None when the list has none)."""
        return next((k for k in self if k.scope == GATE_SCOPE and k.gate_id == gate_id), None)

    def to_json(self) -> dict[str, object]:
        return {"version": 1, "keys": [entry_json(k) for k in self]}

    def save(self, path: Path | str) -> None:
        """Write atomically: a reader never sees half a trust list."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(self.to_json(), indent=1).encode(), mode=0o644)

    @classmethod
    def load(cls, path: Path | str) -> TrustList:
        """Read a JSON trust list or a single PEM public key."""
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise KeyFileError(f"cannot read trust list {path}: {exc.strerror or exc}; "
                               "set passes.trust_list to the platform's trust list") from None
        if data.lstrip().startswith(b"-----BEGIN"):
            trust = cls()
            trust.add(None, public_key_from_pem(data, str(path)))
            return trust
        return cls.from_json(data, str(path))

    @classmethod
    def from_json(cls, data: bytes | str, source: str = "<trust list>") -> TrustList:
        """Parse the JSON form; every problem names the entry."""
        try:
            document = json.loads(data)
            entries = document["keys"]
        except (ValueError, TypeError, KeyError) as exc:
            raise KeyFileError(f"{source} is not a trust list (JSON with 'keys'): {exc}") from None
        if not isinstance(entries, list):
            raise KeyFileError(f"{source}: 'keys' must be a list")
        trust = cls()
        for index, entry in enumerate(entries):
            try:
                raw = base64.b64decode(entry["public_key"], validate=True)
                public = Ed25519PublicKey.from_public_bytes(raw)
                not_after = entry.get("not_after")
                key = trust.add(entry.get("kid"), public, entry.get("scope", "all"),
                                datetime.fromisoformat(not_after) if not_after else None,
                                gate_id=entry.get("gate_id"))
            except (KeyError, TypeError, ValueError, binascii.Error) as exc:
                raise KeyFileError(f"{source}: keys[{index}] is invalid: {exc}") from None
            if key.key_id != key_id_of(public):
                raise KeyFileError(f"{source}: keys[{index}] kid {key.key_id} does not match "
                                   f"its public key ({key_id_of(public)})")
        return trust


def entry_json(key: TrustedKey) -> dict[str, object]:
    """One key as a trust list entry (the JSON above; `gate_id` only for gate keys)."""
    entry: dict[str, object] = {
        "kid": key.key_id, "public_key": base64.b64encode(raw_public(key.public_key)).decode(),
        "scope": key.scope}
    if key.gate_id is not None:
        entry["gate_id"] = key.gate_id
    entry["not_after"] = key.not_after.isoformat() if key.not_after else None
    return entry


class Revocations:
    """Revoked pass ids."""

    def __init__(self, pass_ids: Iterable[str] = ()) -> None:
        self._ids = set(pass_ids)

    def is_revoked(self, pass_id: str) -> bool:
        return pass_id in self._ids

    def add(self, pass_id: str) -> None:
        self._ids.add(pass_id)

    def __len__(self) -> int:
        return len(self._ids)

    @classmethod
    def load(cls, path: Path | str) -> Revocations:
        """One pass id per line; blank lines and '#' comments ignored."""
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise KeyFileError(f"cannot read revocation list {path}: {exc}") from None
        return cls(s for line in lines if (s := line.split("#", 1)[0].strip()))

"""The rules in force at one gate: the trust list, the local revocation list and the policy.

One object, shared by everything that reads or replaces them: the checkpoint verifies passes
and decides with them, the platform link replaces the trust list and the policy when signed
documents arrive, and the guards' visitor desk adds its own key to the trust list. Readers see
either the old or the new rules, never a mix: each property returns one consistent object.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from gate.model import Decision
from gate.passes.trust import Revocations, TrustList
from gate.policy import Policy
from gate.reasons import RULES_STALE_REASON
from gate.vocabulary import Rule


class Rulebook:
    """The trust list, revocations and policy this gate decides by; replaced whole, read often."""

    def __init__(self, *, trust: TrustList, policy: Policy,
                 revocations: Revocations | None = None) -> None:
        self._lock = threading.Lock()
        self._trust = trust
        self._policy = policy
        self._revocations = revocations if revocations is not None else Revocations()
        # Of a platform document in force: its version and when the platform issued it (files
        # set at install have neither). gate/freshness.py judges their age.
        self._issued: dict[str, tuple[int, datetime]] = {}
        self._stale: dict[str, str] = {}  # document -> what to do while it is out of date

    @property
    def trust(self) -> TrustList:
        """The keys passes, documents and commands may be signed with."""
        return self._trust

    @property
    def policy(self) -> Policy:
        """The colour rules, quotas and windows decisions follow."""
        return self._policy

    @property
    def revocations(self) -> Revocations:
        """Pass ids revoked by the local revocation file (the platform's live in the registry)."""
        return self._revocations

    def set_trust(self, trust: TrustList) -> None:
        """Put a new trust list in force (the platform rotated its keys)."""
        with self._lock:
            self._trust = trust

    def change_trust(self, change: Callable[[TrustList], TrustList]) -> TrustList:
        """Put `change(copy of the list in force)` in force, one writer at a time: the platform
        link and the visitor desk may both change it at once, and neither may lose the other's
        key. The list in force is never edited in place, so readers never see it change."""
        with self._lock:
            self._trust = change(TrustList(self._trust))
            return self._trust

    def set_policy(self, policy: Policy) -> None:
        """Put a new policy in force (a signed policy document arrived)."""
        with self._lock:
            self._policy = policy

    def set_issued(self, document: str, version: int, issued_at: datetime) -> None:
        """Say which platform document ("trust" or "policy") is in force and when it was
        issued (sync/documents.py, when it applies or restores one)."""
        with self._lock:
            self._issued[document] = (version, issued_at)

    def issued(self, document: str) -> tuple[int, datetime] | None:
        """Version and issue time of the platform document in force; None for a local file."""
        return self._issued.get(document)

    def mark_stale(self, document: str, action: str | None) -> None:
        """Set ("alert" or "guard") or clear (None) what the gate does while `document` is
        older than its maximum age (gate/freshness.py)."""
        with self._lock:
            if action is None:
                self._stale.pop(document, None)
            else:
                self._stale[document] = action

    @property
    def stale(self) -> dict[str, str]:
        """Documents out of date, with what the gate does about each."""
        return dict(self._stale)

    def fallback(self, decision: Decision) -> Decision:
        """The decision as the rules' age allows: with a document out of date and the gate
        set to let the guard decide, a grant becomes a refusal the guard can override."""
        if not decision.granted or "guard" not in self._stale.values():
            return decision
        zh, en = RULES_STALE_REASON
        return replace(decision, granted=False, rule=Rule.RULES_STALE, reason_zh=zh,
                       reason_en=en)

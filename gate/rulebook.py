"""The rules in force at one gate: the trust list, the local revocation list and the policy.

One object, shared by everything that reads or replaces them: the checkpoint verifies passes
and decides with them, the platform link replaces the trust list and the policy when signed
documents arrive, and the guards' visitor desk adds its own key to the trust list. Readers see
either the old or the new rules, never a mix: each property returns one consistent object.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from gate.passes.trust import Revocations, TrustList
from gate.policy import Policy


class Rulebook:
    """The trust list, revocations and policy this gate decides by; replaced whole, read often."""

    def __init__(self, *, trust: TrustList, policy: Policy,
                 revocations: Revocations | None = None) -> None:
        self._lock = threading.Lock()
        self._trust = trust
        self._policy = policy
        self._revocations = revocations if revocations is not None else Revocations()

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

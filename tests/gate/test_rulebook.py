"""The rules in force: replaced whole, never edited in place, and no writer loses another's key."""

from __future__ import annotations

import threading

from gate.passes import TrustList, generate_signing_key
from gate.policy import Policy
from gate.rulebook import Rulebook
from tests.gate.passes_support import PLATFORM, trusting


def test_two_writers_at_once_keep_every_key_and_readers_see_no_change() -> None:
    rules = Rulebook(trust=trusting(PLATFORM), policy=Policy())
    before = rules.trust
    keys = [generate_signing_key() for _ in range(120)]

    def add(chunk: list) -> None:  # type: ignore[type-arg]
        for key in chunk:
            def with_key(held: TrustList, key=key) -> TrustList:  # type: ignore[no-untyped-def]
                held.add(key.key_id, key.public_key, scope="visitor")
                return held

            rules.change_trust(with_key)

    threads = [threading.Thread(target=add, args=(keys[i::2],)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert {k.key_id for k in rules.trust} == {PLATFORM.key_id} | {k.key_id for k in keys}
    assert [k.key_id for k in before] == [PLATFORM.key_id]  # a list once read never changes


def test_policy_and_trust_are_replaced_whole() -> None:
    rules = Rulebook(trust=TrustList(), policy=Policy())
    new_policy = Policy(version="platform-7")
    rules.set_policy(new_policy)
    trust = trusting(PLATFORM)
    rules.set_trust(trust)
    assert rules.policy is new_policy and rules.trust is trust
    assert len(rules.revocations) == 0  # no revocation file: an empty list, not None

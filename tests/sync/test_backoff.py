"""The one backoff rule of the platform link: doubling from the first wait, never above the
longest, jittered downwards only."""

from __future__ import annotations

from sync.backoff import Backoff


def test_waits_double_are_capped_and_jittered_downwards() -> None:
    backoff = Backoff(first_s=0.5, most_s=60.0, jitter=0.2)
    for attempt in range(40):
        expected = min(60.0, 0.5 * 2**attempt)
        waits = [backoff.delay(attempt) for _ in range(200)]
        assert all(0.8 * expected <= w <= expected for w in waits), attempt
        if expected < 60:
            assert max(waits) - min(waits) > 0.01 * expected, "jittered"
    assert backoff.delay(10**9) <= 60.0  # no overflow however long it has failed
    assert backoff.delay(-3) <= 0.5

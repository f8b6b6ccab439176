"""One BLAS thread in the gate process while faces are on, however many gates are open in it."""

from __future__ import annotations

import threading
from typing import Any

_lock = threading.Lock()
_users = 0
_limit: Any = None  # threadpoolctl's limiter, holding the limits from before the first user


def one_blas_thread() -> None:
    """Limit BLAS to one thread until every caller has called `release_blas_threads`.

    Readers encode faces in threads of their own (numpy releases the GIL); BLAS threads inside
    each encoding only oversubscribe the cores and spin (docs/faces.md, "Speed").
    """
    global _users, _limit
    from threadpoolctl import threadpool_limits

    with _lock:
        if _users == 0:
            _limit = threadpool_limits(limits=1, user_api="blas")
        _users += 1


def release_blas_threads() -> None:
    """Undo one `one_blas_thread`; the last one restores the limits from before the first."""
    global _users, _limit
    with _lock:
        if _users == 0:
            return
        _users -= 1
        if _users == 0 and _limit is not None:
            _limit.restore_original_limits()
            _limit = None

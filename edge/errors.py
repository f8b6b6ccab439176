"""The errors edge shows as one clear message instead of a traceback.

Two packages raise errors on purpose, each with a root of its own: gate, sync and edge derive
theirs from `gate.errors.GridgateError`, and vision, which knows nothing of gridgate's domain,
from `vision.errors.VisionError` (a camera that cannot be opened, an unreadable photo, a
damaged face model). Only edge sees both, so the tuple of the two lives here; anything else is
a bug and keeps its traceback.
"""

from __future__ import annotations

from gate.errors import GridgateError
from vision.errors import VisionError

# A tuple, so it works in `except EXPECTED_ERRORS:` and `isinstance(exc, EXPECTED_ERRORS)`.
EXPECTED_ERRORS: tuple[type[Exception], ...] = (GridgateError, VisionError)

__all__ = ["EXPECTED_ERRORS"]

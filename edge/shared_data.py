"""Finding the shared real-world test data (faces, video, QR photos) beside the repository."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def shared_data_dir() -> Path | None:
    """`$GRIDGATE_SHARED_DATA`, else `../shared/data` beside the repository; None when absent."""
    configured = os.environ.get("GRIDGATE_SHARED_DATA")
    candidate = Path(configured) if configured else REPO_ROOT.parent / "shared" / "data"
    return candidate if candidate.is_dir() else None

"""The journal: every passage, alert and door event, kept in SQLite; trajectories come from it.

Names are imported when first used: the CLI's read-only commands need `JournalQueries` alone
and must start fast (no sqlite-utils, no pass or vision code).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gate.journal import schema
    from gate.journal.journal import Journal
    from gate.journal.queries import JournalQueries

__all__ = ["Journal", "JournalQueries", "schema"]
_WHERE = {"Journal": "gate.journal.journal", "JournalQueries": "gate.journal.queries",
          "schema": "gate.journal.schema"}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'gate.journal' has no attribute {name!r}")
    module = importlib.import_module(_WHERE[name])
    return module if name == "schema" else getattr(module, name)

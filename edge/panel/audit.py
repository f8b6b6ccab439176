"""The panel's audit records (gate/audit.py): one call per fact, never failing the request.

The system log keeps its line either way; a journal that cannot be written (a full disk) costs
the record, said in the log, and never the guard's login or change.
"""

from __future__ import annotations

import logging

from edge.panel.services import PanelServices
from gate.audit import record_audit
from gate.errors import JournalError
from gate.vocabulary import AuditKind

log = logging.getLogger(__name__)


def audit(svc: PanelServices, kind: AuditKind, *, actor: str | None, address: str | None,
          target: str | None = None, detail: str = "") -> None:
    """Journal an audit record of the panel with its event for the platform."""
    try:
        record_audit(svc.gate.journal, kind, actor=actor, address=address, target=target,
                     detail=detail)
    except JournalError as exc:
        log.error("panel: audit record %s of %r not journaled: %s", kind.value, actor, exc)

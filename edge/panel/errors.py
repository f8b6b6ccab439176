"""Errors of the panel; each also inherits the builtin a caller would naturally catch."""

from __future__ import annotations

from gate.errors import GridgateError


class PanelError(GridgateError, RuntimeError):
    """The panel cannot start or serve (port in use, unreadable certificate)."""


class UserError(GridgateError, ValueError):
    """A user name, role or password is not acceptable, or the user does not exist."""


class VisitorError(GridgateError, ValueError):
    """A visitor registration is not acceptable (name, household, validity)."""

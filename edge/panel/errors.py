"""Errors of the panel; each also inherits the builtin a caller would naturally catch."""

from __future__ import annotations

from gate.errors import GridgateError


class PanelError(GridgateError, RuntimeError):
    """The panel cannot start or serve (port in use, unreadable certificate)."""


class Explained(GridgateError):
    """An error a page shows: its English message (CLI, logs, JSON) and the key of the same
    text in the panel's catalogs (locales/), with its parameters."""

    def __init__(self, message: str, key: str = "", **params: object) -> None:
        super().__init__(message)
        self.key = key
        self.params = params


class UserError(Explained, ValueError):
    """A user name, role or password is not acceptable, or the user does not exist."""


class VisitorError(Explained, ValueError):
    """A visitor registration is not acceptable (name, household, validity)."""

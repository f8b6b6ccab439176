"""Domain errors; each also inherits the builtin a caller would naturally catch."""

from __future__ import annotations

from vision.errors import GridgateError


class ConfigError(GridgateError, ValueError):
    """A configuration value is invalid; the message names the key and the fix."""


class KeyFileError(GridgateError, ValueError):
    """A key or trust-list file is missing, unreadable or of the wrong kind."""


class JournalError(GridgateError, RuntimeError):
    """The journal database cannot be written (full disk, read-only, corrupt)."""


class DoorError(GridgateError, RuntimeError):
    """The door hardware cannot be driven as asked."""


__all__ = ["ConfigError", "DoorError", "GridgateError", "JournalError", "KeyFileError"]

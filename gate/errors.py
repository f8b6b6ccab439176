"""Domain errors; each also inherits the builtin a caller would naturally catch."""

from __future__ import annotations


class GridgateError(Exception):
    """Base of every error gridgate raises on purpose in gate, sync and edge.

    It lives in the domain, the lowest layer that is gridgate's own: sync and edge derive their
    errors from it. vision, which knows nothing of gridgate, has its own root
    (`vision.errors.VisionError`); edge catches both (`edge.errors.EXPECTED_ERRORS`).
    """


class ConfigError(GridgateError, ValueError):
    """A configuration value is invalid; the message names the key and the fix."""


class KeyFileError(GridgateError, ValueError):
    """A key or trust-list file is missing, unreadable or of the wrong kind."""


class JournalError(GridgateError, RuntimeError):
    """The journal database cannot be written (full disk, read-only, corrupt)."""


class DoorError(GridgateError, RuntimeError):
    """The door hardware cannot be driven as asked."""


class SignalError(GridgateError, RuntimeError):
    """The lamps or the buzzer of a reader cannot be driven as asked."""


__all__ = ["ConfigError", "DoorError", "GridgateError", "JournalError", "KeyFileError",
           "SignalError"]

"""Errors of the enrolled faces; each also inherits the builtin a caller would naturally catch."""

from __future__ import annotations

from gate.errors import GridgateError


class EncodingError(GridgateError, ValueError):
    """A face encoding is not 128 finite numbers (or a person has too many of them)."""


class GalleryError(GridgateError, RuntimeError):
    """The gallery tables cannot be read or written."""


__all__ = ["EncodingError", "GalleryError"]

"""Errors of the face layer; each also inherits the builtin a caller would naturally catch."""

from __future__ import annotations

from vision.errors import ImageError


class NoFaceError(ImageError):
    """An enrolment or comparison image shows no face."""


class SeveralFacesError(ImageError):
    """An enrolment or comparison image shows more than one face, so it is unclear whose it is."""


__all__ = ["NoFaceError", "SeveralFacesError"]

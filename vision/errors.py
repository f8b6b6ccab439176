"""The root of gridgate's exception tree, kept in the lowest package so every layer can use it."""

from __future__ import annotations


class GridgateError(Exception):
    """Base of every error gridgate raises on purpose."""


class CameraError(GridgateError, OSError):
    """A camera source could not be opened or stopped delivering frames."""


class ImageError(GridgateError, ValueError):
    """An image is corrupt, empty, too large or of an unsupported layout."""

"""The root of vision's exceptions: vision knows nothing of gridgate, so it has a root of its own.

gridgate's own root, `gate.errors.GridgateError`, lives in the domain; edge catches both
(`edge.errors.EXPECTED_ERRORS`).
"""

from __future__ import annotations


class VisionError(Exception):
    """Base of every error the vision package raises on purpose."""


class CameraError(VisionError, OSError):
    """A camera source could not be opened or stopped delivering frames."""


class ImageError(VisionError, ValueError):
    """An image is corrupt, empty, too large or of an unsupported layout."""

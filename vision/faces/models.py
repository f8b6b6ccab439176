"""The face_recognition library's dlib models, imported on first use (loading takes a second)."""

from __future__ import annotations

import functools
from types import ModuleType


@functools.cache
def api() -> ModuleType:
    """face_recognition.api, whose module-level objects are the loaded dlib models."""
    import face_recognition.api as face_api

    return face_api

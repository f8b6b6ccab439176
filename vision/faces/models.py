"""The face_recognition library's dlib models, imported on first use (loading takes a second)."""

from __future__ import annotations

import functools
import importlib
from types import ModuleType


@functools.cache
def api() -> ModuleType:
    """face_recognition.api, whose module-level objects are the loaded dlib models."""
    return importlib.import_module("face_recognition.api")

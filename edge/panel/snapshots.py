"""Snapshots: camera images kept as evidence of an override, and small thumbnails for the feed."""

from __future__ import annotations

import hashlib
import re
import threading
import uuid
from collections import OrderedDict
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from edge.panel.frames import encode_jpeg

_REF = re.compile(r"^snapshots/\d{4}-\d{2}-\d{2}/[0-9a-f]{32}\.jpg$")
THUMB_WIDTH = 240


class SnapshotStore:
    """JPEG files under <state_dir>/snapshots/<date>/; journal rows refer to them by a
    relative reference such as 'snapshots/2026-02-14/<id>.jpg'."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = Path(state_dir)

    def save(self, image: np.ndarray, when: datetime) -> str:
        """Write the image; returns its reference."""
        ref = f"snapshots/{when.date().isoformat()}/{uuid.uuid4().hex}.jpg"
        path = self.state_dir / ref
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(encode_jpeg(image, quality=85))
        return ref

    def path(self, ref: str) -> Path | None:
        """The file of a reference; None for anything that is not one (no path tricks)."""
        if not _REF.match(ref):
            return None
        path = self.state_dir / ref
        return path if path.is_file() else None


def thumb_key(passage: dict[str, Any]) -> str:
    """The thumbnail id of a passage: the same before and after the journal recorded it."""
    seen = f"{passage['reader_id']}@{passage['at']}".encode()
    return hashlib.blake2b(seen, digest_size=16).hexdigest()


class ThumbnailCache:
    """Small JPEGs of the camera at the moment of recent passages, by `thumb_key`."""

    def __init__(self, capacity: int = 200) -> None:
        self.capacity = capacity
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, key: str, image: np.ndarray) -> None:
        """Keep a thumbnail of the image; the oldest go first."""
        data = encode_jpeg(image, max_width=THUMB_WIDTH, quality=70)
        with self._lock:
            self._items[key] = data
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def get(self, key: str) -> bytes | None:
        """The thumbnail, or None when never taken or already dropped."""
        with self._lock:
            return self._items.get(key)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._items

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

"""The latest camera image of each reader, with boxes for the QR codes and faces found in it.

The reader thread only stores a reference to each frame; JPEG encoding happens when a browser
asks, once per frame however many browsers watch.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from vision.facts import FaceSeen, Frame, QrSeen

BOX_HOLD_S = 0.4  # keep a box on screen this long, so it does not flicker between decodes
STALE_S = 3.0  # a frame older than this is marked as stale
_QR_COLOUR = (40, 200, 40)  # BGR
_FACE_COLOUR = (255, 160, 0)
_STALE_COLOUR = (30, 30, 220)

log = logging.getLogger(__name__)
FrameListener = Callable[[Frame, Sequence[QrSeen], Sequence[FaceSeen]], None]


@dataclass
class _ReaderView:
    frame: Frame | None = None
    codes: list[QrSeen] = field(default_factory=list)
    codes_at: float = 0.0
    faces: list[FaceSeen] = field(default_factory=list)
    faces_at: float = 0.0
    jpeg: bytes | None = None
    jpeg_key: tuple[int, bool] | None = None


def encode_jpeg(image: np.ndarray, *, max_width: int = 0, quality: int = 75) -> bytes:
    """A JPEG of a BGR image, scaled down to max_width when wider (0 keeps the size)."""
    if max_width and image.shape[1] > max_width:
        scale = max_width / image.shape[1]
        image = cv2.resize(image, (max_width, max(1, int(image.shape[0] * scale))),
                           interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("the image could not be encoded as JPEG")
    return data.tobytes()


class LiveFrames:
    """Latest frame, QR codes and faces per reader; fed by the pipelines' frame listeners."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._views: dict[str, _ReaderView] = {}
        self._lock = threading.Lock()

    def hook(self, reader_id: str) -> FrameListener:
        """A frame listener for one reader's pipeline: keeps its latest frame, codes and faces."""
        with self._lock:
            self._views.setdefault(reader_id, _ReaderView())

        def on_frame(frame: Frame, codes: Sequence[QrSeen], faces: Sequence[FaceSeen]) -> None:
            try:  # the panel's picture must never cost the gate a decision
                self.put(reader_id, frame, codes)
                self.set_faces(reader_id, faces)
            except Exception:
                log.exception("panel: live image of %s not updated", reader_id)

        return on_frame

    def put(self, reader_id: str, frame: Frame, codes: Sequence[QrSeen]) -> None:
        """Keep this frame (and its codes) as the reader's latest."""
        with self._lock:
            view = self._views.setdefault(reader_id, _ReaderView())
            view.frame = frame
            if codes:
                view.codes, view.codes_at = list(codes), self._monotonic()

    def set_faces(self, reader_id: str, faces: Sequence[FaceSeen]) -> None:
        """Faces found in the reader's recent frame (the face watcher calls this)."""
        with self._lock:
            view = self._views.setdefault(reader_id, _ReaderView())
            view.faces, view.faces_at = list(faces), self._monotonic()

    def latest(self, reader_id: str) -> np.ndarray | None:
        """A copy of the reader's latest image, or None before the first frame."""
        with self._lock:
            view = self._views.get(reader_id)
            frame = view.frame if view else None
        return None if frame is None else frame.image.copy()

    def age_s(self, reader_id: str) -> float | None:
        """Seconds since the reader's latest frame, None before the first."""
        with self._lock:
            view = self._views.get(reader_id)
            frame = view.frame if view else None
        return None if frame is None else max(0.0, self._monotonic() - frame.arrived)

    def jpeg(self, reader_id: str, *, max_width: int = 800, quality: int = 70) -> bytes | None:
        """The latest image with boxes as JPEG; None before the first frame."""
        now = self._monotonic()
        with self._lock:
            view = self._views.get(reader_id)
            if view is None or view.frame is None:
                return None
            frame = view.frame
            stale = now - frame.arrived > STALE_S
            key = (frame.seq, stale)
            if view.jpeg is not None and view.jpeg_key == key:
                return view.jpeg
            codes = view.codes if now - view.codes_at <= BOX_HOLD_S else []
            faces = view.faces if now - view.faces_at <= BOX_HOLD_S else []
        image = annotate(frame.image, codes, faces, stale=stale)
        data = encode_jpeg(image, max_width=max_width, quality=quality)
        with self._lock:
            if view.frame is frame:
                view.jpeg, view.jpeg_key = data, key
        return data


def annotate(image: np.ndarray, codes: Sequence[QrSeen], faces: Sequence[FaceSeen], *,
             stale: bool = False) -> np.ndarray:
    """A copy of the image with QR outlines, face boxes and a stale-image mark drawn on it."""
    out = image.copy()
    thickness = max(3, out.shape[1] // 213)
    for code in codes:
        if len(code.corners) >= 3:
            points = np.array(code.corners, np.int32).reshape(-1, 1, 2)
            cv2.polylines(out, [points], True, _QR_COLOUR, thickness, cv2.LINE_AA)
    for face in faces:
        top, right, bottom, left = face.box
        cv2.rectangle(out, (left, top), (right, bottom), _FACE_COLOUR, thickness, cv2.LINE_AA)
    if stale:
        # A red frame and a pause sign: no words, so it reads the same in every language.
        cv2.rectangle(out, (0, 0), (out.shape[1] - 1, out.shape[0] - 1), _STALE_COLOUR,
                      thickness * 3)
        bar_w, bar_h, x, y = thickness * 2, thickness * 8, thickness * 5, thickness * 5
        for left in (x, x + bar_w * 2):
            cv2.rectangle(out, (left, y), (left + bar_w, y + bar_h), _STALE_COLOUR, cv2.FILLED)
    return out

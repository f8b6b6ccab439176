"""The live image (boxes drawn on real decoded QR corners) and the event fan-out across threads."""

from __future__ import annotations

import asyncio
import threading
import time

import cv2
import numpy as np
import pytest
import segno
import zxingcpp

from edge.panel.frames import LiveFrames
from edge.panel.live import EventHub, LiveItem
from edge.panel.snapshots import SnapshotStore, ThumbnailCache
from vision.facts import FaceSeen, Frame, QrSeen


def qr_scene() -> tuple[np.ndarray, QrSeen]:
    """A grey scene with a real QR code in it, and the code as a decoder reports it."""
    buffer = segno.make("GG1:visitor-test", error="m")
    modules = np.array(buffer.matrix, dtype=np.uint8)
    qr = np.where(np.pad(modules, 4), 0, 255).astype(np.uint8)
    qr = cv2.resize(qr, (240, 240), interpolation=cv2.INTER_NEAREST)
    scene = np.full((480, 640, 3), 120, np.uint8)
    scene[100:340, 200:440] = qr[:, :, None]
    found = zxingcpp.read_barcodes(scene)
    assert found, "the test QR code must decode"
    p = found[0].position
    corners = tuple((pt.x, pt.y) for pt in (p.top_left, p.top_right, p.bottom_right,
                                             p.bottom_left))
    return scene, QrSeen(found[0].text, corners, frame_seq=1)


def decode(jpeg: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def is_green(pixel: np.ndarray) -> bool:
    b, g, r = (int(v) for v in pixel)
    return g > 150 and b < 110 and r < 110


def test_jpeg_shows_the_latest_frame_with_qr_and_face_boxes() -> None:
    scene, code = qr_scene()
    frames = LiveFrames()
    assert frames.jpeg("in-cam") is None
    hook = frames.hook("in-cam")
    hook(Frame(scene, seq=1, arrived=time.monotonic()), [code],
         [FaceSeen(box=(20, 120, 90, 40))])
    image = decode(frames.jpeg("in-cam") or b"")
    assert image.shape == scene.shape
    x, y = code.corners[0]
    window = image[max(0, y - 3):y + 4, max(0, x - 3):x + 4].reshape(-1, 3)
    assert any(is_green(px) for px in window), "a QR outline is drawn at its corner"
    assert image[55, 40][0] > 180 and image[55, 40][2] < 80  # the face box (blue-ish)
    assert not is_green(scene[y, x])  # the original frame was not drawn on
    assert frames.jpeg("in-cam") is frames.jpeg("in-cam")  # encoded once per frame


def test_boxes_disappear_and_stale_images_are_marked() -> None:
    scene, code = qr_scene()
    now = [100.0]
    frames = LiveFrames(monotonic=lambda: now[0])
    frames.put("out-cam", Frame(scene, seq=1, arrived=100.0), [code])
    now[0] += 1.0  # the code is no longer in view
    frames.put("out-cam", Frame(scene, seq=2, arrived=101.0), [])
    x, y = code.corners[0]
    image = decode(frames.jpeg("out-cam") or b"")
    assert not any(is_green(px) for px in image[y - 2:y + 3, x - 2:x + 3].reshape(-1, 3))
    now[0] += 10
    stale = decode(frames.jpeg("out-cam") or b"")
    assert stale[2, 320][2] > 150 and stale[2, 320][0] < 100  # red frame around it
    assert stale[27, 17][2] > 150 and stale[27, 17][0] < 100  # and a pause sign, no words
    assert image[27, 17][2] < 150  # which a live image does not have
    assert frames.age_s("out-cam") == pytest.approx(10.0)


def test_a_frame_the_panel_cannot_keep_is_logged_not_raised(caplog) -> None:  # type: ignore[no-untyped-def]
    """The reader thread calls the hook: trouble keeping the picture must not fail its frame."""
    frames = LiveFrames()
    hook = frames.hook("in-cam")
    frame = Frame(np.zeros((10, 10, 3), np.uint8), seq=7, arrived=time.monotonic())
    hook(frame, [], [])
    assert frames.latest("in-cam") is not None
    hook(frame, 5, [])  # type: ignore[arg-type]  # codes that are not a list
    assert "live image of in-cam not updated" in caplog.text


def test_snapshots_and_thumbnails(tmp_path) -> None:  # type: ignore[no-untyped-def]
    scene, _ = qr_scene()
    store = SnapshotStore(tmp_path)
    from datetime import UTC, datetime

    ref = store.save(scene, datetime(2026, 2, 14, tzinfo=UTC))
    assert ref.startswith("snapshots/2026-02-14/") and store.path(ref) is not None
    assert decode(store.path(ref).read_bytes()).shape == scene.shape  # type: ignore[union-attr]
    for bad in ("../gridgate.db", "snapshots/2026-02-14/../../x.jpg", "/etc/passwd", ""):
        assert store.path(bad) is None
    thumbs = ThumbnailCache(capacity=2)
    for i in range(3):
        thumbs.put(f"e{i}", scene)
    assert "e0" not in thumbs and decode(thumbs.get("e2") or b"").shape[1] == 240


def test_hub_delivers_items_published_from_other_threads_and_ends_on_close() -> None:
    hub = EventHub(maxsize=5)

    async def scenario() -> list[str]:
        got: list[str] = []
        async with hub.subscribe() as sub:
            assert hub.subscribers == 1
            threading.Thread(target=lambda: [hub.publish(LiveItem("passage", {"n": i}))
                                             for i in range(3)]).start()
            for _ in range(3):
                item = await sub.get(2.0)
                assert item is not None
                got.append(f"{item.kind}{item.row['n']}")
            for i in range(20):  # a browser that does not read loses old items, not the gate
                hub.publish(LiveItem("alert", {"n": i}))
            await asyncio.sleep(0.05)
            assert sub.dropped == 15
            hub.close()
            items = [await sub.get(1.0) for _ in range(5)]
            assert items[-1] is None  # the end always gets through
        assert hub.subscribers == 0
        return got

    assert asyncio.run(scenario()) == ["passage0", "passage1", "passage2"]

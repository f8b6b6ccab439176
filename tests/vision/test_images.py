"""Loading images: every layout becomes BGR uint8; hostile or broken files get ImageError."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from vision.errors import ImageError
from vision.images import jpeg_bytes, load_image, to_bgr8


@pytest.mark.parametrize("image", [
    np.full((4, 5), 200, np.uint8),
    np.full((4, 5, 1), 200, np.uint8),
    np.full((4, 5), 200 * 256, np.uint16),
    np.full((4, 5, 4), 200, np.uint8),
    np.full((4, 5), 200 / 255, np.float32),
    np.ones((4, 5), np.bool_),
])
def test_any_layout_becomes_bgr8(image: np.ndarray) -> None:
    out = to_bgr8(image)
    assert out.shape == (4, 5, 3) and out.dtype == np.uint8
    assert out.min() >= 200


@pytest.mark.parametrize("image", [np.zeros((0, 5), np.uint8), np.zeros((4, 5, 2), np.uint8),
                                   np.zeros((4, 5), np.int64), np.zeros((2, 2, 2, 2), np.uint8)])
def test_unsupported_layouts_are_refused(image: np.ndarray) -> None:
    with pytest.raises(ImageError):
        to_bgr8(image)


def test_png_and_sixteen_bit_png_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "deep.png"
    cv2.imwrite(str(path), np.full((8, 8), 65535, np.uint16))
    image = load_image(path)
    assert image.shape == (8, 8, 3) and int(image.max()) == 255


def test_missing_empty_and_corrupt_files(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="cannot read"):
        load_image(tmp_path / "absent.png")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ImageError, match="empty"):
        load_image(tmp_path / "empty.png")
    ok = cv2.imencode(".jpg", np.zeros((50, 50, 3), np.uint8))[1].tobytes()
    (tmp_path / "cut.jpg").write_bytes(ok[:40])
    with pytest.raises(ImageError, match="not a readable image"):
        load_image(tmp_path / "cut.jpg")
    with pytest.raises(ImageError):
        load_image(b"\x00" * 100)


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def test_decompression_bomb_is_refused_before_decoding() -> None:
    # 100,000 x 100,000 pixels would need 10 GB; the header alone must be enough to refuse it.
    with pytest.raises(ImageError, match="pixels"):
        load_image(_png_header_only(100_000, 100_000))


def test_jpeg_bytes_round_trip_at_the_quality_asked() -> None:
    image = np.zeros((32, 48, 3), np.uint8)
    image[:, 24:] = (40, 160, 220)
    data = jpeg_bytes(image, quality=85)
    assert data[:2] == b"\xff\xd8"  # a JPEG file, as written to disk
    back = load_image(data)
    assert back.shape == image.shape
    assert np.abs(back.astype(int) - image.astype(int)).mean() < 4
    assert len(jpeg_bytes(image, quality=10)) < len(jpeg_bytes(image, quality=95))


def test_jpeg_bytes_refuses_what_opencv_cannot_encode() -> None:
    with pytest.raises(ImageError, match="JPEG"):
        jpeg_bytes(np.zeros((0, 0, 3), np.uint8), quality=85)

"""Loading images safely: any layout in, BGR uint8 out; hostile files get a clear ImageError."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from vision.errors import ImageError

# OpenCV prints its own error for every unreadable file; ours (ImageError) says it better.
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_FATAL)

MAX_PIXELS = 40_000_000  # a 40-megapixel photo is the most a gate tool needs to read
MAX_BYTES = 64 * 1024 * 1024


def to_bgr8(image: np.ndarray) -> np.ndarray:
    """Grayscale, 16-bit, float, BGRA or BGR arrays as 3-channel BGR uint8."""
    if not isinstance(image, np.ndarray) or image.size == 0 or image.ndim not in (2, 3):
        raise ImageError("not an image: empty or of the wrong shape")
    if image.ndim == 3 and image.shape[2] not in (1, 3, 4):
        raise ImageError(f"unsupported number of channels: {image.shape[2]}")
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype in (np.float32, np.float64):
        scale = 255.0 if float(np.nanmax(image)) <= 1.0 else 1.0
        image = np.clip(np.nan_to_num(image) * scale, 0, 255).astype(np.uint8)
    elif image.dtype == np.bool_:
        image = image.astype(np.uint8) * 255
    elif image.dtype != np.uint8:
        raise ImageError(f"unsupported pixel type {image.dtype}")
    if image.ndim == 2 or image.shape[2] == 1:
        return cv2.cvtColor(image.reshape(image.shape[:2]), cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return np.ascontiguousarray(image)


def _dimensions(data: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG or JPEG header, read before any pixel is decoded."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data[:2] == b"\xff\xd8":
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                return None
            marker, length = data[i + 1], int.from_bytes(data[i + 2:i + 4], "big")
            if marker in (0xC0, 0xC1, 0xC2):
                return (int.from_bytes(data[i + 7:i + 9], "big"),
                        int.from_bytes(data[i + 5:i + 7], "big"))
            i += 2 + length
    return None


def load_image(source: Path | str | bytes, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode an image file or its bytes to BGR uint8, refusing bombs and broken files."""
    name = "<bytes>" if isinstance(source, bytes) else str(source)
    if isinstance(source, bytes):
        data = source
    else:
        try:
            size = Path(source).stat().st_size
            if size > MAX_BYTES:
                raise ImageError(f"{name}: file of {size} bytes is too large for an image")
            data = Path(source).read_bytes()
        except OSError as exc:
            raise ImageError(f"{name}: cannot read: {exc.strerror or exc}") from None
    if not data:
        raise ImageError(f"{name}: empty file")
    dims = _dimensions(data)
    if dims is not None and dims[0] * dims[1] > max_pixels:
        raise ImageError(f"{name}: {dims[0]}x{dims[1]} pixels is more than the "
                         f"{max_pixels} allowed")
    buffer = np.frombuffer(data, np.uint8)
    image = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ImageError(f"{name}: not a readable image (corrupt or unsupported format)")
    if image.shape[0] * image.shape[1] > max_pixels:
        raise ImageError(f"{name}: {image.shape[1]}x{image.shape[0]} pixels is too many")
    return to_bgr8(image)


def jpeg_bytes(image: np.ndarray, quality: int) -> bytes:
    """The image (BGR or grey uint8) as JPEG file bytes at `quality` (0-100); ImageError when
    OpenCV cannot encode it."""
    try:
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    except cv2.error as exc:
        raise ImageError(f"cannot encode the image as JPEG: {exc}") from None
    if not ok:
        raise ImageError("cannot encode the image as JPEG")
    return data.tobytes()

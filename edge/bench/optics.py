"""How a gate camera sees a flat thing held in front of it: pinhole projection, pixel
integration, light, glare, lens and motion blur, sensor noise and JPEG."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

# A 640-px-wide webcam with a 60-degree horizontal field of view; scaled with the frame width.
FOCAL_AT_640 = 554.0
SUPERSAMPLE = 3  # sub-samples per pixel side when a layer is warped into the frame


@dataclass(frozen=True)
class Pose:
    """A flat object's pose: apparent width when facing the camera, centre, and angles (deg)."""

    width_px: float
    centre: tuple[float, float]
    roll: float  # in the image plane
    yaw: float  # about the vertical axis
    pitch: float  # about the horizontal axis

    @property
    def tilt(self) -> float:
        """The angle between the object's normal and the camera axis (degrees)."""
        ry, rx = np.radians(self.yaw), np.radians(self.pitch)
        return float(np.degrees(np.arccos(np.cos(ry) * np.cos(rx))))


def _rotation(pose: Pose) -> np.ndarray:
    r, y, p = (np.radians(a) for a in (pose.roll, pose.yaw, pose.pitch))
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    result: np.ndarray = rz @ ry @ rx
    return result


def homography(layer_wh: tuple[int, int], pose: Pose, frame_wh: tuple[int, int]) -> np.ndarray:
    """The 3x3 map from layer pixels to frame pixels for an object of that pose.

    The object is a plane `layer_w` units wide at the distance where it spans `width_px` when
    facing the camera; rotating it then foreshortens it the way a real lens does (closer
    corners grow, farther ones shrink).
    """
    lw, lh = layer_wh
    fw, fh = frame_wh
    focal = FOCAL_AT_640 * fw / 640
    distance = focal * lw / pose.width_px  # in layer pixels
    corners = np.array([[-lw / 2, -lh / 2, 0], [lw / 2, -lh / 2, 0],
                        [lw / 2, lh / 2, 0], [-lw / 2, lh / 2, 0]])
    offset = np.array([(pose.centre[0] - fw / 2) * distance / focal,
                       (pose.centre[1] - fh / 2) * distance / focal, distance])
    points = corners @ _rotation(pose).T + offset
    projected = focal * points[:, :2] / points[:, 2:3] + [fw / 2, fh / 2]
    source = np.array([[0, 0], [lw, 0], [lw, lh], [0, lh]], np.float32)
    matrix: np.ndarray = cv2.getPerspectiveTransform(source, projected.astype(np.float32))
    return matrix


def map_points(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Points (Nx2) through a homography."""
    mapped: np.ndarray = cv2.perspectiveTransform(
        points.reshape(-1, 1, 2).astype(np.float64), matrix).reshape(-1, 2)
    return mapped


def composite(frame: np.ndarray, layer: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Lay `layer` (float32 HxWx3) over `frame` (float32) through `matrix`; returns the mask
    of the layer's coverage (float32 0-1). Each frame pixel integrates SUPERSAMPLE^2 samples,
    as a sensor pixel integrates light, so fine patterns alias (moire) as they really do."""
    fh, fw = frame.shape[:2]
    lh, lw = layer.shape[:2]
    quad = map_points(matrix, np.array([[0, 0], [lw, 0], [lw, lh], [0, lh]]))
    x0, y0 = (max(0, int(math.floor(v)) - 1) for v in quad.min(axis=0))
    x1 = min(fw, int(math.ceil(quad[:, 0].max())) + 1)
    y1 = min(fh, int(math.ceil(quad[:, 1].max())) + 1)
    mask = np.zeros((fh, fw), np.float32)
    if x1 <= x0 or y1 <= y0:
        return mask
    s = SUPERSAMPLE
    shift = np.array([[s, 0, -x0 * s], [0, s, -y0 * s], [0, 0, 1]], np.float64)
    size = ((x1 - x0) * s, (y1 - y0) * s)
    warped = cv2.warpPerspective(layer, shift @ matrix, size, flags=cv2.INTER_LINEAR)
    cover = cv2.warpPerspective(np.ones((lh, lw), np.float32), shift @ matrix, size,
                                flags=cv2.INTER_LINEAR)
    warped = cv2.resize(warped, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)
    cover = cv2.resize(cover, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)
    region = frame[y0:y1, x0:x1]
    # The layer's samples are premultiplied by their coverage (zero outside the layer).
    region[:] = region * (1 - cover[:, :, None]) + warped
    mask[y0:y1, x0:x1] = cover
    return mask


def light_field(shape: tuple[int, int], angle: float, gradient: float,
                gain: float) -> np.ndarray:
    """Uneven light: a linear fall-off across the frame along `angle` (radians), times a gain."""
    h, w = shape
    xs = (np.linspace(-1, 1, w, dtype=np.float32)[None, :] * math.cos(angle)
          + np.linspace(-1, 1, h, dtype=np.float32)[:, None] * math.sin(angle))
    field: np.ndarray = gain * (1.0 + gradient * xs)
    return field


def glare(shape: tuple[int, int], centre: tuple[float, float], sigma: tuple[float, float],
          angle: float, amplitude: float) -> np.ndarray:
    """A specular highlight: an elongated Gaussian of light added to a glossy surface."""
    h, w = shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    c, s = math.cos(angle), math.sin(angle)
    u = (xs - centre[0]) * c + (ys - centre[1]) * s
    v = -(xs - centre[0]) * s + (ys - centre[1]) * c
    spot: np.ndarray = amplitude * np.exp(-0.5 * ((u / sigma[0]) ** 2 + (v / sigma[1]) ** 2))
    return spot


def motion_kernel(length: float, angle: float) -> np.ndarray | None:
    """A straight motion blur of `length` pixels (sub-pixel exact) at `angle` radians."""
    if length < 0.5:
        return None
    size = int(math.ceil(length)) // 2 * 2 + 3
    fine = 16
    canvas = np.zeros((size * fine, size * fine), np.float32)
    centre = size * fine / 2
    # The round caps of a line one pixel wide add half a pixel at each end.
    half = max(length - 1, 0) * fine / 2
    dx, dy = half * math.cos(angle), half * math.sin(angle)
    cv2.line(canvas, (round(centre - dx), round(centre - dy)),
             (round(centre + dx), round(centre + dy)), 1.0, thickness=fine, lineType=cv2.LINE_AA)
    kernel = cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA)
    kernel = np.asarray(kernel / kernel.sum(), np.float32)
    return kernel


@dataclass(frozen=True)
class Camera:
    """What the sensor and encoder do to the light reaching them."""

    lens_sigma: float  # optical softness, px
    motion_px: float  # motion blur length, px
    motion_angle: float  # radians
    noise: float  # sensor noise, grey levels (1 sigma)
    jpeg_quality: int


def expose(light: np.ndarray, camera: Camera, rng: np.random.Generator) -> np.ndarray:
    """Blur, noise, clipping to 8 bits and the JPEG round trip of one frame."""
    out = cv2.GaussianBlur(light, (0, 0), camera.lens_sigma) if camera.lens_sigma > 0 else light
    kernel = motion_kernel(camera.motion_px, camera.motion_angle)
    if kernel is not None:
        out = cv2.filter2D(out, -1, kernel, borderType=cv2.BORDER_REFLECT)
    out = out + rng.normal(0, camera.noise, out.shape).astype(np.float32)
    pixels = np.clip(out, 0, 255).astype(np.uint8)
    ok, data = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, camera.jpeg_quality])
    decoded = cv2.imdecode(data, cv2.IMREAD_COLOR) if ok else None
    if decoded is None:  # OpenCV round-trips any uint8 BGR array; this is a broken build
        raise RuntimeError("the JPEG round trip failed")
    result: np.ndarray = decoded
    return result

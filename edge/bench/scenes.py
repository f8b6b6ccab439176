"""Seeded gate-camera frames of signed pass cards and of codes on phone screens, over the real
photos in ../shared/data/faces, in the ranges issue 14 measured (for `gridgate bench qr --scenes`).

A printed card (edge/demo/cards.py) held 25-50 cm from a 640x480 camera: 150-320 px wide,
rolled up to 30 degrees, tilted up to 25 degrees each way (true pinhole perspective), uneven
light and glare, lens softness, motion blur up to 5 px, sensor noise, JPEG quality 55-90.
Each card is shown in a burst of frames, as a hand holds it for a moment.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.bench.optics import (
    Camera,
    Pose,
    composite,
    expose,
    glare,
    homography,
    light_field,
    map_points,
)
from edge.bench.phone import phone_layer, screen_light
from edge.demo.cards import CARD_W, QR_LEFT, QR_SIZE, QR_TOP, render_card
from gate.errors import GridgateError
from gate.model import Colour, PersonKind
from gate.passes import PassCheck, PassClaims, Revocations, SigningKey, TrustList, encode_pass
from gate.passes.qr import ERROR_LEVEL, qr_matrix, qr_version
from gate.passes.verify import verify_pass
from vision.errors import ImageError
from vision.images import load_image
from vision.sources import IMAGE_SUFFIXES

FRAME_W, FRAME_H = 640, 480
CARD_PX = (150.0, 320.0)  # the card's width facing the camera, at 640x480
PHONE_PX = (130.0, 270.0)  # a phone's width held 15-30 cm away, at 640x480
ROLL_DEG, TILT_DEG = 30.0, 25.0
MOTION_PX = 5.0
NOISE = (2.0, 7.0)
JPEG_QUALITY = (55, 90)
LIGHT_GRADIENT, GAIN = (0.1, 0.45), (0.7, 1.15)
LENS_SIGMA = (0.4, 0.9)
GLARE_SHARE = 0.6  # of cards: a glossy or laminated card catches the light
COMPOUND = "wenjiang-01"
ISSUED = datetime(2026, 3, 1, tzinfo=UTC)
CHECKED_AT = ISSUED + timedelta(days=2)
COLOURS = (Colour.GREEN, Colour.YELLOW, Colour.RED, Colour.WHITE)


class NoBackgrounds(GridgateError, FileNotFoundError):
    """The background photos are absent or unreadable."""


@dataclass(frozen=True)
class PrintedPass:
    """One signed pass as the platform issues it."""

    text: str
    colour: Colour
    kind: PersonKind

    @property
    def label(self) -> str:
        return f"{self.kind.value} {self.colour.value}"


@dataclass(frozen=True)
class Deck:
    """Passes signed with a test key through the project's own code, and the gate's check."""

    passes: tuple[PrintedPass, ...]
    trust: TrustList

    def check(self, text: str) -> PassCheck:
        """The gate's offline verification of a decoded text, at the scenes' time."""
        return verify_pass(text, self.trust, Revocations(), COMPOUND, CHECKED_AT)


def scene_key(seed: int) -> SigningKey:
    """A signing key derived from the seed: the same passes, byte for byte, on every run."""
    secret = hashlib.sha256(f"gridgate-qr-scenes-{seed}".encode()).digest()
    return SigningKey.from_private(Ed25519PrivateKey.from_private_bytes(secret))


def pass_deck(seed: int, count: int = 25, *, short_ids: bool = False) -> Deck:
    """Resident passes of every colour and visitor passes (one in five), with ids shaped like
    a platform's: a 12-hex pass id, `p-` and 6 digits; a visitor's dated id and phone number.
    `short_ids`: 6-hex pass ids and `p` + 5 digits (visitors: `V`/`v` + 4 digits, no grid),
    which fit a smaller QR version."""
    key = scene_key(seed)
    rng = np.random.default_rng([seed, 1])
    passes = []
    residents = 0
    for i in range(count):
        number = int(rng.integers(1, 10_000))
        household = f"h{number:04d}" if short_ids else f"h-{number:04d}"
        grid_no = int(rng.integers(1, 40))
        grid = f"g{grid_no}" if short_ids else f"grid-{grid_no:02d}"
        serial = int(rng.integers(1, 100_000))
        if i % 5 == 4:
            day = ISSUED + timedelta(days=int(rng.integers(0, 28)))
            phone = int(rng.integers(3_000_000_000, 9_000_000_000))  # 1 + 10 digits
            claims = PassClaims(
                pass_id=f"V{serial % 10_000:04d}" if short_ids
                else f"V-{day:%Y%m%d}-{serial % 10_000:04d}",
                person_id=f"v{phone % 10_000:04d}" if short_ids else f"v-1{phone:010d}",
                household_id=household, compound_id=COMPOUND, colour=Colour.GREEN,
                issued_at=ISSUED, not_before=ISSUED, expires_at=ISSUED + timedelta(days=30),
                kind=PersonKind.VISITOR, grid_id=None if short_ids else grid,
                host_household_id=household)  # short: the host household names the grid
        else:
            pass_id = rng.bytes(6).hex()
            claims = PassClaims(
                pass_id=pass_id[:6] if short_ids else pass_id,
                person_id=f"p{serial:05d}" if short_ids else f"p-{serial * 10 % 10**6:06d}",
                household_id=household, compound_id=COMPOUND, colour=COLOURS[residents % 4],
                issued_at=ISSUED, not_before=ISSUED, expires_at=ISSUED + timedelta(days=60),
                grid_id=grid)
            residents += 1
        passes.append(PrintedPass(encode_pass(claims, key), claims.colour, claims.kind))
    trust = TrustList()
    trust.add(key.key_id, key.public_key)
    return Deck(tuple(passes), trust)


def load_backgrounds(folder: Path) -> list[np.ndarray]:
    """Every readable photo under `folder` (BGR); NoBackgrounds naming the path when none."""
    if not folder.is_dir():
        raise NoBackgrounds(f"background photos absent: expected {folder}")
    photos = []
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() in IMAGE_SUFFIXES:
            try:
                photos.append(load_image(path))
            except ImageError:
                continue
    if not photos:
        raise NoBackgrounds(f"no readable photos under {folder}")
    return photos


@dataclass(frozen=True)
class Scene:
    """One frame and what is in it."""

    image: np.ndarray
    text: str  # what the code in the frame says
    label: str  # e.g. "resident red", "visitor green", "phone"
    card: int  # frames of one card share it
    frame: int  # the frame's place in its card's burst
    width_px: float  # the card or phone's width when facing the camera
    px_per_module: float  # the QR module's width in frame pixels, facing the camera
    motion_px: float
    roll: float
    tilt: float
    jpeg_quality: int
    qr_version: int
    code_box: np.ndarray  # 4x2: the code's corners in the frame, quiet zone included


def _background(photo: np.ndarray, rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """A random 4:3 crop of a photo, at the frame's size."""
    h, w = photo.shape[:2]
    crop_w = min(w, h * 4 // 3)
    crop_w = max(8, int(crop_w * rng.uniform(0.55, 1.0)))
    crop_h = max(6, crop_w * 3 // 4)
    x, y = int(rng.integers(0, w - crop_w + 1)), int(rng.integers(0, h - crop_h + 1))
    crop = photo[y:y + crop_h, x:x + crop_w]
    return cv2.resize(crop, size, interpolation=cv2.INTER_AREA).astype(np.float32)


def _fit(pose: Pose, layer_wh: tuple[int, int], box: np.ndarray,
         frame_wh: tuple[int, int]) -> Pose:
    """Move the pose so the code's box (its quiet zone too) lies inside the frame: a frame
    that cuts the code off tests the person, not the reader."""
    for _ in range(4):
        corners = map_points(homography(layer_wh, pose, frame_wh), box)
        low, high = corners.min(axis=0), corners.max(axis=0)
        shift = np.maximum(2 - low, 0) + np.minimum(np.array(frame_wh) - 2 - high, 0)
        if not shift.any():
            break
        pose = Pose(pose.width_px, (pose.centre[0] + shift[0], pose.centre[1] + shift[1]),
                    pose.roll, pose.yaw, pose.pitch)
    return pose


@dataclass(frozen=True)
class _Shot:
    """What stays put over a card's burst of frames."""

    pose: Pose
    motion_px: float
    light_gradient: float
    light_angle: float  # radians: where the light comes from
    gain: float
    jpeg_quality: int
    glare_at: tuple[float, float] | None  # in layer pixels


def _shot(rng: np.random.Generator, width: tuple[float, float], scale: float,
          layer_wh: tuple[int, int]) -> _Shot:
    fw, fh = FRAME_W * scale, FRAME_H * scale
    pose = Pose(rng.uniform(*width) * scale,
                (fw * rng.uniform(0.2, 0.8), fh * rng.uniform(0.25, 0.75)),
                rng.uniform(-ROLL_DEG, ROLL_DEG), rng.uniform(-TILT_DEG, TILT_DEG),
                rng.uniform(-TILT_DEG, TILT_DEG))
    glare_at = ((rng.uniform(0, layer_wh[0]), rng.uniform(0, layer_wh[1]))
                if rng.random() < GLARE_SHARE else None)
    return _Shot(pose, rng.uniform(0, MOTION_PX) * scale, rng.uniform(*LIGHT_GRADIENT),
                 rng.uniform(0, 2 * np.pi), rng.uniform(*GAIN),
                 int(rng.integers(JPEG_QUALITY[0], JPEG_QUALITY[1] + 1)), glare_at)


def _jitter(shot: _Shot, rng: np.random.Generator, scale: float,
            width: tuple[float, float]) -> _Shot:
    """The next frame of the same card: the hand moves a little, the blur changes; every
    figure stays inside its range."""
    p = shot.pose
    low, high = width
    pose = Pose(float(np.clip(p.width_px * rng.uniform(0.97, 1.03), low * scale, high * scale)),
                (p.centre[0] + rng.normal(0, 4 * scale), p.centre[1] + rng.normal(0, 4 * scale)),
                float(np.clip(p.roll + rng.normal(0, 1.5), -ROLL_DEG, ROLL_DEG)),
                float(np.clip(p.yaw + rng.normal(0, 2), -TILT_DEG, TILT_DEG)),
                float(np.clip(p.pitch + rng.normal(0, 2), -TILT_DEG, TILT_DEG)))
    motion = float(np.clip(shot.motion_px + rng.normal(0, 1.0) * scale, 0, MOTION_PX * scale))
    return _Shot(pose, motion, shot.light_gradient, shot.light_angle, shot.gain,
                 shot.jpeg_quality, shot.glare_at)


def _frame(background: np.ndarray, layer: np.ndarray, box: np.ndarray, shot: _Shot,
           rng: np.random.Generator, scale: float,
           phone: bool) -> tuple[np.ndarray, Pose, np.ndarray]:
    fh, fw = background.shape[:2]
    layer_wh = (layer.shape[1], layer.shape[0])
    pose = _fit(shot.pose, layer_wh, box, (fw, fh))
    matrix = homography(layer_wh, pose, (fw, fh))
    light = background.copy()
    mask = composite(light, layer, matrix)
    field = light_field((fh, fw), shot.light_angle, shot.light_gradient, shot.gain)
    if phone:  # a screen gives its own light: the exposure scales it, the room's light does not
        field = field * (1 - mask) + shot.gain * mask
    light *= field[:, :, None]
    if phone:
        light = screen_light(light, mask, matrix, layer_wh, rng, scale)
    if shot.glare_at is not None:
        spot = map_points(matrix, np.array([shot.glare_at]))[0]
        along = pose.width_px * rng.uniform(0.08, 0.3)
        amplitude = rng.uniform(40, 170)
        light += (glare((fh, fw), (float(spot[0]), float(spot[1])),
                        (along, along * rng.uniform(0.3, 1.0)), rng.uniform(0, np.pi),
                        amplitude) * mask)[:, :, None]
    camera = Camera(rng.uniform(*LENS_SIGMA) * scale, shot.motion_px, rng.uniform(0, np.pi),
                    rng.uniform(*NOISE), shot.jpeg_quality)
    return expose(light, camera, rng), pose, map_points(matrix, box)


def _printed(card: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Ink and paper are not 0 and 255: a print's darkest and lightest reflectance."""
    ink, paper = rng.uniform(18, 45), rng.uniform(205, 240)
    layer: np.ndarray = ink + (paper - ink) * card.astype(np.float32) / 250.0
    return layer


def _wear(layer: np.ndarray, rng: np.random.Generator) -> None:
    """A card held and carried: a thumb over its left, right or bottom edge reaching 15-55
    card pixels (6-21 mm) in, and 1-3 scuffs where the ink wore off. Beyond the issue's
    ranges: for weighing error correction against what a printed card goes through."""
    h, w = layer.shape[:2]
    for _ in range(int(rng.integers(1, 4))):
        start = (rng.uniform(0, w), rng.uniform(QR_TOP, QR_TOP + QR_SIZE))
        angle, length = rng.uniform(0, np.pi), rng.uniform(30, 120)
        end = (start[0] + length * np.cos(angle), start[1] + length * np.sin(angle))
        paper = float(layer.max()) * rng.uniform(0.8, 0.95)
        cv2.line(layer, (round(start[0]), round(start[1])), (round(end[0]), round(end[1])),
                 (paper, paper, paper), int(rng.integers(2, 5)), cv2.LINE_AA)
    side, reach, along = int(rng.integers(3)), rng.uniform(15, 55), rng.uniform(0.3, 0.85)
    across, length_px = 30, 55
    if side == 2:
        centre, axes = (along * w, h - reach + across), (length_px, across)
    else:
        x = reach - across if side == 0 else w - reach + across
        centre, axes = (x, along * h), (across, length_px)
    mask = np.zeros((h, w), np.uint8)
    cv2.ellipse(mask, (round(centre[0]), round(centre[1])), axes, 0, 0, 360, 255, -1,
                cv2.LINE_AA)
    skin = np.array([rng.uniform(105, 150), rng.uniform(135, 175), rng.uniform(185, 225)],
                    np.float32)
    alpha = (mask.astype(np.float32) / 255)[:, :, None]
    layer[:] = layer * (1 - alpha) + skin * alpha


def _card(printed: PrintedPass, error: str) -> np.ndarray:
    """The card as edge/demo/cards.py prints it, its code at error correction level `error`."""
    card = render_card(printed.text, printed.colour, printed.label)
    if error != ERROR_LEVEL:
        modules = qr_matrix(printed.text, error)
        code = cv2.resize(np.where(modules, 0, 255).astype(np.uint8), (QR_SIZE, QR_SIZE),
                          interpolation=cv2.INTER_NEAREST)
        card[QR_TOP:QR_TOP + QR_SIZE, QR_LEFT:QR_LEFT + QR_SIZE] = code[:, :, None]
    return card


def card_scenes(deck: Deck, backgrounds: Sequence[np.ndarray], *, seed: int, cards: int,
                frames_per_card: int = 1, scale: float = 1.0, worn: bool = False,
                error: str = ERROR_LEVEL) -> Iterator[Scene]:
    """`cards` printed cards, each in a burst of `frames_per_card` frames; frames are
    (640 x 480) x scale, with the blur and sizes scaled alike. `worn` adds a thumb and
    scuffs, `error` another error correction level (the same frames otherwise)."""
    size = (round(FRAME_W * scale), round(FRAME_H * scale))
    for index in range(cards):
        rng = np.random.default_rng([seed, 2, index])
        printed = deck.passes[index % len(deck.passes)]
        layer = _printed(_card(printed, error), rng)
        if worn:
            _wear(layer, np.random.default_rng([seed, 5, index]))
        layer_wh = (layer.shape[1], layer.shape[0])
        box = np.array([[QR_LEFT, QR_TOP], [QR_LEFT + QR_SIZE, QR_TOP],
                        [QR_LEFT + QR_SIZE, QR_TOP + QR_SIZE], [QR_LEFT, QR_TOP + QR_SIZE]],
                       np.float64)
        modules = qr_matrix(printed.text, error).shape[0]
        version = qr_version(printed.text, error)[0]
        background = _background(backgrounds[int(rng.integers(len(backgrounds)))], rng, size)
        shot = _shot(rng, CARD_PX, scale, layer_wh)
        for frame in range(frames_per_card):
            if frame:
                shot = _jitter(shot, rng, scale, CARD_PX)
            image, pose, quad = _frame(background, layer, box, shot, rng, scale, phone=False)
            yield Scene(image, printed.text, printed.label, index, frame, pose.width_px,
                        pose.width_px * QR_SIZE / CARD_W / modules, shot.motion_px, pose.roll,
                        pose.tilt, shot.jpeg_quality, version, quad)


def phone_scenes(texts: Sequence[tuple[str, Colour]], backgrounds: Sequence[np.ndarray], *,
                 seed: int, cards: int, frames_per_card: int = 1, scale: float = 1.0,
                 error: str = ERROR_LEVEL) -> Iterator[Scene]:
    """Codes shown on a phone's screen (any text: a live code too): a bright emissive screen
    whose pixel grid beats with the sensor's (moire), in a dark bezel, with reflections."""
    size = (round(FRAME_W * scale), round(FRAME_H * scale))
    for index in range(cards):
        rng = np.random.default_rng([seed, 3, index])
        text, colour = texts[index % len(texts)]
        layer, box, qr_px = phone_layer(text, colour, rng, error)
        layer_wh = (layer.shape[1], layer.shape[0])
        modules = qr_matrix(text, error).shape[0]
        version = qr_version(text, error)[0]
        background = _background(backgrounds[int(rng.integers(len(backgrounds)))], rng, size)
        shot = _shot(rng, PHONE_PX, scale, layer_wh)
        shot = _Shot(shot.pose, shot.motion_px, shot.light_gradient, shot.light_angle,
                     shot.gain, shot.jpeg_quality, None)  # a screen reflects; no gloss spot
        for frame in range(frames_per_card):
            if frame:
                shot = _jitter(shot, rng, scale, PHONE_PX)
            image, pose, quad = _frame(background, layer, box, shot, rng, scale, phone=True)
            yield Scene(image, text, "phone", index, frame, pose.width_px,
                        pose.width_px * qr_px / layer_wh[0] / modules, shot.motion_px,
                        pose.roll, pose.tilt, shot.jpeg_quality, version, quad)




def empty_frames(backgrounds: Sequence[np.ndarray], *, seed: int, count: int,
                 size: tuple[int, int]) -> Iterator[np.ndarray]:
    """Frames of the same camera with no code in view: what a reader sees most of the day."""
    for index in range(count):
        rng = np.random.default_rng([seed, 4, index])
        light = _background(backgrounds[index % len(backgrounds)], rng, size)
        light *= light_field((size[1], size[0]), rng.uniform(0, 2 * np.pi),
                             rng.uniform(*LIGHT_GRADIENT), rng.uniform(*GAIN))[:, :, None]
        scale = size[0] / FRAME_W
        camera = Camera(rng.uniform(*LENS_SIGMA) * scale, rng.uniform(0, MOTION_PX) * scale,
                        rng.uniform(0, np.pi), rng.uniform(*NOISE),
                        int(rng.integers(JPEG_QUALITY[0], JPEG_QUALITY[1] + 1)))
        yield expose(light, camera, rng)

"""The gate-camera scene generator: the issue's ranges, seeded, real signed passes, phone mode."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.bench.phone import phone_layer
from edge.bench.scenes import (
    CARD_PX,
    COLOURS,
    JPEG_QUALITY,
    MOTION_PX,
    ROLL_DEG,
    TILT_DEG,
    NoBackgrounds,
    card_scenes,
    empty_frames,
    load_backgrounds,
    pass_deck,
    phone_scenes,
)
from edge.shared_data import REPO_ROOT, shared_data_dir
from gate.model import Colour, PersonKind
from gate.passes.qr import qr_version
from vision.qr import make_decoder


def write_backgrounds(folder: Path, count: int = 3) -> Path:
    """Photos of a kind: gradients and blocks, so these tests need no shared data."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        photo = np.zeros((600, 800, 3), np.uint8)
        photo[:] = np.linspace(60, 200, 800, dtype=np.uint8)[None, :, None]
        for _ in range(15):
            x, y = int(rng.integers(0, 700)), int(rng.integers(0, 500))
            colour = tuple(int(c) for c in rng.integers(0, 255, 3))
            cv2.rectangle(photo, (x, y), (x + int(rng.integers(10, 200)),
                                          y + int(rng.integers(10, 200))), colour, -1)
        cv2.imwrite(str(folder / f"photo{i}.jpg"), photo)
    (folder / "notes.txt").write_text("not a photo")
    return folder


@pytest.fixture
def backgrounds(tmp_path: Path) -> list[np.ndarray]:
    return load_backgrounds(write_backgrounds(tmp_path / "photos"))


def test_frames_stay_inside_the_issues_ranges(backgrounds: list[np.ndarray]) -> None:
    scenes = list(card_scenes(pass_deck(5), backgrounds, seed=5, cards=16, frames_per_card=3))
    assert len(scenes) == 48
    for scene in scenes:
        assert scene.image.shape == (480, 640, 3) and scene.image.dtype == np.uint8
        assert CARD_PX[0] <= scene.width_px <= CARD_PX[1]
        assert abs(scene.roll) <= ROLL_DEG and scene.tilt <= TILT_DEG * 1.5
        assert 0 <= scene.motion_px <= MOTION_PX
        assert JPEG_QUALITY[0] <= scene.jpeg_quality <= JPEG_QUALITY[1]
        assert 2.0 < scene.px_per_module < 5.1
        # The code (its quiet zone too) is in the frame: a cut-off code tests nobody.
        assert scene.code_box.min() >= 0
        assert scene.code_box[:, 0].max() <= 640 and scene.code_box[:, 1].max() <= 480
    assert [s.frame for s in scenes[:3]] == [0, 1, 2] and len({s.card for s in scenes}) == 16
    # The ranges are spanned, not a corner of them.
    widths = [s.width_px for s in scenes]
    assert min(widths) < 190 and max(widths) > 280
    assert max(abs(s.roll) for s in scenes) > 20 and max(s.motion_px for s in scenes) > 3.5


def test_the_same_seed_makes_the_same_frames(backgrounds: list[np.ndarray]) -> None:
    def frames(seed: int) -> list[np.ndarray]:
        return [s.image for s in card_scenes(pass_deck(seed), backgrounds, seed=seed, cards=3)]

    first, again, other = frames(9), frames(9), frames(10)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not any(np.array_equal(a, b) for a, b in zip(first, other, strict=True))


def test_the_deck_holds_real_passes_of_every_colour_and_visitors() -> None:
    deck = pass_deck(3)
    residents = [p for p in deck.passes if p.kind is PersonKind.RESIDENT]
    visitors = [p for p in deck.passes if p.kind is PersonKind.VISITOR]
    assert {p.colour for p in residents} == set(COLOURS) and visitors
    for printed in deck.passes:
        check = deck.check(printed.text)
        assert check.valid and check.claims is not None
        assert check.claims.colour is printed.colour and check.claims.kind is printed.kind
    text = deck.passes[0].text
    tampered = text[:40] + ("A" if text[40] != "A" else "B") + text[41:]
    assert not deck.check(tampered).valid
    assert pass_deck(3).passes == deck.passes  # signed with a key derived from the seed
    # Shorter ids (a recommendation to the platform) fit version 7 instead of 8.
    short = pass_deck(3, short_ids=True)
    assert {qr_version(p.text)[0] for p in deck.passes} == {8}
    assert {qr_version(p.text)[0] for p in short.passes} == {7}
    assert all(short.check(p.text).valid for p in short.passes)


def test_most_generated_frames_decode(backgrounds: list[np.ndarray]) -> None:
    """The frames hold real, readable codes (the measured rate is the benchmark's business)."""
    deck = pass_deck(2)
    decoder = make_decoder("zxing")
    scenes = list(card_scenes(deck, backgrounds, seed=2, cards=12))
    read = sum(s.text in [c.text for c in decoder.decode(s.image)] for s in scenes)
    print(f"read {read} of {len(scenes)} generated frames")
    assert read >= 6


def test_higher_resolution_scales_the_scene(backgrounds: list[np.ndarray]) -> None:
    scene = next(card_scenes(pass_deck(1), backgrounds, seed=1, cards=1, scale=2))
    assert scene.image.shape == (960, 1280, 3)
    assert 2 * CARD_PX[0] <= scene.width_px <= 2 * CARD_PX[1]


def test_phone_mode_shows_any_text(backgrounds: list[np.ndarray]) -> None:
    text = "LIVE1:" + "0123456789ABCDEF" * 12
    # The screen itself, seen square-on and sharp, holds the text.
    layer, box, size = phone_layer(text, Colour.YELLOW, np.random.default_rng(0))
    x0, y0 = box[0].astype(int)
    crop = np.clip(layer[y0 - 40:y0 + size + 40, x0 - 40:x0 + size + 40], 0, 255)
    small = cv2.resize(crop.astype(np.uint8), None, fx=0.25, fy=0.25,
                       interpolation=cv2.INTER_AREA)
    assert [c.text for c in make_decoder("zxing").decode(small)] == [text]
    scenes = list(phone_scenes([(text, Colour.GREEN)], backgrounds, seed=4, cards=3,
                               frames_per_card=2))
    assert len(scenes) == 6
    assert all(s.image.shape == (480, 640, 3) and s.text == text and s.label == "phone"
               for s in scenes)


def test_empty_frames_have_no_code(backgrounds: list[np.ndarray]) -> None:
    decoder = make_decoder("zxing")
    frames = list(empty_frames(backgrounds, seed=1, count=4, size=(1280, 720)))
    assert all(f.shape == (720, 1280, 3) and decoder.decode(f) == [] for f in frames)


def test_absent_or_empty_backgrounds_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(NoBackgrounds, match=str(tmp_path / "nowhere")):
        load_backgrounds(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(NoBackgrounds, match="no readable photos"):
        load_backgrounds(tmp_path / "empty")


def test_the_shared_face_photos_serve_as_backgrounds() -> None:
    shared = shared_data_dir()
    if shared is None or not (shared / "faces").is_dir():
        pytest.skip(f"shared photos absent: expected {REPO_ROOT.parent / 'shared/data/faces'}")
    photos = load_backgrounds(shared / "faces")
    assert len(photos) >= 10

"""Enrolment photos: hostile files get clear errors; grey, 16-bit, alpha and turned photos work."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from vision.errors import ImageError
from vision.faces.errors import NoFaceError, SeveralFacesError
from vision.faces.photos import load_photo, single_face

pytest_plugins = ["tests.vision.faces.fixtures"]


def _png_header_claiming(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk
            + struct.pack(">I", zlib.crc32(chunk)))


@pytest.mark.parametrize(("content", "message"), [
    (b"", "empty file"),
    (b"\xff\xd8\xff\xe0 this is not really a jpeg", "not a readable image"),
    (b"GIF89a....", "not a readable image"),
    (_png_header_claiming(60_000, 60_000), "pixels is more than"),
])
def test_hostile_files_are_refused_clearly(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(content)
    with pytest.raises(ImageError, match=message):
        load_photo(path)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="cannot read"):
        load_photo(tmp_path / "nope.jpg")


def test_grey_16_bit_and_alpha_photos_give_the_same_face(
        tmp_path: Path, faces_data: Path, encoder) -> None:
    colour = load_photo(faces_data / "obama_small.jpg")
    _, reference = single_face(colour, encoder, "colour")
    grey = cv2.cvtColor(colour, cv2.COLOR_BGR2GRAY)
    cv2.imwrite(str(tmp_path / "grey.png"), grey)
    cv2.imwrite(str(tmp_path / "deep.png"), colour.astype(np.uint16) * 257)
    cv2.imwrite(str(tmp_path / "alpha.png"), cv2.cvtColor(colour, cv2.COLOR_BGR2BGRA))
    for name, tolerance in (("deep.png", 0.01), ("alpha.png", 0.01), ("grey.png", 0.2)):
        _, encoding = single_face(load_photo(tmp_path / name), encoder, name)
        assert np.linalg.norm(encoding - reference) < tolerance, name


def test_a_phone_photo_turned_by_exif_is_set_upright(
        tmp_path: Path, faces_data: Path, encoder) -> None:
    upright = Image.open(faces_data / "obama_small.jpg").convert("RGB")
    turned = upright.transpose(Image.Transpose.ROTATE_90)  # pixels on their side
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to view"
    turned.save(tmp_path / "phone.jpg", exif=exif)
    box, _ = single_face(load_photo(tmp_path / "phone.jpg"), encoder, "phone.jpg")
    assert box[2] - box[0] > 50


def test_no_face_and_several_faces_are_refused(
        tmp_path: Path, faces_data: Path, encoder) -> None:
    cv2.imwrite(str(tmp_path / "wall.png"), np.full((300, 400, 3), 128, np.uint8))
    with pytest.raises(NoFaceError, match="wall.png: no face found"):
        single_face(load_photo(tmp_path / "wall.png"), encoder, "wall.png")
    with pytest.raises(SeveralFacesError, match="2 faces found"):
        single_face(load_photo(faces_data / "two_people.jpg"), encoder, "two_people.jpg")

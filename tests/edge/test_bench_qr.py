"""`gridgate bench qr` counts hits, misses and false positives of both decoders."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
from click.testing import CliRunner

from edge.cli.main import cli
from tests.vision.conftest import qr_image


def test_bench_qr_on_a_folder_of_known_codes(tmp_path: Path) -> None:
    codes = tmp_path / "qrcode-x"
    blanks = tmp_path / "falsepositives-x"
    codes.mkdir()
    blanks.mkdir()
    for i in range(3):
        cv2.imwrite(str(codes / f"{i}.png"), qr_image(f"GG1:CODE{i}"))
        (codes / f"{i}.txt").write_text(f"GG1:CODE{i}")
    # A photo whose expectation is wrong counts as a miss for both decoders.
    cv2.imwrite(str(codes / "3.png"), qr_image("GG1:OTHER"))
    (codes / "3.txt").write_text("GG1:EXPECTED")
    cv2.imwrite(str(blanks / "grey.png"), np.full((100, 100, 3), 128, np.uint8))
    (blanks / "broken.png").write_bytes(b"junk")

    result = CliRunner().invoke(cli, ["bench", "qr", "--data", str(tmp_path), "--repeats", "1",
                                      "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert figures["images"] == 5 and figures["unreadable_files"] == 1
    for name in ("zxing", "pyzbar"):
        assert figures[name]["decoded"] == 3 and figures[name]["expected"] == 4
        assert figures[name]["rate"] == 0.75
        assert figures[name]["false_positive_images"] == 0
        assert 0 < figures[name]["p50_ms"] <= figures[name]["p95_ms"]


def test_bench_qr_without_data_says_where_it_looked(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["bench", "qr", "--data", str(tmp_path)])
    assert result.exit_code != 0 and "no readable images" in result.output

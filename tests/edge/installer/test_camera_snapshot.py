"""`gridgate camera snapshot`: one real frame from the reader's camera, saved as an image."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
from click.testing import CliRunner

from edge.cli.main import cli
from tests.edge.installer.support import HEIGHT, WIDTH, gate_config, write_config


def test_snapshot_saves_a_frame_of_the_readers_camera(tmp_path: Path) -> None:
    path = write_config(tmp_path, gate_config(tmp_path))
    out = tmp_path / "shots" / "in.jpg"
    result = CliRunner().invoke(cli, ["camera", "snapshot", str(out), "--config", str(path),
                                      "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output.strip().splitlines()[-1])
    assert shown["reader"] == "in-cam" and shown["frame"] == 11
    image = cv2.imread(str(out))
    assert image.shape == (HEIGHT, WIDTH, 3)


def test_snapshot_errors_are_clear(tmp_path: Path) -> None:
    path = write_config(tmp_path, gate_config(tmp_path, camera=str(tmp_path / "gone.mp4")))
    result = CliRunner().invoke(cli, ["camera", "snapshot", str(tmp_path / "x.jpg"),
                                      "--config", str(path)])
    assert result.exit_code == 2 and "no such video file" in result.output
    result = CliRunner().invoke(cli, ["camera", "snapshot", str(tmp_path / "x.gif"),
                                      "--source", str(tmp_path)])
    assert result.exit_code == 2 and "use one of" in result.output
    result = CliRunner().invoke(cli, ["camera", "snapshot", str(tmp_path / "x.png"),
                                      "--config", str(path), "--reader", "nope"])
    assert result.exit_code == 2 and "no reader 'nope'" in result.output

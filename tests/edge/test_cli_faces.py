"""`gridgate faces`: enrol, compare, identify, list, remove; bad photos never store anything."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from edge.cli.main import cli
from gate.passes import TrustList, generate_signing_key

pytest_plugins = ["tests.vision.faces.fixtures"]

pytestmark = pytest.mark.slow


@pytest.fixture
def config(tmp_path: Path) -> Path:
    key = generate_signing_key()
    trust = TrustList()
    trust.add(key.key_id, key.public_key)
    trust.save(tmp_path / "trust.json")
    path = tmp_path / "gridgate.toml"
    path.write_text(
        '[gate]\ngate_id = "g1"\ncompound_id = "c1"\n'
        '[[readers]]\nreader_id = "in"\ndirection = "in"\ncamera = "0"\nrelay_pin = 17\n'
        '[passes]\ntrust_list = "trust.json"\n[storage]\nstate_dir = "state"\n'
        "[faces]\nenabled = true\n")
    return path


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, ["faces", *map(str, args)])


def lines(result: Result) -> list[dict[str, object]]:
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


@pytest.mark.parametrize("command", ["enroll", "compare", "identify", "list", "remove"])
def test_every_command_has_help(command: str) -> None:
    result = run(command, "--help")
    assert result.exit_code == 0 and "Usage:" in result.output and len(result.output) > 200


def test_enrol_identify_list_remove(config: Path, faces_data: Path) -> None:
    train = faces_data / "knn_examples" / "train"
    result = run("enroll", "p-obama", *sorted((train / "obama").iterdir()), "-c", config,
                 "--json")
    assert result.exit_code == 0, result.output
    assert lines(result) == [{"person": "p-obama", "added": 2, "encodings": 2,
                              "registered": False}]
    assert "not in the registry yet" in result.stderr
    # It says what it does while it works (models, then a progress bar), on stderr.
    assert "loading the face detector" in result.stderr
    assert "encoding 2 photo(s) of p-obama" in result.stderr
    assert run("enroll", "p-biden", train / "biden" / "biden2.jpg", "-c", config).exit_code == 0
    assert run("enroll", "p-biden", train / "biden" / "biden.jpg", "--add",
               "-c", config).exit_code == 0
    found = lines(run("identify", faces_data / "two_people.jpg",
                      faces_data / "lin-manuel-miranda.png", "-c", config, "--json"))
    assert [[f["person"] for f in image["faces"]] for image in found] == [
        ["p-obama", "p-biden"], [None]]
    assert found[1]["faces"][0]["reason"] == "too_far"
    assert all(len(f["box"]) == 4 for image in found for f in image["faces"])
    listed = lines(run("list", "-c", config, "--json"))
    assert listed == [{"persons": [{"person": "p-biden", "encodings": 2},
                                   {"person": "p-obama", "encodings": 2}]}]
    assert lines(run("remove", "p-biden", "-c", config, "--json")) == [
        {"person": "p-biden", "removed": True}]
    assert run("remove", "p-biden", "-c", config).exit_code == 1


@pytest.mark.parametrize(("content", "message"), [
    ("two_people", "2 faces found"),
    ("wall", "no face found"),
    ("corrupt", "not a readable image"),
    ("empty", "empty file"),
    ("missing", "cannot read"),
])
def test_a_bad_photo_refuses_the_whole_enrolment(config: Path, faces_data: Path,
                                                 tmp_path: Path, content: str,
                                                 message: str) -> None:
    import cv2
    import numpy as np

    bad = tmp_path / f"{content}.png"
    if content == "two_people":
        bad = faces_data / "two_people.jpg"
    elif content == "wall":
        cv2.imwrite(str(bad), np.full((200, 300, 3), 90, np.uint8))
    elif content == "corrupt":
        bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    elif content == "empty":
        bad.write_bytes(b"")
    result = run("enroll", "p-1", faces_data / "obama.jpg", bad, "-c", config)
    assert result.exit_code == 2
    assert message in result.stderr and "Traceback" not in result.output
    assert lines(run("list", "-c", config, "--json")) == [{"persons": []}]


def test_compare_prints_one_line_per_pair(faces_data: Path) -> None:
    result = run("compare", faces_data / "obama.jpg", faces_data / "obama3.jpg",
                 faces_data / "biden.jpg", faces_data / "two_people.jpg", "--json")
    pairs = lines(result)
    assert [(Path(str(p["b"])).name, p["match"]) for p in pairs] == [
        ("obama3.jpg", True), ("biden.jpg", False), ("two_people.jpg", False)]
    assert isinstance(pairs[0]["distance"], float) and pairs[0]["distance"] < 0.6
    assert pairs[2]["distance"] is None and "2 faces found" in str(pairs[2]["error"])
    assert result.exit_code == 1  # one pair could not be compared


def test_compare_refuses_a_first_photo_without_one_face(faces_data: Path) -> None:
    result = run("compare", faces_data / "two_people.jpg", faces_data / "obama.jpg")
    assert result.exit_code == 2 and "2 faces found" in result.stderr


def test_a_bad_config_is_named(tmp_path: Path) -> None:
    result = run("list", "-c", tmp_path / "nope.toml")
    assert result.exit_code == 2 and "file not found" in result.stderr

"""dlib's face network run on numpy: the same encodings as dlib's own code, damaged model files
refused with a clear error, and a fallback to dlib when the weights cannot be used."""

from __future__ import annotations

import logging
from pathlib import Path

import face_recognition_models
import numpy as np
import pytest

from vision.faces import encode
from vision.faces.detect import FaceDetector
from vision.faces.resnet import FaceNetwork, ModelFormatError

pytest_plugins = ["tests.vision.faces.fixtures"]

MODEL = Path(face_recognition_models.face_recognition_model_location())
SAME = 1e-5  # measured ~1e-6; two people are ~0.5 apart, one person's photos up to 0.5


@pytest.fixture(scope="module")
def network() -> FaceNetwork:
    return FaceNetwork.load(MODEL)


@pytest.fixture
def fresh_engine():  # type: ignore[no-untyped-def]
    """The engine is chosen once per process; let a test choose again, and undo it after."""
    encode._engine.cache_clear()
    yield
    encode._engine.cache_clear()


def test_random_chips_encode_as_dlib_encodes_them(network: FaceNetwork) -> None:
    rng = np.random.default_rng(5)
    for _ in range(3):
        chip = rng.integers(0, 256, (150, 150, 3), np.uint8)
        ours = network.encode(chip)
        assert ours.shape == (128,) and ours.dtype == np.float64
        assert np.linalg.norm(ours - encode.dlib_encode_chip(chip)) < SAME


def test_real_faces_encode_as_dlib_encodes_them(network: FaceNetwork, clip: list[np.ndarray],
                                               encoder) -> None:  # type: ignore[no-untyped-def]
    frames = [100, 150, 230]  # Lin-Manuel Miranda twice, the other person once
    chips = [encoder.chip(clip[i], FaceDetector().detect(clip[i])[0]) for i in frames]
    ours = [network.encode(c) for c in chips]
    theirs = [encode.dlib_encode_chip(c) for c in chips]
    for a, b in zip(ours, theirs, strict=True):
        assert np.linalg.norm(a - b) < SAME
    # And the distances the gate decides on are dlib's: same person near, the other far.
    assert np.linalg.norm(ours[0] - ours[1]) < 0.6 < np.linalg.norm(ours[0] - ours[2])


def test_the_gate_encodes_with_the_numpy_network(fresh_engine: None) -> None:
    assert encode.encoder_engine() == "numpy"


def test_a_chip_of_the_wrong_size_is_refused(network: FaceNetwork) -> None:
    with pytest.raises(ValueError, match="150x150x3"):
        network.encode(np.zeros((100, 100, 3), np.uint8))


@pytest.mark.parametrize("damage", ["missing", "empty", "truncated", "garbage", "wrong_filters",
                                    "no_projection"])
def test_a_damaged_model_file_is_refused_by_name(tmp_path: Path, damage: str) -> None:
    data = MODEL.read_bytes()
    path = tmp_path / "model.dat"
    if damage == "empty":
        path.write_bytes(b"")
    elif damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(np.random.default_rng(1).bytes(1 << 20))
    elif damage == "wrong_filters":
        # The first convolution's filter count (32, just after its weights) said to be 16.
        at = data.index(b"\x01\x05con_4")
        end = at + 7 + 2 + 3 + 2 * 3 + 4 * 4736  # name, tensor version, 4 sizes, floats
        assert data[end:end + 2] == b"\x01\x20"
        path.write_bytes(data[:end] + b"\x01\x10" + data[end + 2:])
    elif damage == "no_projection":
        path.write_bytes(data[: data.index(b"\x01\x04fc_2")])
    with pytest.raises(ModelFormatError, match="model.dat"):
        FaceNetwork.load(path)


def test_unusable_weights_fall_back_to_dlib(fresh_engine: None, monkeypatch: pytest.MonkeyPatch,
                                            caplog: pytest.LogCaptureFixture) -> None:
    def refuse(path: object) -> FaceNetwork:
        raise ModelFormatError(f"{path}: not dlib's face-recognition ResNet")

    monkeypatch.setattr(FaceNetwork, "load", refuse)
    chip = np.random.default_rng(2).integers(0, 256, (150, 150, 3), np.uint8)
    with caplog.at_level(logging.WARNING, logger="vision.faces.encode"):
        assert encode.encoder_engine() == "dlib"
    assert "computed by dlib" in caplog.text
    assert np.array_equal(encode.encode_chip(chip), encode.dlib_encode_chip(chip))


def test_a_network_that_disagrees_with_dlib_is_not_used(
        fresh_engine: None, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    real = FaceNetwork.encode
    monkeypatch.setattr(FaceNetwork, "encode", lambda self, chip: real(self, chip) + 0.01)
    with caplog.at_level(logging.WARNING, logger="vision.faces.encode"):
        assert encode.encoder_engine() == "dlib"
    assert "differs from dlib" in caplog.text


def test_a_tensor_size_beyond_any_file_is_refused(tmp_path: Path) -> None:
    # The first weights said to be 2^64 - 1 floats long: refused, not an overflow.
    data = MODEL.read_bytes()
    at = data.index(b"\x01\x05con_4") + 7 + 2
    path = tmp_path / "model.dat"
    path.write_bytes(data[:at] + b"\x08" + b"\xff" * 8 + data[at + 3:])
    with pytest.raises(ModelFormatError, match="runs past the end"):
        FaceNetwork.load(path)


def test_a_network_giving_nan_is_not_used(fresh_engine: None,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # A damaged weight times the zero padding (which dlib skips) gives NaN only here.
    real = FaceNetwork.encode
    monkeypatch.setattr(FaceNetwork, "encode", lambda self, chip: real(self, chip) * np.nan)
    assert encode.encoder_engine() == "dlib"


def test_a_network_that_fails_to_run_is_not_used(fresh_engine: None,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: FaceNetwork, chip: np.ndarray) -> np.ndarray:
        raise ZeroDivisionError("stride 0")

    monkeypatch.setattr(FaceNetwork, "encode", broken)
    assert encode.encoder_engine() == "dlib"


@pytest.mark.parametrize("field, value", [(1, b"\x81\x03"), (3, b"\x00")])
def test_impossible_convolution_shapes_are_refused(tmp_path: Path, field: int,
                                                   value: bytes) -> None:
    # The first convolution's size said to be -3, or its stride 0.
    data = MODEL.read_bytes()
    at = data.index(b"\x01\x05con_4") + 7 + 2 + 3 + 2 * 3 + 4 * 4736
    reader_at = at
    for _ in range(field):  # skip the integers before the one to damage
        reader_at += 1 + (data[reader_at] & 0x0F)
    old = 1 + (data[reader_at] & 0x0F)
    damaged = data[:reader_at] + value + data[reader_at + old:]
    if field == 1:  # size is rows and columns: damage both
        cols = reader_at + len(value)
        damaged = damaged[:cols] + value + damaged[cols + 1 + (damaged[cols] & 0x0F):]
    path = tmp_path / "model.dat"
    path.write_bytes(damaged)
    with pytest.raises(ModelFormatError, match="impossible shape"):
        FaceNetwork.load(path)


def test_two_gates_in_one_process_keep_one_blas_thread_until_both_close(tmp_path: Path) -> None:
    from gpiozero.pins.mock import MockFactory
    from threadpoolctl import threadpool_info

    from edge.app import GateApp
    from edge.bench.faces import face_gate_settings
    from gate.clock import SystemClock

    def threads() -> set[int]:
        return {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}

    before = threads()
    first = GateApp(face_gate_settings(tmp_path / "a"), clock=SystemClock(),
                    pin_factory=MockFactory())
    second = GateApp(face_gate_settings(tmp_path / "b"), clock=SystemClock(),
                     pin_factory=MockFactory())
    assert threads() == {1}
    first.close()
    assert threads() == {1}
    second.close()
    second.close()  # closing twice releases once
    assert threads() == before

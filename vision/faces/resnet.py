"""dlib's face-encoding ResNet (the model face_recognition ships), run on numpy's BLAS.

dlib-bin is built without BLAS, so its own CPU loops take about 75 ms per face on the
development machine; the same weights in numpy matrix products take about 10 ms and give the
same 128 numbers (differences about 1e-6), so encodings from either are interchangeable. The
weights are read straight from dlib's model file: tensors there are little-endian float32 after
a small header of dlib's variable-length integers. The layer sequence is checked against the
architecture of dlib's `dnn_face_recognition_ex.cpp`; a file of any other shape is refused.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import as_strided

from vision.errors import VisionError

# input_rgb_image_sized<150>: each channel minus its training mean, over 256.
CHANNEL_MEANS = np.array([122.782, 117.001, 104.298], np.float32)
INPUT_SIZE = 150
# Layer markers as dlib serialises them: a length byte pair, then the layer's version string.
_MARKERS = re.compile(rb"\x01\x05con_4|\x01\x07affine_|\x01\x0aavg_pool_2|\x01\x04fc_2")


class ModelFormatError(VisionError, ValueError):
    """The model file is not dlib's face-recognition ResNet as this module knows it."""


@dataclass(frozen=True)
class _Conv:
    """A convolution with the following affine (batch-norm) layer folded into it."""

    weights: np.ndarray  # (size * size * inputs, outputs), rows ordered (y, x, channel)
    bias: np.ndarray
    size: int
    stride: int
    padding: int

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.padding:
            p = self.padding
            x = np.pad(x, ((p, p), (p, p), (0, 0)))
        height, width, channels = x.shape
        n, s = self.size, self.stride
        rows, cols = (height - n) // s + 1, (width - n) // s + 1
        sy, sx, sc = x.strides
        patches = as_strided(x, (rows, cols, n, n, channels), (sy * s, sx * s, sy, sx, sc))
        out = patches.reshape(rows * cols, n * n * channels) @ self.weights
        out += self.bias
        return out.reshape(rows, cols, -1)


@dataclass(frozen=True)
class _Block:
    """conv-affine-relu-conv-affine plus the shortcut (2x2 average when it halves the size)."""

    first: _Conv
    second: _Conv
    down: bool

    def __call__(self, x: np.ndarray) -> np.ndarray:
        y = self.second(np.maximum(self.first(x), 0))
        shortcut = _average_2x2(x) if self.down else x
        return np.maximum(_add_padded(y, shortcut), 0)


def _average_2x2(x: np.ndarray) -> np.ndarray:
    height, width, channels = x.shape
    rows, cols = height // 2, width // 2
    return x[:rows * 2, :cols * 2].reshape(rows, 2, cols, 2, channels).mean(axis=(1, 3))


def _max_3x3_stride_2(x: np.ndarray) -> np.ndarray:
    height, width, channels = x.shape
    rows, cols = (height - 3) // 2 + 1, (width - 3) // 2 + 1
    sy, sx, sc = x.strides
    return as_strided(x, (rows, cols, 3, 3, channels), (sy * 2, sx * 2, sy, sx, sc)).max(
        axis=(2, 3))


def _add_padded(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """dlib's add_prev: tensors of different sizes add where both exist, zeros elsewhere."""
    if a.shape == b.shape:
        return a + b
    shape = tuple(max(i, j) for i, j in zip(a.shape, b.shape, strict=True))
    out = np.zeros(shape, np.float32)
    out[:a.shape[0], :a.shape[1], :a.shape[2]] += a
    out[:b.shape[0], :b.shape[1], :b.shape[2]] += b
    return out


class _Reader:
    """dlib's serialisation: integers as a size byte (bit 7: negative) and that many bytes."""

    def __init__(self, data: bytes, at: int) -> None:
        self.data = data
        self.at = at

    def integer(self) -> int:
        if self.at >= len(self.data):
            raise ModelFormatError("the model file ends in the middle of a layer")
        head = self.data[self.at]
        size = head & 0x0F
        if size > 8:
            raise ModelFormatError(f"bad integer at byte {self.at}")
        value = int.from_bytes(self.data[self.at + 1:self.at + 1 + size], "little")
        self.at += 1 + size
        return -value if head & 0x80 else value

    def text(self) -> str:
        size = self.integer()
        value = self.data[self.at:self.at + size]
        self.at += size
        return value.decode("ascii", "replace")

    def tensor(self) -> np.ndarray:
        if (version := self.integer()) != 2:
            raise ModelFormatError(f"tensor format {version} at byte {self.at} (expected 2)")
        dims = [self.integer() for _ in range(4)]
        count = math.prod(dims)  # Python integers: a damaged size cannot overflow
        if min(dims) < 0 or self.at + 4 * count > len(self.data):
            raise ModelFormatError(f"tensor of shape {dims} runs past the end of the file")
        values = np.frombuffer(self.data, "<f4", count, self.at).astype(np.float32)
        self.at += 4 * count
        return values


class _ConvLayer(NamedTuple):
    params: np.ndarray  # filters (n, inputs, size, size), then one bias per filter
    filters: int
    size: int
    stride: int
    padding: int


class _AffineLayer(NamedTuple):
    params: np.ndarray  # one scale per channel, then one shift per channel


class _AverageLayer(NamedTuple):
    window: tuple[int, int, int, int]  # rows, columns, stride y, stride x; (0, 0, ..) = all


class _ProjectionLayer(NamedTuple):
    weights: np.ndarray
    inputs: int
    outputs: int


_Layer = _ConvLayer | _AffineLayer | _AverageLayer | _ProjectionLayer


def _layers(data: bytes) -> list[_Layer]:
    """The convolution, affine, pooling and fc layers in file order (input first)."""
    layers: list[_Layer] = []
    at = 0
    while True:
        # Search only past the last tensor read, so weights are never mistaken for markers.
        found = _MARKERS.search(data, at)
        if found is None:
            return layers
        start = found.start()
        reader = _Reader(data, start)
        name = reader.text()
        if name == "con_4":
            params = reader.tensor()
            filters, rows, cols, stride_y, stride_x, pad_y, pad_x = (
                reader.integer() for _ in range(7))
            if (rows != cols or stride_y != stride_x or pad_y != pad_x or filters <= 0
                    or rows <= 0 or stride_y <= 0 or pad_y < 0):
                raise ModelFormatError(f"convolution at byte {start} has an impossible shape")
            layers.append(_ConvLayer(params, filters, rows, stride_y, pad_y))
        elif name == "affine_":
            layers.append(_AffineLayer(reader.tensor()))
        elif name == "avg_pool_2":
            rows, cols, stride_y, stride_x = (reader.integer() for _ in range(4))
            layers.append(_AverageLayer((rows, cols, stride_y, stride_x)))
        else:
            outputs, inputs = reader.integer(), reader.integer()
            layers.append(_ProjectionLayer(reader.tensor(), inputs, outputs))
        at = reader.at


def _conv(con: _Layer, affine: _Layer, inputs: int) -> _Conv:
    if not isinstance(con, _ConvLayer) or not isinstance(affine, _AffineLayer):
        raise ModelFormatError("expected a convolution followed by its affine layer")
    params, filters, size, stride, padding = con
    scale_shift = affine.params
    expected = filters * inputs * size * size + filters
    if params.size != expected or scale_shift.size != 2 * filters:
        raise ModelFormatError(f"a {size}x{size} convolution with {filters} filters has "
                               f"{params.size} weights, expected {expected}")
    weights = params[:-filters].reshape(filters, inputs, size, size)
    gamma, beta = scale_shift[:filters], scale_shift[filters:]
    matrix = weights.transpose(2, 3, 1, 0).reshape(size * size * inputs, filters) * gamma
    return _Conv(np.ascontiguousarray(matrix, dtype=np.float32),
                 (params[-filters:] * gamma + beta).astype(np.float32), size, stride, padding)


class FaceNetwork:
    """The 128-number face encoding of aligned 150x150 RGB chips."""

    def __init__(self, data: bytes) -> None:
        layers = _layers(data)
        kinds = [type(layer) for layer in layers]
        if (len(layers) < 4 or kinds[:2] != [_ConvLayer, _AffineLayer]
                or kinds[-2:] != [_AverageLayer, _ProjectionLayer]):
            raise ModelFormatError("not dlib's face-recognition ResNet: unexpected layers")
        self._stem = _conv(layers[0], layers[1], 3)
        channels = self._stem.weights.shape[1]
        self._blocks: list[_Block] = []
        i = 2
        while i < len(layers) - 2:
            block = layers[i:i + 4]
            if kinds[i:i + 4] != [_ConvLayer, _AffineLayer, _ConvLayer, _AffineLayer]:
                raise ModelFormatError(f"layer {i}: expected a residual block")
            first = _conv(block[0], block[1], channels)
            second = _conv(block[2], block[3], first.weights.shape[1])
            i += 4
            if second.stride != 1 or second.padding != 1:
                raise ModelFormatError(f"layer {i - 2}: unexpected residual block")
            down = first.stride == 2
            if down:
                if layers[i] != _AverageLayer((2, 2, 2, 2)):
                    raise ModelFormatError(f"layer {i}: a halving block needs a 2x2 average")
                i += 1
            elif first.stride != 1 or first.padding != 1 or second.weights.shape[1] < channels:
                raise ModelFormatError(f"layer {i}: unexpected residual block")
            self._blocks.append(_Block(first, second, down))
            channels = second.weights.shape[1]
        projection = layers[-1]
        if not isinstance(projection, _ProjectionLayer):  # checked above; this tells mypy
            raise ModelFormatError("the network does not end in a projection")
        fc, inputs, outputs = projection
        if (layers[-2] != _AverageLayer((0, 0, 1, 1)) or inputs != channels
                or fc.size != inputs * outputs):
            raise ModelFormatError("the network does not end in an average and a projection")
        self._projection = fc.reshape(inputs, outputs)

    @classmethod
    def load(cls, path: Path | str) -> FaceNetwork:
        """Read the weights of dlib's dlib_face_recognition_resnet_model_v1.dat."""
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise ModelFormatError(f"{path}: cannot read the face model ({exc})") from exc
        try:
            return cls(data)
        except ModelFormatError as exc:
            raise ModelFormatError(f"{path}: {exc}") from exc

    def encode(self, chip: np.ndarray) -> np.ndarray:
        """The encoding (float64, 128) of one RGB chip (150x150x3 uint8)."""
        if chip.shape != (INPUT_SIZE, INPUT_SIZE, 3):
            raise ValueError(f"a face chip is {INPUT_SIZE}x{INPUT_SIZE}x3, not {chip.shape}")
        x = (chip.astype(np.float32) - CHANNEL_MEANS) * np.float32(1 / 256)
        x = _max_3x3_stride_2(np.maximum(self._stem(x), 0))
        for block in self._blocks:
            x = block(x)
        return (x.mean(axis=(0, 1)) @ self._projection).astype(np.float64)

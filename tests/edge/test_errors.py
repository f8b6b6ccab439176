"""Two roots of errors raised on purpose: gridgate's in gate, vision's own; edge expects both."""

from __future__ import annotations

import pytest

from edge.cli.output import friendly_errors
from edge.errors import EXPECTED_ERRORS
from gate.errors import ConfigError, GridgateError
from gate.faces.errors import EncodingError
from sync.platform import PlatformError
from vision.errors import CameraError, ImageError, VisionError
from vision.faces.errors import NoFaceError


def test_vision_errors_have_a_root_of_their_own() -> None:
    for error in (CameraError, ImageError, NoFaceError):
        assert issubclass(error, VisionError) and not issubclass(error, GridgateError)
    assert issubclass(CameraError, OSError) and issubclass(NoFaceError, ValueError)
    for error in (ConfigError, EncodingError, PlatformError):
        assert issubclass(error, GridgateError) and not issubclass(error, VisionError)
    assert set(EXPECTED_ERRORS) == {GridgateError, VisionError}


@pytest.mark.parametrize("error", [ConfigError("bad key"), NoFaceError("bad key: no face")])
def test_the_cli_shows_an_expected_error_as_one_line(
        capsys: pytest.CaptureFixture[str], error: Exception) -> None:
    @friendly_errors
    def command() -> None:
        raise error

    with pytest.raises(SystemExit) as exited:
        command()
    assert exited.value.code == 2
    assert capsys.readouterr().err == f"error: {error}\n"


def test_the_cli_keeps_the_traceback_of_a_bug() -> None:
    @friendly_errors
    def command() -> None:
        raise KeyError("a bug")

    with pytest.raises(KeyError):
        command()

"""`gridgate camera snapshot FILE`: save what a reader's camera sees, to aim and focus it."""

from __future__ import annotations

from pathlib import Path

import click
import cv2

from edge.cli.output import emit_json, friendly_errors, json_option
from edge.cli.state import config_option, open_settings
from vision.errors import CameraError, ImageError
from vision.sources import Backoff, open_source

WRITABLE = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


@click.group()
def camera() -> None:
    """Camera tools."""


@camera.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@config_option
@click.option("--reader", "reader_id", help="Whose camera [default: the first reader].")
@click.option("--source", help="A camera source to use instead of the config's "
              "(device index, file, URL, folder).")
@click.option("--skip", type=click.IntRange(0, 300), default=10, show_default=True,
              help="Frames to drop first, while the camera adjusts exposure.")
@json_option
@friendly_errors
def snapshot(file: Path, config: Path, reader_id: str | None, source: str | None, skip: int,
             as_json: bool) -> None:
    """Grab one frame from a reader's camera and save it as FILE (.jpg or .png)."""
    if file.suffix.lower() not in WRITABLE:
        raise ImageError(f"{file}: use one of {', '.join(sorted(WRITABLE))}")
    width, height, fps, spec, name = 640, 480, 15.0, source, "--source"
    if source is None or reader_id is not None:
        settings = open_settings(config)
        readers = [r for r in settings.readers if reader_id in (None, r.reader_id)]
        if not readers:
            known = ", ".join(r.reader_id for r in settings.readers)
            raise click.BadParameter(f"no reader {reader_id!r}; readers: {known}",
                                     param_hint="--reader")
        reader = readers[0]
        width, height, fps = reader.width, reader.height, reader.fps
        spec, name = source or reader.camera, reader.reader_id
    assert spec is not None
    frame = None
    with open_source(spec, width=width, height=height, fps=fps, realtime=False,
                     backoff=Backoff(max_attempts=3)) as frames:
        for frame in frames:
            if frame.seq > skip:
                break
    if frame is None:
        raise CameraError(f"camera {spec!r} delivered no frame")
    file.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(file), frame.image):
        raise ImageError(f"{file}: could not be written")
    h, w = frame.image.shape[:2]
    if as_json:
        emit_json({"file": str(file), "camera": spec, "reader": name, "width": w, "height": h,
                   "frame": frame.seq})
    else:
        click.echo(f"saved frame {frame.seq} of {spec!r} ({name}) as {file}: {w}x{h}")

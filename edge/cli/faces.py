"""`gridgate faces ...`: enrol faces, compare photos, identify, list and remove enrolled persons."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from edge.cli.output import emit_json, friendly_errors, json_option
from edge.cli.state import config_option, open_settings
from edge.reader.faces import open_set_rule
from edge.settings.faces import FacesSettings
from gate.faces.gallery import FaceGallery
from gate.registry import Registry
from gate.store import database_path, open_database
from vision.errors import ImageError

image_paths = click.argument("images", nargs=-1, required=True,
                             type=click.Path(dir_okay=False, path_type=Path))


def _gallery(config: Path) -> tuple[FaceGallery, Registry, FacesSettings]:
    settings = open_settings(config)
    db = open_database(database_path(settings.storage.state_dir))
    return FaceGallery(db), Registry(db), settings.faces


@click.group()
def faces() -> None:
    """Enrol residents' faces and check what the gate would make of a photo."""


@faces.command()
@click.argument("person")
@image_paths
@click.option("--add", is_flag=True, help="Keep the person's enrolled faces and add these.")
@config_option
@json_option
@friendly_errors
def enroll(person: str, images: tuple[Path, ...], add: bool, config: Path,
           as_json: bool) -> None:
    """Store the face encodings of PERSON from IMAGES (one face each; the images are not kept).

    Every image is checked first: one with no face or several faces refuses the whole
    enrolment and nothing is stored.
    """
    from vision.faces.encode import FaceEncoder
    from vision.faces.photos import load_photo, single_face

    gallery, registry, _ = _gallery(config)
    click.echo("loading the face detector and encoder models...", err=True)
    encoder = FaceEncoder()
    encodings = []
    # Progress on stderr: stdout stays the result (and JSON with --json).
    with click.progressbar(images, label=f"encoding {len(images)} photo(s) of {person}",
                           file=sys.stderr, item_show_func=lambda p: p and p.name) as bar:
        for path in bar:
            encodings.append(single_face(load_photo(path), encoder, str(path))[1].tolist())
    if add:
        gallery.add_encodings(person, encodings)
    else:
        gallery.replace_person(person, encodings)
    known = registry.person(person) is not None
    if not known:
        click.echo(f"warning: {person} is not in the registry yet; the face is kept and "
                   "will be used once the platform sends the person", err=True)
    total = gallery.counts().get(person, 0)
    if as_json:
        emit_json({"person": person, "added": len(encodings), "encodings": total,
                   "registered": known})
    else:
        click.echo(f"{person}: {len(encodings)} face(s) enrolled, {total} in all")


@faces.command()
@click.argument("first", type=click.Path(dir_okay=False, path_type=Path))
@image_paths
@click.option("--tolerance", type=click.FloatRange(0.1, 1.0),
              default=FacesSettings().tolerance, show_default=True,
              help="Largest distance that counts as the same person (one-to-one).")
@json_option
@friendly_errors
def compare(first: Path, images: tuple[Path, ...], tolerance: float, as_json: bool) -> None:
    """Compare the face in FIRST with the face in each of IMAGES; one line per pair.

    Exits with status 1 when a later image could not be compared (its line says why).
    """
    import numpy as np

    from vision.faces.encode import FaceEncoder
    from vision.faces.photos import load_photo, single_face

    encoder = FaceEncoder()
    _, reference = single_face(load_photo(first), encoder, str(first))
    failed = False
    for path in images:
        line: dict[str, Any] = {"a": str(first), "b": str(path)}
        try:
            _, encoding = single_face(load_photo(path), encoder, str(path))
        except ImageError as exc:
            failed = True
            line.update(distance=None, match=False, error=str(exc))
        else:
            distance = float(np.linalg.norm(reference - encoding))
            line.update(distance=round(distance, 4), match=distance <= tolerance)
        if as_json:
            emit_json(line)
        elif "error" in line:
            click.echo(f"{first} vs {path}: {line['error']}")
        else:
            verdict = "same person" if line["match"] else "different people"
            click.echo(f"{first} vs {path}: distance {line['distance']:.3f}, {verdict}")
    if failed:
        sys.exit(1)


@faces.command()
@image_paths
@config_option
@json_option
@friendly_errors
def identify(images: tuple[Path, ...], config: Path, as_json: bool) -> None:
    """Find every face in IMAGES and say who the gate would take it for.

    Each face gets its box (top, right, bottom, left), the person (null: unknown), the
    distance to the closest enrolled person and why it was or was not accepted.
    """
    from vision.faces.encode import FaceEncoder
    from vision.faces.identify import Identifier
    from vision.faces.photos import faces_in_photo, load_photo

    gallery, _, settings = _gallery(config)
    identifier = Identifier(gallery, open_set_rule(settings))
    encoder = FaceEncoder()
    for path in images:
        try:
            found = faces_in_photo(load_photo(path), encoder)
        except ImageError as exc:
            if as_json:
                emit_json({"file": str(path), "faces": [], "error": str(exc)})
            else:
                click.echo(f"{path}: {exc}")
            continue
        results: list[dict[str, Any]] = []  # JSON records
        for box, encoding in found:
            got = identifier.identify(encoding)
            results.append({
                "box": list(box), "person": got.person_id,
                "distance": None if got.distance is None else round(got.distance, 4),
                "closest": got.closest,
                "second_distance": (None if got.second_distance is None
                                    else round(got.second_distance, 4)),
                "tolerance": round(got.tolerance, 4), "reason": got.reason})
        if as_json:
            emit_json({"file": str(path), "faces": results})
            continue
        if not results:
            click.echo(f"{path}: no face")
        for face in results:
            who = face["person"] or f"unknown ({face['reason']})"
            distance = "" if face["distance"] is None else f", distance {face['distance']:.3f}"
            click.echo(f"{path}: {who} at {tuple(face['box'])}{distance}")


@faces.command("list")
@config_option
@json_option
@friendly_errors
def list_persons(config: Path, as_json: bool) -> None:
    """Every enrolled person and how many face encodings each has."""
    gallery, _, _ = _gallery(config)
    counts = gallery.counts()
    if as_json:
        emit_json({"persons": [{"person": p, "encodings": n} for p, n in counts.items()]})
        return
    for person, count in counts.items():
        click.echo(f"{person}\t{count}")
    click.echo(f"{len(counts)} person(s) enrolled", err=True)


@faces.command()
@click.argument("person")
@config_option
@json_option
@friendly_errors
def remove(person: str, config: Path, as_json: bool) -> None:
    """Forget PERSON's face encodings (their passes keep working)."""
    gallery, _, _ = _gallery(config)
    removed = gallery.remove_person(person)
    if as_json:
        emit_json({"person": person, "removed": removed})
    else:
        click.echo(f"{person}: {'removed' if removed else 'was not enrolled'}")
    if not removed:
        sys.exit(1)

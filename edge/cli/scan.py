"""`gridgate scan`: decode every QR code in images and verify each as a pass."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from edge.cli.output import emit_json, friendly_errors
from gate.passes import Revocations, TrustList, decode_unverified, verify_pass
from gate.passes.codec import PassFormatError
from vision.errors import ImageError
from vision.images import load_image
from vision.qr import make_decoder


def _compound_of(text: str) -> str:
    try:
        return decode_unverified(text)[1].compound_id
    except PassFormatError:
        return ""


@click.command()
@click.argument("images", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--trust", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Trust list JSON or a signing.pub file (PUBKEY_OR_TRUSTLIST).")
@click.option("--compound", help="Only passes of this compound are valid (default: any).")
@click.option("--revocations", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--decoder", type=click.Choice(["zxing", "pyzbar"]), default="zxing",
              show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per image.")
@friendly_errors
def scan(images: tuple[Path, ...], trust: Path, compound: str | None, revocations: Path | None,
         decoder: str, as_json: bool) -> None:
    """Decode each IMAGE and verify every code found in it."""
    trust_list = TrustList.load(trust)
    revoked = Revocations.load(revocations) if revocations else Revocations()
    qr = make_decoder(decoder)
    now = datetime.now(UTC)
    for path in images:
        found: list[dict[str, Any]] = []  # JSON records
        error = None
        try:
            codes = qr.decode(load_image(path))
        except ImageError as exc:
            error, codes = str(exc), []
        for code in codes:
            # Without --compound the pass is checked against its own compound claim.
            check = verify_pass(code.text, trust_list, revoked,
                                compound or _compound_of(code.text), now)
            claims = check.claims
            found.append({"text": code.text, "pass": {
                "valid": check.valid, "reason": check.reason.value, "detail": check.detail,
                "person": claims.person_id if claims else None,
                "colour": claims.colour.value if claims else None}})
        if as_json:
            emit_json({"file": str(path), "codes": found, **({"error": error} if error else {})})
            continue
        summary = "; ".join(f"{c['pass']['reason']} {c['pass']['person'] or ''}".strip()
                            for c in found)
        click.echo(f"{path}: {summary or error or 'no code'}")

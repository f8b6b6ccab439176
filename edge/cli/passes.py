"""`gridgate pass ...`: issue and verify signed passes (what the platform does, for installers)."""

from __future__ import annotations

import urllib.parse
import uuid
from datetime import UTC, datetime
from pathlib import Path

import click

from edge.cli.output import emit_json, friendly_errors, json_option
from edge.holder import write_page
from gate.model import Colour, PersonKind
from gate.passes import (
    PassClaims,
    Revocations,
    TrustList,
    encode_pass,
    load_signing_key,
    qr_version,
    verify_pass,
    write_qr_png,
)
from gate.passes.live import STEP_S, holder_key_text, parse_holder_key


class AwareDateTime(click.ParamType[datetime]):  # generic since click 8.4
    """ISO 8601 with an explicit offset: a pass must mean the same instant at every gate."""

    name = "ISO8601"

    def convert(self, value: object, param: click.Parameter | None,
                ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            parsed = datetime.fromisoformat(str(value))
        except ValueError:
            self.fail(f"{value!r} is not ISO 8601, e.g. 2026-12-31T23:59:59+08:00", param, ctx)
        if parsed.tzinfo is None:
            self.fail(f"{value!r} has no time zone; add an offset such as +08:00 (China) or Z "
                      "(UTC)", param, ctx)
        return parsed


def _claims_json(claims: PassClaims) -> dict[str, object]:
    return {"pass_id": claims.pass_id, "person": claims.person_id,
            "household": claims.household_id, "compound": claims.compound_id,
            "colour": claims.colour.value, "kind": claims.kind.value, "grid": claims.grid_id,
            "host_household": claims.host_household_id,
            "not_before": claims.not_before.isoformat(),
            "expires_at": claims.expires_at.isoformat(),
            "holder_key": holder_key_text(claims.holder_key) if claims.holder_key else None}


@click.group("pass")
def pass_group() -> None:
    """Signed pass QR codes."""


@pass_group.command()
@click.option("--key", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="signing.key of the issuer.")
@click.option("--person", required=True, help="Person id.")
@click.option("--colour", type=click.Choice([c.value for c in Colour]), required=True)
@click.option("--household", required=True, help="Household id.")
@click.option("--compound", required=True, help="Compound id the pass is for.")
@click.option("--valid-until", type=AwareDateTime(), required=True)
@click.option("--valid-from", type=AwareDateTime(), help="Default: now.")
@click.option("--grid", help="Grid id (alerts go to its grid workers).")
@click.option("--visitor", is_flag=True, help="A visitor pass (needs --host-household).")
@click.option("--host-household", help="The household a visitor visits.")
@click.option("--pass-id", help="Default: a random id.")
@click.option("--holder-key", help="Bind the pass to this phone: the key the holder page shows "
              "(43 characters). The pass then opens the gate only as the page's live code.")
@click.option("--page-url", help="With --holder-key: the holder page's address; prints the link "
              "that hands the pass to the phone (the pass rides in the #fragment, never sent).")
@click.option("--png", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the QR code image: of the pass, or of the link with "
              "--page-url.")
@json_option
@friendly_errors
def issue(key: Path, person: str, colour: str, household: str, compound: str,
          valid_until: datetime, valid_from: datetime | None, grid: str | None, visitor: bool,
          host_household: str | None, pass_id: str | None, holder_key: str | None,
          page_url: str | None, png: Path | None, as_json: bool) -> None:
    """Sign a pass, print its text (or the holder link) and write its QR code."""
    if visitor and not host_household:
        raise click.UsageError("--visitor needs --host-household")
    if page_url and not holder_key:
        raise click.UsageError("--page-url hands a bound pass to a phone: it needs --holder-key")
    now = datetime.now(UTC).replace(microsecond=0)
    valid_from = valid_from or now
    if valid_until <= valid_from:
        raise click.UsageError("--valid-until must be later than --valid-from")
    claims = PassClaims(
        pass_id=pass_id or uuid.uuid4().hex[:12], person_id=person, household_id=household,
        compound_id=compound, colour=Colour(colour), issued_at=valid_from,
        not_before=valid_from, expires_at=valid_until,
        kind=PersonKind.VISITOR if visitor else PersonKind.RESIDENT, grid_id=grid,
        host_household_id=host_household,
        holder_key=parse_holder_key(holder_key) if holder_key else None,
    )
    text = encode_pass(claims, load_signing_key(key))
    link = (f"{page_url.split('#', 1)[0]}#pass={urllib.parse.quote(text, safe='')}"
            if page_url else None)
    if png is not None:
        write_qr_png(link or text, png)
    version, level = qr_version(text)
    if as_json:
        emit_json({"text": text, "link": link, "png": png, "qr_version": version,
                   "qr_error": level, "claims": _claims_json(claims)})
    else:
        click.echo(link or text)


@pass_group.command()
@click.argument("text")
@click.option("--trust", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Trust list JSON or a signing.pub file.")
@click.option("--compound", required=True, help="The compound this gate belongs to.")
@click.option("--revocations", type=click.Path(dir_okay=False, path_type=Path))
@json_option
@friendly_errors
def verify(text: str, trust: Path, compound: str, revocations: Path | None,
           as_json: bool) -> None:
    """Verify a pass text offline; exit status 1 when it is not valid."""
    check = verify_pass(text, TrustList.load(trust),
                        Revocations.load(revocations) if revocations else Revocations(),
                        compound, datetime.now(UTC))
    if as_json:
        emit_json({"valid": check.valid, "reason": check.reason.value, "detail": check.detail,
                   "key_id": check.key_id,
                   "claims": _claims_json(check.claims) if check.claims else None})
    else:
        click.echo(f"{'valid' if check.valid else 'INVALID'}: {check.reason.value}: "
                   f"{check.detail}")
    if not check.valid:
        raise SystemExit(1)


@pass_group.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Directory to write the page into (created).")
@json_option
@friendly_errors
def page(out: Path, as_json: bool) -> None:
    """Write the holder page: the phone's own key, its bound pass, the live code every
    30 s. Serve the folder over https (WebCrypto keeps keys only in secure contexts)."""
    written = write_page(out)
    if as_json:
        emit_json({"out": out, "files": [p.name for p in written], "step_s": STEP_S})
    else:
        click.echo(f"wrote the holder page to {out}/index.html ({len(written)} files); serve "
                   "it over https and open it on the resident's phone")

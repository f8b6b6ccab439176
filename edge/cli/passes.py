"""`gridgate pass ...`: issue and verify signed passes (what the platform does, for installers)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import click

from edge.cli.output import emit_json, friendly_errors, json_option
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
            "expires_at": claims.expires_at.isoformat()}


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
@click.option("--png", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where to write the QR code image.")
@json_option
@friendly_errors
def issue(key: Path, person: str, colour: str, household: str, compound: str,
          valid_until: datetime, valid_from: datetime | None, grid: str | None, visitor: bool,
          host_household: str | None, pass_id: str | None, png: Path, as_json: bool) -> None:
    """Sign a pass, print its text and write its QR code."""
    if visitor and not host_household:
        raise click.UsageError("--visitor needs --host-household")
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
    )
    text = encode_pass(claims, load_signing_key(key))
    write_qr_png(text, png)
    version, level = qr_version(text)
    if as_json:
        emit_json({"text": text, "png": png, "qr_version": version, "qr_error": level,
                   "claims": _claims_json(claims)})
    else:
        click.echo(text)


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

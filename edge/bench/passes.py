"""`gridgate bench passes`: what verifying a pass and a live code costs, and their QR sizes."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.cli.output import emit_json
from gate.model import Colour, PersonKind
from gate.passes import (
    PassClaims,
    Revocations,
    TrustList,
    encode_pass,
    generate_signing_key,
    qr_version,
    verify_pass,
)
from gate.passes.ledger import LiveCodeLedger
from gate.passes.live import encode_live, public_raw

COMPOUND = "wenjiang-01"


def _claims(now: datetime, **changes: Any) -> PassClaims:
    values: dict[str, Any] = {
        "pass_id": "pass-001", "person_id": "p-101", "household_id": "h-1",
        "compound_id": COMPOUND, "colour": Colour.GREEN, "issued_at": now - timedelta(days=1),
        "not_before": now - timedelta(days=1), "expires_at": now + timedelta(days=30),
        "grid_id": "grid-7"}
    return PassClaims(**(values | changes))


def _timed(action: Callable[[], object], rounds: int) -> dict[str, float]:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    micro = np.array(times) * 1e6
    return {"p50_us": round(float(np.percentile(micro, 50)), 1),
            "p95_us": round(float(np.percentile(micro, 95)), 1)}


def measure(rounds: int, workdir: Path) -> dict[str, Any]:
    """Verify a printed pass and a live code `rounds` times each; time each verification."""
    now = datetime.now(UTC).replace(microsecond=0)
    platform, holder = generate_signing_key(), Ed25519PrivateKey.generate()
    trust = TrustList()
    trust.add(platform.key_id, platform.public_key)
    revocations = Revocations()
    plain = encode_pass(_claims(now), platform)
    visitor = encode_pass(_claims(now, person_id="V-20261122-0042", kind=PersonKind.VISITOR,
                                  host_household_id="h-1"), platform)
    bound = encode_pass(_claims(now, holder_key=public_raw(holder)), platform)
    live = encode_live(bound, holder, now)
    for text in (plain, live):  # a benchmark of refusals would measure the wrong path
        check = verify_pass(text, trust, revocations, COMPOUND, now)
        if not check.valid:
            raise click.ClickException(f"the benchmark's own pass does not verify: {check}")
    ledger = LiveCodeLedger.open(workdir / "gridgate.db")
    try:
        checked = {
            "plain_pass": _timed(lambda: verify_pass(plain, trust, revocations, COMPOUND, now),
                                 rounds),
            "live_code": _timed(lambda: verify_pass(live, trust, revocations, COMPOUND, now),
                                rounds),
            # What the checkpoint adds for a live code: is it in the compound's ledger?
            "ledger_lookup": _timed(lambda: ledger.used("pass-001", 1, "in"), rounds),
        }
    finally:
        ledger.close()
    sizes = {}
    for name, text in (("resident_pass", plain), ("visitor_pass", visitor),
                       ("bound_pass", bound), ("live_code", live)):
        version, level = qr_version(text)
        sizes[name] = {"characters": len(text), "qr_version": version, "qr_error": level,
                       "modules": 17 + 4 * version}
    return {"rounds": rounds, "verify": checked, "qr": sizes,
            "load_average_1m": round(os.getloadavg()[0], 2), "cpus": os.cpu_count()}


@click.command("passes")
@click.option("--rounds", type=click.IntRange(10, 1_000_000), default=5000, show_default=True,
              help="Verifications of each kind.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (the default output anyway).")
def bench_passes(rounds: int, as_json: bool) -> None:
    """Microseconds to verify a printed pass and a live code; QR versions of each kind."""
    with tempfile.TemporaryDirectory(prefix="gridgate-bench-passes-") as workdir:
        emit_json(measure(rounds, Path(workdir)))

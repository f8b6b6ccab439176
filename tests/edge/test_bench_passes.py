"""`gridgate bench passes` prints the cost of verifying a pass and a live code, and QR sizes."""

from __future__ import annotations

import json

from click.testing import CliRunner

from edge.cli.main import cli


def test_bench_passes_prints_its_figures_as_json() -> None:
    result = CliRunner().invoke(cli, ["bench", "passes", "--rounds", "50", "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    for kind in ("plain_pass", "live_code", "ledger_lookup"):
        assert 0 < figures["verify"][kind]["p50_us"] <= figures["verify"][kind]["p95_us"]
    qr = figures["qr"]
    assert qr["resident_pass"]["qr_version"] <= qr["live_code"]["qr_version"] <= 12
    assert qr["live_code"]["modules"] == 17 + 4 * qr["live_code"]["qr_version"]
    print(f"\nverify: {figures['verify']}; QR: "
          f"{ {k: v['qr_version'] for k, v in qr.items()} }")

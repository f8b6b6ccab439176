"""`gridgate bench journal` at a small size: a realistic journal is built through the journal
itself and every figure the issue names comes out, with sane values."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from edge.cli.main import cli


def test_bench_journal_prints_every_figure(tmp_path: Path) -> None:
    args = ["bench", "journal", "--passages", "3000", "--persons", "60", "--years", "0.2",
            "--rounds", "1", "--prune-batches", "2", "--dir", str(tmp_path), "--json"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output.splitlines()[-1])
    print(json.dumps(figures, indent=1))  # the figures, for whoever reads the test log
    assert figures["passages"] == 3000 and not figures["reused"]
    assert figures["own_passages"] + figures["peer_passages"] == 3000
    assert figures["door_events"] > 0 and figures["alerts"] > 0 and figures["denied"] > 0
    for name in ("who_is_out", "trajectory", "history", "contacts", "passages"):
        assert figures[f"{name}_ms"] > 0 and figures[f"{name}_cold_ms"] > 0, name
        assert figures[f"{name}_ms"] < 5000, name  # generous: a loaded test machine
    assert figures["trajectory_rows"] > 0 and figures["who_is_out_rows"] > 0
    assert figures["history_p95_ms"] >= figures["history_ms"]
    assert figures["cold_method"] in ("drop_caches", "posix_fadvise_dontneed")
    if figures["cold_method"] == "drop_caches":
        assert figures["cold_file_method"] == "posix_fadvise_dontneed"
        assert figures["trajectory_cold_file_ms"] > 0
    assert 40 < figures["bytes_per_passage"] < figures["file_bytes_per_passage"]
    assert figures["cli_first_byte_ms"] > 0 and figures["cli_lines"] >= 1
    assert 0 < figures["chain_us_per_passage"] < 1000  # well under a millisecond
    assert figures["verify_ok"] is True and figures["chain_records"] > 3000 / 3
    assert figures["prune_batches"] == 2 and figures["prune_lock_max_ms"] > 0
    assert len(figures["load_avg"]["before"]) == 3
    again = CliRunner().invoke(cli, args)  # the journal is kept and used again
    assert again.exit_code == 0 and json.loads(again.output.splitlines()[-1])["reused"]

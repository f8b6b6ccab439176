"""Printing decisions as they happen, for `run` and `demo`."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import click

from edge.cli.localtime import local_time
from edge.cli.output import emit_json
from gate.checkpoint import Outcome


def outcome_record(outcome: Outcome) -> dict[str, Any]:
    """The JSON shape of one outcome on the command line."""
    obs, decision = outcome.observation, outcome.decision
    claims = obs.pass_check.claims if obs.pass_check else None
    return {
        "at": obs.seen_at.isoformat(timespec="seconds"),
        "reader": obs.reader.reader_id,
        "direction": obs.reader.direction.value,
        "method": obs.method.value,
        "person": decision.person_id,
        "pass_id": claims.pass_id if claims else None,
        "colour": decision.colour.value if decision.colour else None,
        "granted": decision.granted,
        "rule": decision.rule,
        "reason_en": decision.reason_en,
        "reason_zh": decision.reason_zh,
        "released": outcome.released,
        "alerts": [a.kind for a in decision.alerts],
    }


def print_outcome(outcome: Outcome, as_json: bool, zone: ZoneInfo | None = None) -> None:
    """One line per decision: coloured for people (local time of `zone`), JSON (UTC) for
    machines."""
    record = outcome_record(outcome)
    if as_json:
        emit_json(record)
        return
    verdict = click.style("GRANTED", fg="green") if record["granted"] else click.style(
        "DENIED ", fg="red")
    alerts = f"  [alert: {', '.join(record['alerts'])}]" if record["alerts"] else ""
    click.echo(f"{local_time(outcome.observation.seen_at, zone)} {record['reader']:<8} {verdict} "
               f"{record['person'] or '-':<8} {record['colour'] or '-':<6} {record['rule']:<24} "
               f"{record['reason_en']} / {record['reason_zh']}{alerts}")

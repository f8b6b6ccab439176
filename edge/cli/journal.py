"""Reading the journal: `gridgate trajectory`, `who-is-out`, `contacts` and `passages`.

The journal holds the passages of every gate of the compound this gate has heard of (each row's
`gate_id` says whose), so each command answers for the whole compound. They are thin layers
over `gate.journal.JournalQueries`; times are shown in the policy's time zone.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

import click

from edge.cli.output import emit_json, friendly_errors, json_option
from edge.cli.state import config_option, open_settings, queries_of

MAX_WITHIN = timedelta(hours=24)
_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_NAIVE_HELP = ("ISO 8601, e.g. 2026-03-10T08:00+08:00; without an offset it is read in the "
               "policy's time zone (policy.timezone, Asia/Shanghai unless configured).")


class Duration(click.ParamType[timedelta]):  # generic since click 8.4
    """A duration such as 30s, 10m, 2h or 1h30m (at most 24h)."""

    name = "DURATION"

    def convert(self, value: object, param: click.Parameter | None,
                ctx: click.Context | None) -> timedelta:
        if isinstance(value, timedelta):
            return value
        text = str(value).strip().lower()
        match = _DURATION.fullmatch(text)
        if not text or match is None:
            self.fail(f"{value!r} is not a duration; use e.g. 30s, 10m, 2h or 1h30m",
                      param, ctx)
        hours, minutes, seconds = (int(g or 0) for g in match.groups())
        duration = timedelta(hours=hours, minutes=minutes, seconds=seconds)
        if not duration:
            self.fail(f"{value!r} is no time at all; use e.g. 30s, 10m or 2h", param, ctx)
        if duration > MAX_WITHIN:
            self.fail(f"{value!r} is longer than 24h", param, ctx)
        return duration


class IsoTime(click.ParamType[datetime]):  # generic since click 8.4
    """An ISO 8601 time; one without an offset stays naive here and is read in the policy's
    time zone by the command (`_in_zone`), which knows the configuration."""

    name = "ISO8601"

    def convert(self, value: object, param: click.Parameter | None,
                ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            return datetime.fromisoformat(str(value).strip())
        except ValueError:
            self.fail(f"{value!r} is not an ISO 8601 time, e.g. 2026-03-10T08:00+08:00",
                      param, ctx)


def _in_zone(when: datetime, zone: tzinfo) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=zone)


def _local(text: str, zone: tzinfo) -> str:
    return datetime.fromisoformat(text).astimezone(zone).isoformat(sep=" ", timespec="seconds")


def _line(row: dict[str, Any], zone: tzinfo) -> str:
    verdict = "granted" if row["granted"] else "DENIED "
    return (f"{_local(row['at'], zone)}  {row['direction']:<3}  {row['gate_id']:<10}  "
            f"{row['reader_id']:<10}  {verdict}  {row['method']:<9}  "
            f"{row['person_id'] or '-':<10}  {row['rule']}: {row['reason_en']}")


def _span(seconds: float) -> str:
    """4m05s, 42s, 1h02m05s."""
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _duration(duration: timedelta) -> str:
    """10m, 1h30m, 45s: as --within is written."""
    hours, rest = divmod(round(duration.total_seconds()), 3600)
    minutes, secs = divmod(rest, 60)
    return "".join(f"{n}{unit}" for n, unit in ((hours, "h"), (minutes, "m"), (secs, "s"))
                   if n) or "0s"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


@click.command()
@click.argument("person")
@config_option
@click.option("--limit", type=click.IntRange(1), help="Only the last N passages.")
@json_option
@friendly_errors
def trajectory(person: str, config: Path, limit: int | None, as_json: bool) -> None:
    """Print PERSON's passages in order at every gate of the compound (denied attempts
    included), each with its gate."""
    settings = open_settings(config)
    rows = queries_of(settings).trajectory(person, limit)
    if as_json:
        emit_json({"person_id": person, "passages": rows})
        return
    if not rows:
        click.echo(f"no passages recorded for {person}")
    for row in rows:
        click.echo(_line(row, settings.policy.zone))


@click.command("who-is-out")
@config_option
@json_option
@friendly_errors
def who_is_out(config: Path, as_json: bool) -> None:
    """List persons whose last granted passage, at any gate of the compound, was an exit,
    and the gate they left by."""
    settings = open_settings(config)
    rows = queries_of(settings).who_is_out()
    if as_json:
        emit_json({"out": rows, "count": len(rows), "compound_id": settings.gate.compound_id,
                   "journal_gate_id": settings.gate.gate_id})
        return
    zone = settings.policy.zone
    where = (f"compound {settings.gate.compound_id}, every gate whose passages "
             f"{settings.gate.gate_id} holds")
    if not rows:
        click.echo(f"nobody is out ({where})")
        return
    click.echo(f"{len(rows)} out ({where}):")
    for row in rows:
        click.echo(f"{row['person_id']:<12} household {row['household_id'] or '-':<10} "
                   f"out since {_local(row['at'], zone)} by gate {row['gate_id']} "
                   f"via {row['reader_id']}")


@click.command()
@click.argument("person")
@click.option("--within", type=Duration(), default="10m", show_default=True,
              help="How close in time to one of PERSON's passages: 30s, 10m, 2h, 1h30m "
              "(at most 24h).")
@click.option("--since", type=IsoTime(), metavar="ISO8601",
              help="Only PERSON's passages from this time on. " + _NAIVE_HELP)
@config_option
@json_option
@friendly_errors
def contacts(person: str, within: timedelta, since: datetime | None, config: Path,
             as_json: bool) -> None:
    """Everyone who passed the same gate within --within of one of PERSON's granted
    passages, at every gate of the compound (what a grid worker asks when a resident tests
    positive).

    Grouped by contact person: which gate, when, how close in time and near which of
    PERSON's passages. --json prints a list of records: the passage columns, plus gap_s
    (seconds), near_event_id and near_at (PERSON's passage).
    """
    settings = open_settings(config)
    zone = settings.policy.zone
    queries = queries_of(settings)
    start = _in_zone(since, zone) if since is not None else None
    rows = queries.contacts(person, within, since=start)
    if as_json:
        emit_json(rows)
        return
    span = _duration(within)
    since_text = f" since {start.astimezone(zone).isoformat(sep=' ', timespec='seconds')}" \
        if start else ""
    if not rows:
        if not queries.trajectory(person, 1):
            click.echo(f"no passages recorded for {person}")
        else:
            click.echo(f"nobody passed the same gate within {span} of {person}'s "
                       f"passages{since_text}")
        return
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row["person_id"], []).append(row)
    click.echo(f"{_count(len(groups), 'contact')} of {person} within {span}{since_text}, at every "
               f"gate of compound {settings.gate.compound_id} (times in {zone}):")
    for contact, passages in groups.items():
        household = passages[0]["household_id"] or "-"
        click.echo(f"{contact}  household {household}  {_count(len(passages), 'passage')}")
        for row in passages:
            offset = (datetime.fromisoformat(row["at"]) - datetime.fromisoformat(row["near_at"])
                      ).total_seconds()
            when = ("at the same time as" if not row["gap_s"] else
                    f"{_span(row['gap_s'])} {'after' if offset > 0 else 'before'}")
            click.echo(f"    {_local(row['at'], zone)}  gate {row['gate_id']:<10} "
                       f"{row['reader_id']:<10} {row['direction']:<3}  {when} {person}'s "
                       f"passage of {_local(row['near_at'], zone)} "
                       f"(event {row['near_event_id']})")


@click.command()
@click.option("--gate", "gate_id", metavar="GATE_ID",
              help="Only this gate's passages (default: every gate of the compound).")
@click.option("--from", "start", type=IsoTime(), required=True, metavar="ISO8601",
              help="From this time (inclusive). " + _NAIVE_HELP)
@click.option("--to", "end", type=IsoTime(), metavar="ISO8601",
              help="Up to this time (exclusive; default: now). Same form as --from.")
@config_option
@json_option
@friendly_errors
def passages(gate_id: str | None, start: datetime, end: datetime | None, config: Path,
             as_json: bool) -> None:
    """Passages (granted and denied) from --from to --to, oldest first, at one gate or at
    every gate of the compound. --json prints a list of records."""
    settings = open_settings(config)
    zone = settings.policy.zone
    start = _in_zone(start, zone)
    end = _in_zone(end, zone) if end is not None else datetime.now(UTC)
    if end <= start:
        raise click.BadParameter(f"{end.isoformat()} is not later than --from "
                                 f"{start.isoformat()}", param_hint="'--to'")
    rows = queries_of(settings).passages_between(start, end, gate_id=gate_id)
    if as_json:
        emit_json(rows)
        return
    if not rows:
        where = f"at gate {gate_id}" if gate_id else "at any gate"
        click.echo(f"no passages {where} from {start.astimezone(zone).isoformat()} to "
                   f"{end.astimezone(zone).isoformat()}")
    for row in rows:
        click.echo(_line(row, zone))


@click.group("journal")
def journal_group() -> None:
    """The journal itself: check that no one edited it."""


@journal_group.command()
@click.option("--at", "place", type=click.IntRange(1), metavar="PLACE",
              help="Also print the link of this place of the chain, computed from the records "
              "as they read now: it must equal the one the gate sent the platform then.")
@config_option
@json_option
@friendly_errors
def verify(place: int | None, config: Path, as_json: bool) -> None:
    """Walk the journal's hash chain (passages, alerts, door events, prune and wipe notes, in
    the order written) and report the first broken link: the table, the row and what is
    wrong. Exit status 1 when the chain is broken. The head (place and link) goes to the
    platform with the gate's state message every minute."""
    from gate.journal.verify import verify as walk

    verdict = walk(queries_of(open_settings(config)), at=place)
    if as_json:
        emit_json(verdict.as_dict())
    elif verdict.broken is None:
        click.echo(f"the chain holds: {verdict.records} records checked, {verdict.removed} "
                   f"removed by prunes and wipes; head {verdict.head_seq} "
                   f"{verdict.head_link}")
        if place is not None:
            click.echo(f"place {place}: " + (verdict.link_at or "removed by a prune or wipe"))
    else:
        b = verdict.broken
        where = f"{b.table} id {b.id}" if b.id is not None else b.table
        at = f" (place {b.seq} of the chain)" if b.seq is not None else ""
        click.echo(f"BROKEN at {where}{at}: {b.what}")
    if verdict.broken is not None:
        raise SystemExit(1)

"""Printing results for people and for machines (`--json`), and turning errors into exits."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import ParamSpec, TypeVar

import click

from edge.errors import EXPECTED_ERRORS

P = ParamSpec("P")
R = TypeVar("R")

json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")


def _default(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def to_json(value: object) -> str:
    """Compact one-line JSON with dates, enums and paths as strings."""
    return json.dumps(value, default=_default, ensure_ascii=False, separators=(",", ":"))


def emit_json(value: object) -> None:
    """Print one JSON document on its own line and flush (consumers read line by line)."""
    click.echo(to_json(value))
    sys.stdout.flush()


def friendly_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Show an error gridgate or vision raises on purpose (`EXPECTED_ERRORS`) as one clear
    message and exit with status 2, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except EXPECTED_ERRORS as exc:
            click.echo(f"error: {exc}", err=True)
            raise SystemExit(2) from None

    return wrapper

"""Config family: the file exists, is TOML, validates; every problem names its key and fix."""

from __future__ import annotations

import typing
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from edge.doctor.context import DoctorContext
from edge.doctor.findings import Finding, fail, ok, warn
from edge.settings import Settings

EXAMPLE = "config/gridgate.example.toml (installed as /etc/gridgate/gridgate.example.toml)"


def key_path(loc: tuple[Any, ...]) -> str:
    """'readers[0].relay_pin' from pydantic's ('readers', 0, 'relay_pin')."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The settings model that holds the key at `loc` (to list its known keys)."""
    model: type[BaseModel] = Settings
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        info = model.model_fields.get(str(part))
        if info is None:
            return None
        annotation = info.annotation
        for candidate in (annotation, *typing.get_args(annotation)):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                model = candidate
                break
        else:
            return None
    return model


def _finding(error: ErrorDetails) -> Finding:
    loc = tuple(error["loc"])
    key = key_path(loc)
    value = error.get("input")
    kind = error["type"]
    check = "config.valid"
    if kind == "extra_forbidden":
        model = _model_at(loc)
        known = ", ".join(model.model_fields) if model is not None else ""
        return fail(check, f"unknown key {key} = {value!r}",
                    f"remove it or correct its spelling; known keys here: {known}")
    if kind == "missing":
        return fail(check, f"{key} is missing",
                    f"add it; {EXAMPLE} shows it with a sample value")
    message = error["msg"].removeprefix("Value error, ")
    if not loc:  # a check across keys: the message names the keys itself
        what, _, how = message.partition("; ")
        return fail(check, what, how or "see docs/configuration.md")
    shown = "" if isinstance(value, dict | list) else f" = {value!r}"
    return fail(check, f"{key}{shown} is not allowed", f"{key}: {message}")


def check(context: DoctorContext) -> Iterator[Finding]:
    """Is the file there, TOML, and a valid configuration?"""
    path = context.config_path
    if context.settings is not None:
        s = context.settings
        yield ok("config.valid", f"{path} is valid: gate {s.gate.gate_id} of "
                 f"{s.gate.compound_id}, {len(s.readers)} reader(s)")
        return
    if not path.exists():
        yield fail("config.valid", f"{path} does not exist",
                   f"write one with `sudo gridgate init --config {path}`")
    elif context.raw is None:
        problem = context.settings_error.problems[0] if context.settings_error else "unreadable"
        yield fail("config.valid", f"{path}: {problem}",
                   "fix the TOML syntax at the line named (strings need quotes, tables are "
                   "[name]); `gridgate config check FILE` checks again")
    else:
        try:
            Settings.model_validate(context.raw)
        except ValidationError as exc:
            for error in exc.errors():
                yield _finding(error)
    if context.last_good is not None and context.last_good.is_file():
        saved = datetime.fromtimestamp(context.last_good.stat().st_mtime, UTC)
        yield warn("config.last_good",
                   f"the service keeps running on the last good configuration "
                   f"{context.last_good} (saved {saved:%Y-%m-%d %H:%M} UTC), not on {path}",
                   "fix the problems above, check with `gridgate config check`, then "
                   "`sudo systemctl restart gridgate`")
    yield warn("config.skipped", "checks that need a valid configuration were skipped",
               "fix the configuration and run `gridgate doctor` again")

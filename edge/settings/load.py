"""Load the TOML file and turn validation failures into messages that name key, value and fix."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import date, time
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from edge.settings.model import Settings
from gate.errors import ConfigError


@dataclass(frozen=True)
class Problem:
    """One problem in parts, so the panel can say it in the reader's language: the key path
    as written, the value as the file has it, the kind (pydantic's error type, or the
    loader's own) with its parameters; `text` is the English line."""

    text: str
    key: str | None = None
    value: str | None = None
    kind: str | None = None
    params: dict[str, str] = field(default_factory=dict)


class SettingsError(ConfigError):
    """The configuration file is unreadable or invalid; `problems` lists one line per key,
    `details` the same problems in parts."""

    def __init__(self, source: str, problems: list[str],
                 details: list[Problem] | None = None) -> None:
        self.source = source
        self.problems = problems
        self.details = (details if details is not None and len(details) == len(problems)
                        else [Problem(p) for p in problems])
        super().__init__(f"{source}: invalid configuration:\n  " + "\n  ".join(problems))


def _key_path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "(top level)"


# What a value of the wrong type must be instead, by pydantic's error type (strict mode).
_EXPECTED = {
    "int_type": "must be an integer: a whole number without quotes, e.g. 17",
    "int_from_float": "must be an integer: a whole number without quotes, e.g. 17",
    "float_type": "must be a number without quotes, e.g. 3 or 2.5",
    "finite_number": "must be a finite number (not inf or nan)",
    "bool_type": "must be true or false, without quotes",
    "list_type": "must be a list in square brackets, e.g. [\"a\", \"b\"]",
    "frozen_set_type": "must be a list in square brackets, e.g. [\"a\", \"b\"]",
    "path_type": "must be a path: a string in quotes, e.g. \"/etc/gridgate/trust.json\"",
}


def _fix_for(error: ErrorDetails) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "remove it or check its spelling against config/gridgate.example.toml"
    if kind == "missing":
        return "add it; config/gridgate.example.toml shows an example"
    if kind == "string_type":
        value = error.get("input")
        if isinstance(value, bool | int | float | date | time):
            return f"must be a string in quotes: \"{_shown(value)}\""
        return "must be a string in quotes, e.g. \"...\""
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        name = _key_path(tuple(error["loc"]))
        table = f"[{name}]" if not name.endswith("]") else f"[[{name.rsplit('[', 1)[0]}]]"
        return f"must be a table of keys: write them under {table}"
    if kind in _EXPECTED:
        return _EXPECTED[kind]
    return error["msg"].removeprefix("Value error, ")


def _shown(value: Any) -> str:
    """A value as the file writes it: true/false, dates and times as TOML has them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, str | list):
        return repr(value)
    return str(value)


# A whole-file check names its keys itself ("door.exit_button_pin: GPIO 17 is ...").
_NAMES_ITS_KEY = re.compile(r"^[a-z_]+(\[\d+\])?(\.[a-z_]+(\[\d+\])?)*( = |: )")


def _params(error: ErrorDetails) -> dict[str, str]:
    """What a translated fix may name: pydantic's context (bounds, choices) and ours."""
    params = {name: str(value) for name, value in (error.get("ctx") or {}).items()}
    value = error.get("input")
    if error["type"] == "string_type" and isinstance(value, bool | int | float | date | time):
        params["shown"] = _shown(value)
    if error["type"] in ("model_type", "dict_type", "model_attributes_type"):
        params["table"] = _fix_for(error).rsplit(" ", 1)[-1]
    return params


def describe_errors(exc: ValidationError) -> list[Problem]:
    """One problem per error: the line `key.path = value: fix`, and its parts."""
    problems = []
    for error in exc.errors():
        fix = _fix_for(error)
        if not error["loc"] and _NAMES_ITS_KEY.match(fix):
            problems.append(Problem(fix, kind=error["type"]))
            continue
        key = _key_path(tuple(error["loc"]))
        value = error.get("input")
        shown = ("" if error["type"] == "missing" or isinstance(value, dict)
                 else _shown(value))
        problems.append(Problem(f"{key}{' = ' + shown if shown else ''}: {fix}", key, shown,
                                error["type"], _params(error)))
    return problems


def format_errors(exc: ValidationError) -> list[str]:
    """One line per problem: `key.path = value: fix`."""
    return [problem.text for problem in describe_errors(exc)]


def parse_settings(data: dict[str, Any], source: str = "<config>") -> Settings:
    """Validate an already-parsed TOML document."""
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        details = describe_errors(exc)
        raise SettingsError(source, [d.text for d in details], details) from None


def _one(path: Path, text: str, kind: str, **params: str) -> SettingsError:
    """The error for a file that cannot be read as settings at all."""
    return SettingsError(str(path), [text], [Problem(text, kind=kind, params=params)])


def load_settings(path: Path | str) -> Settings:
    """Read and validate one TOML file; relative paths in it are taken from the file's folder."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _one(path, "file not found; create it with `gridgate init`",
                   "file_not_found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _one(path, f"cannot read the file: {exc}", "unreadable", error=str(exc)) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _one(path, f"not valid TOML: {exc}", "toml", error=str(exc)) from None
    settings = parse_settings(data, str(path))
    return _resolve_paths(settings, path.parent.resolve())


def _resolve_paths(settings: Settings, base: Path) -> Settings:
    def fix(p: Path | None) -> Path | None:
        return p if p is None or p.is_absolute() else base / p

    passes = settings.passes.model_copy(
        update={"trust_list": fix(settings.passes.trust_list),
                "revocations": fix(settings.passes.revocations)}
    )
    storage = settings.storage.model_copy(update={"state_dir": fix(settings.storage.state_dir)})
    readers = [
        r.model_copy(update={"camera": str(base / r.camera)})
        if _is_relative_file(r.camera, base) else r
        for r in settings.readers
    ]
    panel = settings.panel.model_copy(update={
        "tls_cert": fix(settings.panel.tls_cert), "tls_key": fix(settings.panel.tls_key),
        "visitor_key": fix(settings.panel.visitor_key)})
    display = settings.display.model_copy(
        update={"prompts_dir": fix(settings.display.prompts_dir)})
    return settings.model_copy(update={"passes": passes, "storage": storage, "readers": readers,
                                       "mqtt": settings.mqtt.with_base(base), "panel": panel,
                                       "display": display})


def _is_relative_file(camera: str, base: Path) -> bool:
    if camera.isdigit() or "://" in camera or Path(camera).is_absolute():
        return False
    return (base / camera).exists()

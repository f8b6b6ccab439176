"""Load the TOML file and turn validation failures into messages that name key, value and fix."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from edge.settings.model import Settings
from gate.errors import ConfigError


class SettingsError(ConfigError):
    """The configuration file is unreadable or invalid; `problems` lists one line per key."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: invalid configuration:\n  " + "\n  ".join(problems))


def _key_path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "(top level)"


def _fix_for(error: ErrorDetails) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "remove it or check its spelling against config/gridgate.example.toml"
    if kind == "missing":
        return "add it; config/gridgate.example.toml shows an example"
    return error["msg"].removeprefix("Value error, ")


def format_errors(exc: ValidationError) -> list[str]:
    """One line per problem: `key.path = value: fix`."""
    lines = []
    for error in exc.errors():
        key = _key_path(tuple(error["loc"]))
        value = error.get("input")
        shown = "" if error["type"] == "missing" or isinstance(value, dict) else f" = {value!r}"
        lines.append(f"{key}{shown}: {_fix_for(error)}")
    return lines


def parse_settings(data: dict[str, Any], source: str = "<config>") -> Settings:
    """Validate an already-parsed TOML document."""
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise SettingsError(source, format_errors(exc)) from None


def load_settings(path: Path | str) -> Settings:
    """Read and validate one TOML file; relative paths in it are taken from the file's folder."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SettingsError(str(path), ["file not found; create it with `gridgate init`"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(str(path), [f"cannot read the file: {exc}"]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(str(path), [f"not valid TOML: {exc}"]) from None
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
    return settings.model_copy(update={"passes": passes, "storage": storage, "readers": readers,
                                       "mqtt": settings.mqtt.with_base(base), "panel": panel})


def _is_relative_file(camera: str, base: Path) -> bool:
    if camera.isdigit() or "://" in camera or Path(camera).is_absolute():
        return False
    return (base / camera).exists()

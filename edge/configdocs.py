"""docs/configuration.md and config/gridgate.example.toml, generated from the settings model.

Both come from the field descriptions, defaults and constraints of `edge.settings.Settings`,
so they cannot drift from the code: a test regenerates them and compares with the committed
files. Required keys need a sample value for the example; EXAMPLES holds them by key path.
"""

from __future__ import annotations

import textwrap
import types
import typing
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Literal

import tomli_w
from pydantic import BaseModel, TypeAdapter
from pydantic.fields import FieldInfo

from edge.settings import Settings

# Sample values for keys without a default (and for some unset optional ones), by key path.
EXAMPLES: dict[str, Any] = {
    "gate.gate_id": "gate-east",
    "gate.compound_id": "wenjiang-01",
    "readers.reader_id": "in-cam",
    "readers.direction": "in",
    "readers.camera": "0",
    "readers.relay_pin": 17,
    "passes.trust_list": "/etc/gridgate/trust.json",
    "passes.revocations": "/etc/gridgate/revocations.txt",
    "door.exit_button_pin": 27,
    "door.door_contact_pin": 22,
    "mqtt.host": "broker.example.org",
    "mqtt.port": 8883,
    "mqtt.username": "gate-east",
    "mqtt.password_file": "/etc/gridgate/mqtt.password",
    "mqtt.ca_file": "/etc/gridgate/broker-ca.pem",
    "mqtt.webhooks.name": "grid-workers",
    "mqtt.webhooks.url_file": "/etc/gridgate/webhook.url",
    "policy.yellow.exit_window": "08:00-18:00",
    "signals.readers.reader_id": "in-cam",
    "signals.readers.green_pin": 5,
    "signals.readers.red_pin": 6,
    "signals.readers.amber_pin": 13,
    "signals.readers.buzzer_pin": 19,
    "display.prompts_dir": "/opt/gridgate/share/gridgate/prompts",
    "display.screens.reader_id": "in-cam",
    "display.screens.port": 8091,
}

_PLACEHOLDERS = {"path": "/path/to/file", "string": "...", "integer": 0, "number": 0.0}

_TYPES = """\
Every value has the type the tables give, and nothing is converted from another type:
`relay_pin = true`, `relay_pin = "17"` and `relay_pin = 17.0` are errors (not GPIO 1 or 17), as
are `relay_active_high = "off"` and `open_seconds = "5"`. A boolean is `true` or `false`
without quotes; a number may be written as an integer (`open_seconds = 5`) or with a decimal
point, and is finite (not inf or nan); paths, names such as 'in' or 'out', and each colour of
a list are strings in quotes; dates and time windows (`period_anchor`, `exit_window`) are
strings as well ("2026-03-11", "08:00-18:00"), not TOML dates or times."""

_CROSS_CHECKS = """\
Besides the rules of each key, the whole file is checked: reader ids are unique; a GPIO pin
serves one function only (several readers may share one door relay, nothing else may share a
pin); keys that go together (a certificate and its key, a password file and its user name)
are set together; face rules (`policy.face_match_required`, `policy.liveness_required`) need
`faces.enabled = true`, since a gate without faces checks no face."""


@dataclass
class KeyDoc:
    """One key of a section."""

    name: str
    path: str
    kind: str
    required: bool
    default: Any  # JSON-mode value; None when unset
    constraints: list[str]
    description: str


@dataclass
class SectionDoc:
    """One TOML table (or array of tables) and its keys."""

    path: str
    array: bool
    title: str
    description: str
    keys: list[KeyDoc] = field(default_factory=list)
    required: bool = False


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return annotation, False


def _model_of(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """The model class of a section field and whether it is a list of them."""
    annotation, _ = _unwrap_optional(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    if typing.get_origin(annotation) is list:
        (item,) = typing.get_args(annotation)
        if isinstance(item, type) and issubclass(item, BaseModel):
            return item, True
    return None, False


def _one_of(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def type_name(annotation: Any) -> str:
    """A reader's name for a field type: 'integer', "'in' or 'out'", 'list of string'."""
    annotation, optional = _unwrap_optional(annotation)
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return _one_of([repr(v) for v in typing.get_args(annotation)])
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return _one_of([repr(m.value) for m in annotation])
    if origin in (list, set, frozenset, tuple):
        args = [a for a in typing.get_args(annotation) if a is not Ellipsis]
        return "list of " + (type_name(args[0]) if args else "values")
    if origin is dict:
        key, value = typing.get_args(annotation)
        return f"table of {type_name(key)} to {type_name(value)}"
    names = {bool: "boolean", int: "integer", float: "number", str: "string", Path: "path"}
    if annotation in names:
        return names[annotation]
    if origin in (typing.Union, types.UnionType):
        return " or ".join(type_name(a) for a in typing.get_args(annotation))
    return getattr(annotation, "__name__", str(annotation))


def constraints_of(info: FieldInfo) -> list[str]:
    """The bounds of a field in words: '>= 0', '<= 27', 'at least 1 item', pattern."""
    words = []
    symbols = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<", "multiple_of": "multiple of"}
    for item in info.metadata:
        for attr, symbol in symbols.items():
            value = getattr(item, attr, None)
            if value is not None:
                words.append(f"{symbol} {value:g}" if isinstance(value, float) else
                             f"{symbol} {value}")
        if getattr(item, "min_length", None) is not None:
            words.append(f"at least {item.min_length} long")
        if getattr(item, "max_length", None) is not None:
            words.append(f"at most {item.max_length} long")
        if getattr(item, "pattern", None) is not None:
            words.append(f"matches `{item.pattern}`")
    return words


def _json_default(info: FieldInfo) -> Any:
    if info.is_required():
        return None
    value = info.get_default(call_default_factory=True)
    if value is None:
        return None
    annotation = Any if info.annotation is None else info.annotation  # None: unannotated
    dumped = TypeAdapter(annotation).dump_python(value, mode="json")
    if isinstance(value, set | frozenset):
        dumped = sorted(dumped)  # sets have no order; the files must be reproducible
    return dumped


def _first_paragraph(text: str | None) -> str:
    return " ".join((text or "").strip().split("\n\n")[0].split())


def sections(model: type[BaseModel] = Settings, path: str = "") -> list[SectionDoc]:
    """Every table of the configuration in file order, nested tables after their parent."""
    found: list[SectionDoc] = []
    for name, info in model.model_fields.items():
        child, array = _model_of(info.annotation)
        if child is None:
            continue
        child_path = f"{path}.{name}" if path else name
        doc = SectionDoc(
            path=child_path, array=array, title=_first_paragraph(child.__doc__),
            description=info.description or "", required=info.is_required(),
        )
        for key_name, key_info in child.model_fields.items():
            if _model_of(key_info.annotation)[0] is not None:
                continue
            doc.keys.append(KeyDoc(
                name=key_name, path=f"{child_path}.{key_name}",
                kind=type_name(key_info.annotation), required=key_info.is_required(),
                default=_json_default(key_info), constraints=constraints_of(key_info),
                description=key_info.description or "",
            ))
        found.append(doc)
        found.extend(sections(child, child_path))
    return found


def missing_descriptions(model: type[BaseModel] = Settings, path: str = "") -> list[str]:
    """Key paths whose field has no description (each must have one: the docs show it)."""
    missing = []
    for name, info in model.model_fields.items():
        key = f"{path}.{name}" if path else name
        if not info.description and _model_of(info.annotation)[0] is None:
            missing.append(key)
        child = _model_of(info.annotation)[0]
        if child is not None:
            missing.extend(missing_descriptions(child, key))
    return missing


def toml_value(value: Any) -> str:
    """A value as TOML writes it, on one line."""
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    return tomli_w.dumps({"v": value}).strip().removeprefix("v = ")


def _comment(text: str) -> list[str]:
    return textwrap.wrap(text, width=98, initial_indent="# ", subsequent_indent="# ",
                         break_on_hyphens=False) or ["#"]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown() -> str:
    """The text of docs/configuration.md."""
    lines = [
        "# Configuration reference",
        "",
        "<!-- Generated by `gridgate config docs` from the settings model in edge/settings/."
        " Do not edit by hand: a test fails when this file and the model differ. -->",
        "",
        "gridgate reads one TOML file, by default `/etc/gridgate/gridgate.toml`. Unknown keys are "
        "errors (a misspelt key is never silently ignored), and every error names the key, the "
        "value and the fix. Relative paths are taken from the folder of the file.",
        "",
        "- `gridgate init` writes a first file from a few questions.",
        "- `gridgate config check FILE` validates a file, including the files it names.",
        "- `gridgate config install FILE` validates a file and only then replaces the "
        "configuration, atomically; a bad file never replaces a good one.",
        "- The service keeps a copy of the last configuration that started it "
        "(`/var/lib/gridgate/last-good.toml`); if the file is later broken it logs the problems "
        "and runs on that copy, with every relay driven locked.",
        "- `config/gridgate.example.toml` shows every key.",
        "",
        _TYPES.replace("\n", " "),
        "",
        _CROSS_CHECKS.replace("\n", " "),
        "",
    ]
    for section in sections():
        header = f"[[{section.path}]]" if section.array else f"[{section.path}]"
        lines += [f"## `{header}`", ""]
        intro = section.title
        if section.description:
            intro = f"{intro} {section.description}".strip()
        if section.array:
            intro += " Repeat the table for each one."
        if section.required:
            intro += " Required."
        lines += [intro, ""]
        if not section.keys:
            continue
        lines += ["| key | type | default | allowed | description |",
                  "|---|---|---|---|---|"]
        for key in section.keys:
            default = ("**required**" if key.required else
                       "not set" if key.default is None else f"`{toml_value(key.default)}`")
            allowed = ", ".join(key.constraints)
            lines.append(f"| `{key.name}` | {_cell(key.kind)} | {_cell(default)} | "
                         f"{_cell(allowed)} | {_cell(key.description)} |")
        lines.append("")
    return "\n".join(lines)


def _example_key(section: SectionDoc, key: KeyDoc) -> list[str]:
    lines = _comment(key.description) if key.description else []
    hint = [key.kind] + key.constraints
    example_path = key.path.replace("[0]", "")
    if key.required:
        if example_path not in EXAMPLES:
            raise KeyError(f"{key.path} is required: add a sample value to "
                           "edge.configdocs.EXAMPLES")
        lines += [f"# ({'; '.join(hint)}; required)",
                  f"{key.name} = {toml_value(EXAMPLES[example_path])}"]
        return lines
    lines.append(f"# ({'; '.join(hint)})")
    if key.default is not None:
        lines.append(f"# {key.name} = {toml_value(key.default)}")
    else:
        sample = EXAMPLES.get(example_path, _PLACEHOLDERS.get(key.kind))
        shown = toml_value(sample) if sample is not None else f"<{key.kind}>"
        lines.append(f"# {key.name} = {shown}    (not set by default)")
    return lines


def render_example() -> str:
    """The text of config/gridgate.example.toml (valid TOML that validates)."""
    lines = [
        "# gridgate configuration: an example showing every key.",
        "# Generated by `gridgate config example` from the settings model; do not edit by hand.",
        "# Required keys carry sample values; the others are commented out at their default.",
        "# Reference: docs/configuration.md. Check a file: gridgate config check FILE",
        "",
    ]
    optional_arrays: set[str] = set()
    for section in sections():
        inside_optional = any(section.path.startswith(p + ".") for p in optional_arrays)
        commented = inside_optional or (section.array and not section.required)
        if commented:
            optional_arrays.add(section.path)
        header = f"[[{section.path}]]" if section.array else f"[{section.path}]"
        title = section.title + (f" {section.description}" if section.description else "")
        lines += _comment(title)
        if commented:
            lines += [f"# {header}    (none by default; one table per entry)"]
        else:
            lines += [header]
        for key in section.keys:
            body = _example_key(section, key)
            lines += [f"# {line}" if commented and not line.startswith("#") else line
                      for line in body]
        lines.append("")
    return "\n".join(lines)


def write_if_changed(path: Path, text: str) -> bool:
    """Write `text` to `path` unless it already holds it; True when written."""
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return True

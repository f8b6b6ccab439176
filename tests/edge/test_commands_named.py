"""Every `gridgate ...` command that a message, a doc or a unit file tells someone to run exists.

The texts are the docs (README.md, docs/*.md), the unit and install files, the example
configuration, the panel's locales and the string literals of the Python packages. A command
is named when `gridgate <words>` opens a backticked span, a quoted string or a line of a
fenced code block, or stands where a shell would run it (`sudo gridgate`, `.../bin/gridgate`).
Its words are resolved against the real click group, walking groups, up to the first word
that is an option, a placeholder or an argument of a (non-group) command.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import click
import pytest

from edge.cli.main import cli

REPO = Path(__file__).resolve().parents[2]

# Texts that open with "gridgate " but name the program, not a command: (file, text).
NOT_COMMANDS = {
    ("install.sh", "gridgate gate service"),  # the system user's comment (GECOS) field
}

_PROGRAM = r"(?:sudo\s+(?:-u\s+\S+\s+)?)?(?:[\w./$()-]*/)?gridgate"
# A span, quoted string or code line that starts with the command.
_OPENS = re.compile(rf"^\s*(?:\$\s+)?{_PROGRAM}[ \t]+(?P<rest>.*)$", re.S)
# Where a shell runs the program, anywhere in a text.
_RUN_AT = re.compile(
    r"(?:\bsudo\s+(?:-u\s+\S+\s+)?|[\w./$()-]*/bin/)gridgate[ \t]+(?P<rest>[^\n`\"']*)")
_SPANS = (
    re.compile(r"`((?:[^`\n]|\n(?![ \t]*\n))+)`"),  # a code span ends with its paragraph
    re.compile(r'"([^"\n]+)"'),
    re.compile(r"'([^'\n]+)'"),
)
_FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
_WORD = re.compile(r"[a-z][a-z0-9-]*")
_TRAILING = ".,;:)!?"


def mentions(text: str, *, code_blocks: bool = False) -> list[str]:
    """Each `gridgate ...` command text named in TEXT, as 'gridgate word word ...'."""
    found: list[str] = []
    candidates: list[str] = []
    if code_blocks:
        candidates += [line for block in _FENCE.findall(text) for line in block.splitlines()]
        text = _FENCE.sub("\n", text)  # its backticks would pair with those of code spans
    candidates += [m.group(1) for pattern in _SPANS for m in pattern.finditer(text)]
    for candidate in candidates:
        match = _OPENS.match(candidate)
        if match:
            found.append("gridgate " + " ".join(match.group("rest").split()))
    for match in _RUN_AT.finditer(text):
        found.append("gridgate " + " ".join(match.group("rest").split()))
    return list(dict.fromkeys(found))


def unknown_subcommand(mention: str, group: click.Group = cli) -> str | None:
    """Why MENTION ('gridgate a b ...') names no real command, or None when it does."""
    command: click.Command = group
    path = ["gridgate"]
    for token in mention.split()[1:]:
        if not isinstance(command, click.Group):
            return None  # the rest are the command's arguments
        word = token.rstrip(_TRAILING)
        if not _WORD.fullmatch(word):
            return None  # an option, a placeholder, an alternative list ...
        ctx = click.Context(command, info_name=path[-1])
        sub = command.get_command(ctx, word)
        if sub is None:
            return (f"`{' '.join(path)}` has no subcommand {word!r} "
                    f"(it has: {', '.join(command.list_commands(ctx))})")
        command = sub
        path.append(word)
        if word != token:
            return None  # punctuation ends the command
    return None


def _literal(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):  # f-string: a value stands as a placeholder
        return "".join(part.value if isinstance(part, ast.Constant) else "{}"
                       for part in node.values)
    return None


def python_literals(source: str) -> list[str]:
    """Every string literal of a Python module (implicit concatenations joined)."""
    tree = ast.parse(source)
    inner = {id(part) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr)
             for part in node.values}
    return [text for node in ast.walk(tree) if id(node) not in inner
            for text in [_literal(node)] if text is not None]


def _json_strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _json_strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _json_strings(item)]
    return []


def named_in_repo() -> list[tuple[str, str]]:
    """(file, mention) for every command named in the repository's texts."""
    named: list[tuple[str, str]] = []

    def add(path: Path, texts: list[str], code_blocks: bool = False) -> None:
        rel = path.relative_to(REPO).as_posix()
        for text in texts:
            named.extend((rel, m) for m in mentions(text, code_blocks=code_blocks))

    for path in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        add(path, [path.read_text(encoding="utf-8")], code_blocks=True)
    for path in [*sorted((REPO / "systemd").iterdir()), REPO / "install.sh", REPO / "Makefile",
                 *sorted((REPO / "config").glob("*.toml")),
                 *sorted((REPO / "edge" / "panel" / "templates").glob("*.html"))]:
        add(path, [path.read_text(encoding="utf-8")])
    for path in sorted((REPO / "edge" / "panel" / "locales").glob("*.json")):
        add(path, _json_strings(json.loads(path.read_text(encoding="utf-8"))))
    for package in ("edge", "gate", "sync", "vision"):
        for path in sorted((REPO / package).rglob("*.py")):
            add(path, python_literals(path.read_text(encoding="utf-8")))
    return named


# --- the scanner itself, on synthetic texts ------------------------------------------------

def test_a_misspelt_subcommand_is_caught() -> None:
    text = "event moved to outbox_dead (`gridgate outbox requeu` sends it again)"
    assert mentions(text) == ["gridgate outbox requeu"]
    why = unknown_subcommand("gridgate outbox requeu")
    assert why is not None and "'requeu'" in why and "requeue" in why


def test_an_unknown_top_level_command_is_caught() -> None:
    assert unknown_subcommand("gridgate requeue") is not None
    assert unknown_subcommand("gridgate bench qrr --json") is not None  # a lazy group's child


@pytest.mark.parametrize("mention", [
    "gridgate outbox requeue",
    "gridgate outbox requeue EVENT_ID --json",
    "gridgate config check FILE",
    "gridgate config {}",                                      # an f-string value
    "gridgate trajectory p-101 -c scenario.toml",             # arguments of a command
    "gridgate platform publish roster|permits|policy|command ...",
    "gridgate bench decide --json",
    "gridgate doctor, then",
    "gridgate faces ...",
    "gridgate",
])
def test_real_commands_pass(mention: str) -> None:
    assert unknown_subcommand(mention) is None


def test_every_way_of_naming_a_command_is_found() -> None:
    text = """Run `sudo gridgate init` first; "gridgate doctor --json" checks it.
ExecStart=/opt/gridgate/bin/gridgate run --config /etc/gridgate/gridgate.toml
  4. sudo -u gridgate gridgate user add NAME --role admin
'gridgate scan X.png'

```sh
gridgate keys generate --out keys/
$ gridgate pass issue --key k
```
Not commands: gridgate reads the file, `gridgate.toml`, "the gridgate service", `gridgate`.
"""
    assert sorted(mentions(text, code_blocks=True)) == sorted([
        "gridgate init", "gridgate doctor --json",
        "gridgate run --config /etc/gridgate/gridgate.toml",
        "gridgate user add NAME --role admin", "gridgate scan X.png",
        "gridgate keys generate --out keys/", "gridgate pass issue --key k",
    ])


def test_python_literals_join_concatenations_and_f_strings() -> None:
    source = 'x = ("run `gridgate outbox " "requeu` now")\ny = f"`gridgate config {what}`"\n'
    texts = python_literals(source)
    assert "run `gridgate outbox requeu` now" in texts
    assert "`gridgate config {}`" in texts
    assert [m for t in texts for m in mentions(t)] == [
        "gridgate outbox requeu", "gridgate config {}"]


# --- the repository -------------------------------------------------------------------------

def test_the_scan_finds_the_commands_the_repository_names() -> None:
    named = named_in_repo()
    texts = {mention for _, mention in named}
    # A few the scan must see, or it has gone blind.
    assert "gridgate outbox requeue" in {" ".join(t.split()[:3]) for t in texts}
    assert ("systemd/gridgate.service", "gridgate init") in named
    assert any(f == "install.sh" and m.startswith("gridgate user add") for f, m in named)
    assert any(f == "README.md" and m.startswith("gridgate keys generate") for f, m in named)
    assert any(f == "edge/cli/config.py" and m == "gridgate config {}" for f, m in named)


def test_every_command_named_exists() -> None:
    problems = [f"{file}: `{mention}`: {why}" for file, mention in named_in_repo()
                if (file, mention) not in NOT_COMMANDS
                for why in [unknown_subcommand(mention)] if why is not None]
    assert not problems, "commands named that do not exist:\n" + "\n".join(problems)


def test_every_lazy_command_resolves() -> None:
    ctx = click.Context(cli, info_name="gridgate")
    for name in cli.list_commands(ctx):
        command = cli.get_command(ctx, name)
        assert isinstance(command, click.Command), name
        if isinstance(command, click.Group):
            sub_ctx = click.Context(command, info_name=name, parent=ctx)
            for sub in command.list_commands(sub_ctx):
                assert isinstance(command.get_command(sub_ctx, sub), click.Command), (name, sub)

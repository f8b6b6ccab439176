"""`gridgate init`: write a first configuration from a few questions, or from flags.

Every answer is validated against the settings model as it is given (a bad answer is asked
again), pins already taken are refused, and the whole file is validated before it is written.
An existing file is never overwritten without --force.
"""

from __future__ import annotations

import contextlib
import grp
import os
import re
import socket
import tomllib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import click
import tomli_w
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from edge.cli.output import friendly_errors
from edge.cli.state import DEFAULT_CONFIG
from edge.settings import SettingsError, parse_settings
from edge.settings.core import ID_PATTERN, DoorSettings, GateSettings, ReaderSettings
from edge.settings.mqtt import TOPIC_LEVELS_PATTERN, MqttSettings
from gate.files import write_atomic

SERVICE_GROUP = "gridgate"


# What the settings' patterns allow, in words (an installer reads no regular expressions).
PATTERN_WORDS = {
    ID_PATTERN: "use 1 to 64 letters, digits, '_', '.' or '-', beginning with a letter or digit "
                "(no spaces)",
    TOPIC_LEVELS_PATTERN: "use letters, digits, '_', '.' and '-', levels separated by '/' "
                          "(no spaces, no '+' or '#')",
}


def in_words(error: ErrorDetails) -> str:
    """One pydantic error as a sentence an installer understands."""
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "string_pattern_mismatch":
        return PATTERN_WORDS.get(str(ctx.get("pattern")), "it holds characters that are not "
                                 "allowed here")
    sayings = {
        "less_than_equal": "must be {le} or less", "less_than": "must be less than {lt}",
        "greater_than_equal": "must be {ge} or more", "greater_than": "must be more than {gt}",
        "string_too_long": "must be at most {max_length} characters",
        "string_too_short": "must not be empty" if ctx.get("min_length") == 1 else
                            "must be at least {min_length} characters",
        "int_parsing": "must be a whole number", "int_type": "must be a whole number",
        "int_from_float": "must be a whole number", "bool_parsing": "answer yes or no",
    }
    if kind in sayings:
        return sayings[kind].format(**ctx)
    return str(error["msg"]).removeprefix("Value error, ")


def field_check(model: type[BaseModel], name: str) -> Callable[[Any], Any]:
    """A validator of one settings field: returns the value or raises ValueError with why."""
    info = model.model_fields[name]
    form: Any = Annotated[info.annotation, info]  # a type built at run time: none statically
    adapter: TypeAdapter[Any] = TypeAdapter(form)

    def check(value: Any) -> Any:
        try:
            return adapter.validate_python(value)
        except ValidationError as exc:
            raise ValueError(in_words(exc.errors()[0])) from None

    return check


def default_gate_id() -> str:
    """The host name, made into a valid id."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "-", socket.gethostname()).strip("-._")
    return name[:64] or "gate-1"


class Asker:
    """Asks a question (or takes its flag), validating the answer; asks again when it is bad."""

    def __init__(self, interactive: bool) -> None:
        self.interactive = interactive
        self.pins: dict[int, str] = {}  # pin -> key that took it
        self.files: dict[Path, str] = {}  # written with the configuration (a password)
        self.notes: list[str] = []  # said after the file is written

    def ask(self, flag: str, text: str, given: Any, default: Any,
            check: Callable[[Any], Any], *, optional: bool = False) -> Any:
        """The flag's value if given, else the answer (or the default with --yes)."""

        def convert(raw: Any) -> Any:
            if optional and raw in ("", None, "none"):
                return None
            try:
                return check(raw.strip() if isinstance(raw, str) else raw)
            except ValueError as exc:
                raise click.BadParameter(str(exc), param_hint=flag) from None

        if given is not None:
            return convert(given)
        if not self.interactive:
            if default is None and not optional:
                raise click.UsageError(f"{flag} is required with --yes")
            return convert(default)
        shown = "" if default is None else default
        return click.prompt(text, default=shown, show_default=shown != "",
                            value_proc=convert)

    def pin(self, flag: str, text: str, given: int | None, default: int | None, key: str,
            check: Callable[[Any], Any], *, optional: bool = False,
            shared_with: int | None = None) -> int | None:
        """A GPIO pin that no other function uses (`shared_with` may be reused: same door)."""

        def unused(value: Any) -> Any:
            pin = check(value)
            if pin is not None and pin in self.pins and pin != shared_with:
                raise ValueError(f"GPIO {pin} is already used by {self.pins[pin]}; "
                                 "choose another pin")
            return pin

        pin: int | None = self.ask(flag, text, given, default, unused, optional=optional)
        if pin is not None:
            self.pins.setdefault(pin, key)
        return pin


def apply_override(config: dict[str, Any], assignment: str) -> None:
    """`section.key=value`: the value is read as TOML (17, true, "x"), else as a string."""
    path, sep, text = assignment.partition("=")
    if not sep or not path.strip():
        raise click.BadParameter(f"{assignment!r}: use KEY=VALUE, e.g. mqtt.keepalive_s=60",
                                 param_hint="--set")
    try:
        value = tomllib.loads(f"v = {text.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = text.strip()
    node: Any = config
    parts = path.strip().split(".")
    for part in parts[:-1]:
        match = re.fullmatch(r"(\w+)\[(\d+)\]", part)
        if match:
            items = node.setdefault(match.group(1), [])
            index = int(match.group(2))
            if index >= len(items):
                raise click.BadParameter(f"{path}: there is no {part}", param_hint="--set")
            node = items[index]
        else:
            node = node.setdefault(part, {})
    node[parts[-1]] = value


def _next_free(taken: dict[int, str]) -> int:
    return next(p for p in (17, 27, 22, 23, 24, 25, 5, 6, 13, 16, 26) if p not in taken)


def build_config(ask: Asker, config_path: Path, o: dict[str, Any]) -> dict[str, Any]:
    """The questions, in the order an installer thinks of them."""
    here = config_path.parent
    gate = {
        "gate_id": ask.ask("--gate-id", "Gate id (unique in the compound)", o["gate_id"],
                           default_gate_id(), field_check(GateSettings, "gate_id")),
        "compound_id": ask.ask("--compound-id", "Compound id (as the platform knows it)",
                               o["compound_id"], None, field_check(GateSettings, "compound_id")),
    }
    name = ask.ask("--name", "Gate name shown to guards", o["name"], "",
                   field_check(GateSettings, "name"))
    if name:
        gate["name"] = name
    readers = []
    camera = field_check(ReaderSettings, "camera")
    relay = field_check(ReaderSettings, "relay_pin")
    in_camera = ask.ask("--camera", "Camera of the way in (device number, file or URL)",
                        o["camera"], "0", camera)
    in_pin = ask.pin("--relay-pin", "GPIO (BCM) of the door relay", o["relay_pin"], 17,
                     "readers[0].relay_pin", relay)
    readers.append({"reader_id": "in-cam", "direction": "in", "camera": in_camera,
                    "relay_pin": in_pin})
    out_camera = ask.ask("--out-camera", "Camera of the way out (empty: none)", o["out_camera"],
                         None, camera, optional=True)
    if out_camera is not None:
        out_pin = ask.pin("--out-relay-pin", "GPIO of the way-out relay (same pin: same door)",
                          o["out_relay_pin"], in_pin, "readers[1].relay_pin", relay,
                          shared_with=in_pin)
        readers.append({"reader_id": "out-cam", "direction": "out", "camera": out_camera,
                        "relay_pin": out_pin})
    door: dict[str, Any] = {}
    active_low = o["relay_active_low"]
    if active_low is None and ask.interactive:
        active_low = not click.confirm("Does the relay board switch on when its input is "
                                       "high?", default=True)
    if active_low:
        door["relay_active_high"] = False
    pin_check = field_check(DoorSettings, "exit_button_pin")
    button = ask.pin("--exit-button-pin", "GPIO of the request-to-exit button (empty: none)",
                     o["exit_button_pin"], None, "door.exit_button_pin", pin_check,
                     optional=True)
    contact = ask.pin("--door-contact-pin", "GPIO of the door contact (empty: none)",
                      o["door_contact_pin"], None, "door.door_contact_pin", pin_check,
                      optional=True)
    if button is not None:
        door["exit_button_pin"] = button
    if contact is not None:
        door["door_contact_pin"] = contact
    trust = ask.ask("--trust-list", "Trust list from the platform (or its signing.pub)",
                    o["trust_list"], str(here / "trust.json"), str)
    state = ask.ask("--state-dir", "State directory (journal, keys)", o["state_dir"],
                    "/var/lib/gridgate", str)
    config: dict[str, Any] = {"gate": gate, "readers": readers}
    if door:
        config["door"] = door
    config["storage"] = {"state_dir": state}
    config["passes"] = {"trust_list": trust}
    mqtt = _ask_mqtt(ask, here, o, gate["gate_id"])
    if mqtt:
        config["mqtt"] = mqtt
    return config


def _ask_mqtt(ask: Asker, here: Path, o: dict[str, Any], gate_id: str) -> dict[str, Any]:
    host = ask.ask("--mqtt-host", "Platform broker host (empty: no platform link)",
                   o["mqtt_host"], None, field_check(MqttSettings, "host"), optional=True)
    if not host:
        return {}
    mqtt: dict[str, Any] = {"enabled": True, "host": host}
    tls = o["mqtt_tls"]
    if tls is None:
        tls = click.confirm("Connect with TLS?", default=True) if ask.interactive else True
    mqtt["tls"] = tls
    mqtt["port"] = ask.ask("--mqtt-port", "Broker port", o["mqtt_port"], 8883 if tls else 1883,
                           field_check(MqttSettings, "port"))
    user = ask.ask("--mqtt-username", "Broker user name (empty: none)", o["mqtt_username"],
                   gate_id, field_check(MqttSettings, "username"), optional=True)
    if user:
        mqtt["username"] = user
        given = ask.ask("--mqtt-password-file", "File holding the broker password",
                        o["mqtt_password_file"], str(here / "mqtt.password"), str)
        path = Path(given) if Path(given).is_absolute() else here / given
        if path.is_file():
            mqtt["password_file"] = given
        elif ask.interactive:
            # Never name a file that is not there: the gate could not log in with it.
            password = click.prompt(f"{path} does not exist; the broker password to store in "
                                    "it (hidden; empty: later)", hide_input=True, default="",
                                    show_default=False)
            if password:
                ask.files[path] = password + "\n"
                mqtt["password_file"] = given
        if "password_file" not in mqtt:
            ask.notes.append(f"{path} does not exist, so mqtt.password_file is not set: put the "
                             f"broker password in it (chmod 640), then add password_file = "
                             f"\"{path}\" to [mqtt]")
    return mqtt


def _write(path: Path, config: dict[str, Any]) -> None:
    header = (f"# gridgate configuration, written by `gridgate init` on "
              f"{datetime.now(UTC):%Y-%m-%d}.\n"
              "# Every key: docs/configuration.md and /etc/gridgate/gridgate.example.toml.\n"
              f"# After editing: gridgate config check {path}\n\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, (header + tomli_w.dumps(config)).encode(), mode=0o640)
    if os.geteuid() == 0:
        # The service runs as gridgate and reads the file through its group.
        with contextlib.suppress(KeyError):
            os.chown(path, 0, grp.getgrnam(SERVICE_GROUP).gr_gid)


def _write_secret(path: Path, text: str) -> None:
    """A secret the service reads through its group; an existing file is never replaced."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, text.encode(), mode=0o640, replace=False)
    if os.geteuid() == 0:
        with contextlib.suppress(KeyError):
            os.chown(path, 0, grp.getgrnam(SERVICE_GROUP).gr_gid)


@click.command()
@click.option("--config", "-c", type=click.Path(dir_okay=False, path_type=Path),
              default=DEFAULT_CONFIG, show_default=True, help="The file to write.")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@click.option("--yes", "-y", "no_questions", is_flag=True,
              help="Ask nothing: take the flags and the defaults (scripted installs).")
@click.option("--gate-id", help="This gate's id [default: the host name].")
@click.option("--compound-id", help="The compound's id (required with --yes).")
@click.option("--name", help="Gate name shown to guards.")
@click.option("--camera", help="Camera of the way in [default: 0].")
@click.option("--relay-pin", type=int, help="BCM GPIO of the door relay [default: 17].")
@click.option("--out-camera", help="Camera of the way out, if there is one.")
@click.option("--out-relay-pin", type=int, help="GPIO of the way-out relay [default: same].")
@click.option("--relay-active-low/--relay-active-high", default=None,
              help="The relay board switches on a low input [default: high].")
@click.option("--exit-button-pin", type=int, help="GPIO of the request-to-exit button.")
@click.option("--door-contact-pin", type=int, help="GPIO of the door contact.")
@click.option("--trust-list", help="The platform's trust list [default: beside the config].")
@click.option("--state-dir", help="State directory [default: /var/lib/gridgate].")
@click.option("--mqtt-host", help="The platform's broker (none: no platform link).")
@click.option("--mqtt-port", type=int, help="Broker port [default: 8883 with TLS, else 1883].")
@click.option("--mqtt-tls/--mqtt-no-tls", default=None, help="TLS to the broker [default: on].")
@click.option("--mqtt-username", help="Broker user name [default: the gate id].")
@click.option("--mqtt-password-file", help="File holding the broker password.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Any other key, e.g. --set readers[0].fps=10 (repeatable).")
@friendly_errors
def init(config: Path, force: bool, no_questions: bool, overrides: tuple[str, ...],
         **options: Any) -> None:
    """Write a configuration from questions with sensible defaults, or from flags (--yes)."""
    if config.exists() and not force:
        raise click.ClickException(f"{config} exists; pass --force to overwrite it (or check "
                                   f"it with `gridgate config check {config}`)")
    ask = Asker(interactive=not no_questions)
    document = build_config(ask, config, options)
    for assignment in overrides:
        apply_override(document, assignment)
    try:
        settings = parse_settings(document, str(config))
    except SettingsError as exc:
        click.echo("not written, the configuration would be invalid:\n  "
                   + "\n  ".join(exc.problems), err=True)
        raise SystemExit(2) from None
    _write(config, document)
    for path, text in ask.files.items():
        _write_secret(path, text)
        click.echo(f"wrote {path} (mode 0640)")
    for note in ask.notes:
        click.echo(f"note: {note}")
    click.echo(f"wrote {config} (gate {settings.gate.gate_id}, "
               f"{len(settings.readers)} reader(s))")
    trust = Path(document["passes"]["trust_list"])
    if not (trust if trust.is_absolute() else config.parent / trust).exists():
        click.echo(f"note: {trust} does not exist yet: copy the platform's trust list there")
    click.echo(f"next: sudo gridgate doctor --config {config}")

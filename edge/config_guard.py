"""Config safety: a bad configuration never replaces a good one and never starts a gate.

Two rules. `gridgate config install NEW` validates NEW as it will sit at the target path and
only then swaps it in atomically; on any problem the target is untouched. And `gridgate run`
remembers the last configuration that started the gate (fully resolved, in the state
directory); when the file is later broken by hand, the service logs every problem and keeps
running on that last good copy instead of dying with the relays undriven.
"""

from __future__ import annotations

import logging
import os
import tempfile
import tomllib
import typing
from pathlib import Path

import tomli_w
from pydantic import BaseModel

from edge.settings import Settings, SettingsError, load_settings, parse_settings
from gate.errors import KeyFileError
from gate.files import write_atomic
from gate.passes import Revocations, TrustList

log = logging.getLogger(__name__)

LAST_GOOD_NAME = "last-good.toml"


def check_config(path: Path | str) -> Settings:
    """Validate a config file and the files it names (trust list, revocations)."""
    settings = load_settings(path)
    problems = []
    try:
        TrustList.load(settings.passes.trust_list)
    except KeyFileError as exc:
        problems.append(f"passes.trust_list = '{settings.passes.trust_list}': {exc}")
    if settings.passes.revocations is not None:
        try:
            Revocations.load(settings.passes.revocations)
        except KeyFileError as exc:
            problems.append(f"passes.revocations = '{settings.passes.revocations}': {exc}")
    if problems:
        raise SettingsError(str(path), problems)
    return settings


def install_config(new: Path | str, target: Path | str, *, mode: int = 0o640) -> Settings:
    """Validate `new` as if it were at `target` (relative paths!), then atomically replace it."""
    new, target = Path(new), Path(target)
    try:
        data = new.read_bytes()
    except OSError as exc:
        raise SettingsError(str(new), [f"cannot read the file: {exc.strerror or exc}"]) from None
    if not target.parent.is_dir():
        raise SettingsError(str(target), [f"the folder {target.parent} does not exist; run "
                                          "install.sh first or pick another --config"])
    # Validate a staged copy beside the target, so relative paths resolve as they will there.
    fd, staged = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.check.",
                                  suffix=".toml")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        try:
            settings = check_config(staged)
        except SettingsError as exc:
            raise SettingsError(str(new), exc.problems, exc.details) from None
    finally:
        Path(staged).unlink(missing_ok=True)
    write_atomic(target, data, mode=mode)
    return settings


def absolute_paths(model: BaseModel, base: Path) -> BaseModel:
    """The same settings with every relative path taken from `base` (the config's folder)."""
    updates: dict[str, object] = {}
    for name, value in model:
        if isinstance(value, Path) and not value.is_absolute():
            updates[name] = base / value
        elif isinstance(value, BaseModel):
            fixed = absolute_paths(value, base)
            if fixed is not value:
                updates[name] = fixed
        elif isinstance(value, list) and any(isinstance(v, BaseModel) for v in value):
            updates[name] = [absolute_paths(v, base) if isinstance(v, BaseModel) else v
                             for v in value]
    return model.model_copy(update=updates) if updates else model


def remember_good(settings: Settings, path: Path, base: Path | None = None) -> bool:
    """Keep a resolved copy of settings that started the gate; False when it cannot be kept.

    The copy lives elsewhere than the file, so relative paths are made absolute from `base`.
    """
    if base is not None:
        settings = typing.cast(Settings, absolute_paths(settings, base))
    document = settings.model_dump(mode="json", exclude_none=True)
    text = tomli_w.dumps(document)
    try:
        if parse_settings(tomllib.loads(text), str(path)) != settings:
            log.warning("the configuration does not survive a TOML round trip; "
                        "no last good copy kept")
            return False
        if path.exists() and path.read_text(encoding="utf-8") == text:
            return True
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, text.encode(), mode=0o640)
    except (OSError, SettingsError) as exc:
        log.warning("cannot keep the last good configuration in %s: %s", path, exc)
        return False
    return True


def load_for_run(config: Path, last_good: Path | None) -> tuple[Settings, bool]:
    """The settings to run with and whether they are the last good copy, not `config`.

    Raises SettingsError when `config` is bad and there is no usable last good copy.
    """
    try:
        return check_config(config), False
    except SettingsError as exc:
        if last_good is None or not last_good.is_file():
            raise
        try:
            settings = check_config(last_good)
        except SettingsError as fallback_exc:
            log.error("the last good configuration %s is not usable either: %s",
                      last_good, fallback_exc)
            raise exc from None
        log.error("%s; running on the last good configuration %s until the file is fixed "
                  "(check it with `gridgate config check %s`)", exc, last_good, config)
        return settings, True

"""What every check may look at: the config file, its settings (when valid), pins and clocks."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.settings import Settings, SettingsError, load_settings
from gate.clock import Clock, SystemClock


@dataclass
class DoctorContext:
    """The inputs of one doctor run; tests swap the pin factory, clocks and limits."""

    config_path: Path
    pin_factory: Any = None  # None: gpiozero's default (the Pi's real pins)
    relay_test: bool = True
    pulse_seconds: float = 1.0
    camera_seconds: float = 2.0
    broker_timeout: float = 5.0
    last_good: Path | None = None
    clock: Clock = field(default_factory=SystemClock)
    time_synchronised: Callable[[], bool | None] | None = None  # None: ask the kernel
    settings: Settings | None = None
    settings_error: SettingsError | None = None
    raw: dict[str, Any] | None = None  # the TOML as parsed, even when it does not validate
    # What a check is about to do (pulse a relay, read a camera), said before it takes time.
    notice: Callable[[str], None] | None = None

    def say(self, text: str) -> None:
        """Tell the installer what comes next (printed at once by `gridgate doctor`)."""
        if self.notice is not None:
            self.notice(text)

    @classmethod
    def load(cls, config_path: Path, **options: Any) -> DoctorContext:
        """Read the config once: its raw TOML and, when valid, its settings."""
        context = cls(config_path=config_path, **options)
        try:
            context.raw = tomllib.loads(config_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            context.raw = None
        try:
            context.settings = load_settings(config_path)
        except SettingsError as exc:
            context.settings_error = exc
        return context

    @property
    def base_dir(self) -> Path:
        """The folder relative paths in the config are taken from."""
        return self.config_path.parent.resolve()

    def state_dir(self) -> Path:
        """The configured state directory, or the default when the config is unusable."""
        if self.settings is not None:
            return self.settings.storage.state_dir
        storage = (self.raw or {}).get("storage")
        value = storage.get("state_dir") if isinstance(storage, dict) else None
        if isinstance(value, str) and value:
            path = Path(value)
            return path if path.is_absolute() else self.base_dir / path
        return Path("/var/lib/gridgate")

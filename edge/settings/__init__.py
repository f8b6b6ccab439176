"""The configuration: one strict pydantic tree loaded from one TOML file."""

from edge.settings.load import SettingsError, load_settings, parse_settings
from edge.settings.model import Settings

__all__ = ["Settings", "SettingsError", "load_settings", "parse_settings"]

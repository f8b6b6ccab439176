"""A click group whose subcommands are imported only when used, so `gridgate --help` is fast."""

from __future__ import annotations

import importlib
import importlib.util

import click


class LazyGroup(click.Group):
    """Subcommands given as 'name' -> 'module:attribute'."""

    def __init__(self, *args: object, lazy: dict[str, str] | None = None, **kwargs: object):
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._lazy = lazy or {}

    def _available(self) -> dict[str, str]:
        # Commands of capabilities not yet built have no module; they are simply not offered.
        return {
            name: target
            for name, target in self._lazy.items()
            if importlib.util.find_spec(target.split(":")[0]) is not None
        }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self._available()))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = self._available().get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module_name, attribute = target.split(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{target} is not a click command")
        return command

"""Panel texts in Chinese (default) and English, from flat JSON catalogs in locales/."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edge.settings.load import Problem

log = logging.getLogger(__name__)

LANGUAGES = ("zh", "en")
LOCALES_DIR = Path(__file__).parent / "locales"


class Translator:
    """Looks texts up by key; a missing key falls back to the default language, then the key."""

    def __init__(self, catalogs: dict[str, dict[str, str]], default: str = "zh") -> None:
        if default not in catalogs:
            raise ValueError(f"no catalog for the default language {default!r}")
        self.catalogs = catalogs
        self.default = default
        self._missing: set[tuple[str, str]] = set()

    @classmethod
    def load(cls, folder: Path = LOCALES_DIR, default: str = "zh") -> Translator:
        """Read `<lang>.json` for every supported language."""
        catalogs = {}
        for lang in LANGUAGES:
            catalogs[lang] = json.loads((folder / f"{lang}.json").read_text(encoding="utf-8"))
        return cls(catalogs, default)

    def language(self, wanted: str | None) -> str:
        """`wanted` when supported, else the default."""
        return wanted if wanted in self.catalogs else self.default

    def has(self, key: str) -> bool:
        """True when the default catalog knows the key."""
        return key in self.catalogs[self.default]

    def text(self, lang: str, key: str, **params: Any) -> str:
        """The text for `key` in `lang`, with {placeholders} filled."""
        template = self.catalogs.get(lang, {}).get(key)
        if template is None:
            template = self.catalogs[self.default].get(key)
            if (lang, key) not in self._missing:
                self._missing.add((lang, key))
                log.warning("panel text %r missing in %s", key, lang)
        if template is None:
            return key
        try:
            return template.format(**params) if params else template
        except (KeyError, IndexError, ValueError):
            log.warning("panel text %r in %s has bad placeholders", key, lang)
            return template

    def exact(self, lang: str, key: str, params: dict[str, Any]) -> str | None:
        """The text for `key` in `lang` with every placeholder filled, or None (no such text,
        or it names a parameter not given): callers then show the original."""
        template = self.catalogs.get(self.language(lang), {}).get(key)
        if template is None:
            return None
        try:
            return template.format(**params)
        except (KeyError, IndexError, ValueError):
            return None

    def problem(self, lang: str, problem: Problem) -> str:
        """A settings problem in `lang`: the key path as it is, the value as written, the fix
        translated; the original (English) line when there is no translation for its kind."""
        if problem.kind is None:
            return problem.text
        suffix = "_shown" if problem.kind == "string_type" and "shown" in problem.params else ""
        fix = self.exact(lang, f"problem.{problem.kind}{suffix}", problem.params)
        if fix is None:
            return problem.text
        if problem.key is None:
            return fix
        return f"{problem.key}{' = ' + problem.value if problem.value else ''}: {fix}"

    def error(self, lang: str, exc: Exception) -> str:
        """An error's message in `lang` when it carries a text key (edge/panel/errors.py),
        else its own message."""
        key = getattr(exc, "key", "")
        text = self.exact(lang, key, getattr(exc, "params", {})) if key else None
        return text if text is not None else str(exc)

    def bound(self, lang: str) -> Callable[..., str]:
        """A `t(key, **params)` function for one language (what templates call)."""
        lang = self.language(lang)

        def t(key: str, **params: Any) -> str:
            return self.text(lang, key, **params)

        return t

"""Settings for admins: the gate's configuration file, validated and replaced atomically.

The TOML file stays the one source of configuration: the panel edits that file through
`edge.config_guard.install_config` (the same check as `gridgate config install`), so a bad
edit never replaces a good file. Changes take effect when gridgate restarts.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
import tempfile
import tomllib
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field

from edge.config_guard import check_config, install_config
from edge.panel.audit import audit
from edge.panel.deps import AdminAction, AdminView, Services, client_address
from edge.panel.services import PanelServices
from edge.panel.views import language_of, redirect, render
from edge.settings import SettingsError
from edge.settings.load import Problem
from gate.errors import JournalError
from gate.model import AlertSpec, Severity
from gate.vocabulary import AlertKind, AuditKind

log = logging.getLogger(__name__)
router = APIRouter()
MAX_CONFIG_CHARS = 256 * 1024


class ConfigIn(BaseModel):
    text: str = Field(..., max_length=MAX_CONFIG_CHARS, description="The whole TOML file.")


class ConfigOut(BaseModel):
    path: str | None  # None: the gate was not started from a file the panel knows
    editable: bool
    valid: bool | None  # whether the file as it is now would start the gate
    problems: list[str]
    text: str | None
    running: dict[str, Any]  # the settings the gate runs with now


class ConfigRejected(Exception):
    """A submitted configuration that was not installed, with one line per problem (and the
    same problems in parts, to say them in the admin's language)."""

    def __init__(self, problems: list[str], details: list[Problem] | None = None) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems
        self.details = details if details is not None else [Problem(p) for p in problems]


def _editable(path: Path) -> bool:
    # install_config writes a temporary file beside the target, then renames it over it.
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK | os.X_OK)


def config_state(svc: PanelServices) -> ConfigOut:
    """The configuration file as it stands, and the settings in force."""
    return _config_state(svc)[0]


def _config_state(svc: PanelServices) -> tuple[ConfigOut, list[Problem]]:
    running = svc.gate.settings.model_dump(mode="json")
    path = svc.config_path
    if path is None:
        return ConfigOut(path=None, editable=False, valid=None, problems=[], text=None,
                         running=running), []
    problems: list[Problem] = []
    try:
        text: str | None = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        text, problems = None, [Problem(f"cannot read {path}: {exc}")]
    else:
        try:
            check_config(path)
        except SettingsError as exc:
            problems = exc.details
    return ConfigOut(path=str(path), editable=_editable(path), valid=not problems,
                     problems=[p.text for p in problems], text=text, running=running), problems


def _flat(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat |= _flat(value, f"{name}.")
        else:
            flat[name] = value
    return flat


def changed_keys(old_text: str | None, new_text: str) -> list[str]:
    """The keys a new configuration file sets differently from the old one (names only: a
    value may be a secret's path or a host); ["(whole file)"] when the old one is unreadable."""
    try:
        old = _flat(tomllib.loads(old_text)) if old_text is not None else None
        new = _flat(tomllib.loads(new_text))
    except tomllib.TOMLDecodeError:
        return ["(whole file)"]
    if old is None:
        return ["(whole file)"]
    return sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))


def save_config(svc: PanelServices, text: str, actor: str, address: str | None = None) -> None:
    """Validate and install a new configuration file; ConfigRejected says why not."""
    path = svc.config_path
    if path is None:
        raise HTTPException(409, "error.settings_readonly")
    try:
        before: str | None = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        before = None
    with tempfile.TemporaryDirectory(prefix="gridgate-panel-") as folder:
        staged = Path(folder) / "gridgate.toml"
        staged.write_text(text, encoding="utf-8")
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
            install_config(staged, path, mode=mode)
        except SettingsError as exc:
            raise ConfigRejected(exc.problems, exc.details) from None
        except OSError as exc:
            line = f"cannot write {path}: {exc.strerror or exc}"
            raise ConfigRejected([line], [Problem(line, kind="unwritable", params={
                "path": str(path), "error": str(exc.strerror or exc)})]) from None
    log.warning("panel: %s replaced the configuration %s (in force after a restart)", actor,
                path)
    try:
        svc.gate.journal.record_alert(AlertSpec(
            AlertKind.CONFIG_CHANGED, Severity.INFO, f"{actor} 修改了闸机配置（重启后生效）",
            f"{actor} changed the gate configuration (in force after a restart)"))
    except JournalError as exc:  # the file was replaced; the log above keeps the record
        log.error("panel: configuration change not journaled: %s", exc)
    keys = changed_keys(before, text)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    shown = ", ".join(keys[:20]) + (f" (+{len(keys) - 20} more)" if len(keys) > 20 else "")
    audit(svc, AuditKind.SETTINGS_CHANGED, actor=actor, address=address, target=str(path),
          detail=f"changed: {shown or 'nothing'}; new file sha256 {digest}")


def _page(request: Request, svc: PanelServices, *, text: str | None = None,
          problems: list[Problem] | None = None, status: int = 200) -> Response:
    state, found = _config_state(svc)
    lang = language_of(request)
    return render(request, "settings.html", {
        "c": state, "text": state.text if text is None else text,
        "problems": [svc.i18n.problem(lang, p) for p in found],
        "rejected": [svc.i18n.problem(lang, p) for p in problems or []]}, status=status)


@router.get("/settings", response_class=HTMLResponse)
def settings_page(request: Request, svc: Services, session: AdminView) -> Response:
    """The configuration file and the settings in force (admins)."""
    return _page(request, svc)


@router.post("/settings", response_class=HTMLResponse)
def settings_form(request: Request, svc: Services, session: AdminAction,
                  text: Annotated[str, Form(max_length=MAX_CONFIG_CHARS)]) -> Response:
    """Check and install an edited configuration file (admins)."""
    try:
        save_config(svc, text, session.user.name, client_address(request))
    except ConfigRejected as exc:
        return _page(request, svc, text=text, problems=exc.details, status=400)
    return redirect("/settings", "msg.settings_saved")


@router.get("/api/settings", response_model=ConfigOut)
def settings_api(svc: Services, session: AdminView) -> ConfigOut:
    """The configuration file and the settings in force as JSON (admins)."""
    return config_state(svc)


@router.post("/api/settings", response_model=ConfigOut)
def settings_save_api(request: Request, svc: Services, session: AdminAction,
                      body: ConfigIn) -> ConfigOut:
    """Check and install a configuration file (admins); 400 with problems."""
    try:
        save_config(svc, body.text, session.user.name, client_address(request))
    except ConfigRejected as exc:
        raise HTTPException(400, "; ".join(exc.problems)) from None
    return config_state(svc)

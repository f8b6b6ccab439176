"""Settings for admins: the gate's configuration file, validated and replaced atomically.

The TOML file stays the one source of configuration: the panel edits that file through
`edge.config_guard.install_config` (the same check as `gridgate config install`), so a bad
edit never replaces a good file. Changes take effect when gridgate restarts.
"""

from __future__ import annotations

import logging
import os
import stat
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field

from edge.config_guard import check_config, install_config
from edge.panel.deps import AdminAction, AdminView, Services
from edge.panel.services import PanelServices
from edge.panel.views import redirect, render
from edge.settings import SettingsError
from gate.errors import JournalError
from gate.model import AlertSpec, Severity
from gate.vocabulary import AlertKind

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
    """A submitted configuration that was not installed, with one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _editable(path: Path) -> bool:
    # install_config writes a temporary file beside the target, then renames it over it.
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK | os.X_OK)


def config_state(svc: PanelServices) -> ConfigOut:
    """The configuration file as it stands, and the settings in force."""
    running = svc.gate.settings.model_dump(mode="json")
    path = svc.config_path
    if path is None:
        return ConfigOut(path=None, editable=False, valid=None, problems=[], text=None,
                         running=running)
    problems: list[str] = []
    try:
        text: str | None = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        text, problems = None, [f"cannot read {path}: {exc}"]
    else:
        try:
            check_config(path)
        except SettingsError as exc:
            problems = exc.problems
    return ConfigOut(path=str(path), editable=_editable(path), valid=not problems,
                     problems=problems, text=text, running=running)


def save_config(svc: PanelServices, text: str, actor: str) -> None:
    """Validate and install a new configuration file; ConfigRejected says why not."""
    path = svc.config_path
    if path is None:
        raise HTTPException(409, "error.settings_readonly")
    with tempfile.TemporaryDirectory(prefix="gridgate-panel-") as folder:
        staged = Path(folder) / "gridgate.toml"
        staged.write_text(text, encoding="utf-8")
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
            install_config(staged, path, mode=mode)
        except SettingsError as exc:
            raise ConfigRejected(exc.problems) from None
        except OSError as exc:
            raise ConfigRejected([f"cannot write {path}: {exc.strerror or exc}"]) from None
    log.warning("panel: %s replaced the configuration %s (in force after a restart)", actor,
                path)
    try:
        svc.gate.journal.record_alert(AlertSpec(
            AlertKind.CONFIG_CHANGED, Severity.INFO, f"{actor} 修改了闸机配置（重启后生效）",
            f"{actor} changed the gate configuration (in force after a restart)"))
    except JournalError as exc:  # the file was replaced; the log above keeps the record
        log.error("panel: configuration change not journaled: %s", exc)


def _page(request: Request, svc: PanelServices, *, text: str | None = None,
          problems: list[str] | None = None, status: int = 200) -> Response:
    state = config_state(svc)
    return render(request, "settings.html", {
        "c": state, "text": state.text if text is None else text,
        "rejected": problems or []}, status=status)


@router.get("/settings", response_class=HTMLResponse)
def settings_page(request: Request, svc: Services, session: AdminView) -> Response:
    """The configuration file and the settings in force (admins)."""
    return _page(request, svc)


@router.post("/settings", response_class=HTMLResponse)
def settings_form(request: Request, svc: Services, session: AdminAction,
                  text: Annotated[str, Form(max_length=MAX_CONFIG_CHARS)]) -> Response:
    """Check and install an edited configuration file (admins)."""
    try:
        save_config(svc, text, session.user.name)
    except ConfigRejected as exc:
        return _page(request, svc, text=text, problems=exc.problems, status=400)
    return redirect("/settings", "msg.settings_saved")


@router.get("/api/settings", response_model=ConfigOut)
def settings_api(svc: Services, session: AdminView) -> ConfigOut:
    """The configuration file and the settings in force as JSON (admins)."""
    return config_state(svc)


@router.post("/api/settings", response_model=ConfigOut)
def settings_save_api(svc: Services, session: AdminAction, body: ConfigIn) -> ConfigOut:
    """Check and install a configuration file (admins); 400 with problems."""
    try:
        save_config(svc, body.text, session.user.name)
    except ConfigRejected as exc:
        raise HTTPException(400, "; ".join(exc.problems)) from None
    return config_state(svc)

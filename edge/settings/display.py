"""Settings of the gate display: a full-screen page beside each door, with spoken prompts."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from edge.settings.core import _ID, Section
from edge.settings.panel import is_loopback

Language = Literal["zh", "en"]
_MANDARIN: list[Language] = ["zh"]


class ScreenSettings(Section):
    """One gate display: the screen beside one reader's door, on an address of its own."""

    reader_id: str = Field(..., pattern=_ID, description="The reader whose outcomes it shows.")
    host: str = Field(
        "127.0.0.1", min_length=1, max_length=253,
        description="Address to listen on: loopback for a kiosk browser on the gate's own "
        "screen; the gate's network address for a tablet (then set allowed_clients).",
    )
    port: int = Field(..., ge=0, le=65535, description="TCP port, one per screen (0 picks a "
                      "free one, for tests).")
    allowed_clients: list[str] = Field(
        default_factory=list,
        description="Addresses or networks besides this machine that may open the display "
        "(e.g. '192.168.1.50' or '192.168.1.0/24'). The display needs no login, so a host other "
        "than loopback needs this list; every other address is refused.",
    )

    @field_validator("allowed_clients")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError as exc:
                raise ValueError(f"{item!r} is not an address or network, e.g. "
                                 "'192.168.1.50' or '192.168.1.0/24'") from exc
        return value

    @model_validator(mode="after")
    def _network_needs_clients(self) -> ScreenSettings:
        if not is_loopback(self.host) and not self.allowed_clients:
            raise ValueError(
                f"host = {self.host!r} is reachable from the network and the display needs no "
                "login; list the screen's address in allowed_clients (e.g. ['192.168.1.50'])")
        return self


class DisplaySettings(Section):
    """The gate display: verdict, reason and camera preview for the person at the door.

    Served by the gate process on each screen's own address, read only and without login; it
    shows no names or ids. See docs/display.md for the kiosk browser.
    """

    voice: list[Language] = Field(
        default_factory=lambda: _MANDARIN.copy(),
        description="Spoken prompts, in this order: [\"zh\"] Mandarin, [\"zh\", \"en\"] "
        "Mandarin then English, [] none. Made at install time with espeak-ng "
        "(`gridgate display prompts`).",
    )
    outcome_seconds: float = Field(
        4.0, ge=1, le=30, description="How long an outcome stays on the screen.",
    )
    masked_name: bool = Field(
        False, description="Show the holder's name masked (张**) with the outcome. Off: the "
        "screen shows the colour and the reason only, and a passer-by learns nothing of who.",
    )
    preview: bool = Field(True, description="Show the camera preview with the frame guide.")
    mirror_preview: bool = Field(True, description="Show the preview as a mirror image.")
    frame_interval_ms: int = Field(
        200, ge=50, le=5000, description="How often the camera preview is refreshed.",
    )
    prompts_dir: Path | None = Field(
        None, strict=False,
        description="Folder of the spoken prompts; default the one `gridgate display prompts` "
        "writes at install (<prefix>/share/gridgate/prompts).",
    )
    screens: list[ScreenSettings] = Field(
        default_factory=list, description="One per screen; none: no display is served.",
    )

    @model_validator(mode="after")
    def _ports_differ(self) -> DisplaySettings:
        ports = [s.port for s in self.screens if s.port]
        clash = sorted({p for p in ports if ports.count(p) > 1})
        if clash:
            raise ValueError(f"display.screens: port {clash[0]} is used by two screens; give "
                             "each screen its own port")
        ids = [s.reader_id for s in self.screens]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"display.screens: reader {twice[0]!r} has two screens; one "
                             "screen per reader")
        return self

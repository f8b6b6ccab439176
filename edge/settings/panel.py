"""Settings of the guards' web panel (issue 5 fills these in)."""

from __future__ import annotations

from pydantic import Field

from edge.settings.core import Section


class PanelSettings(Section):
    """The local web panel."""

    enabled: bool = Field(False, description="Serve the guards' web panel.")

"""Settings of face recognition (issue 3 fills these in)."""

from __future__ import annotations

from pydantic import Field

from edge.settings.core import Section


class FacesSettings(Section):
    """Face identification at the readers."""

    enabled: bool = Field(False, description="Identify faces at the readers.")

"""Settings of the Prometheus metrics endpoint."""

from __future__ import annotations

from pydantic import Field

from edge.settings.core import Section


class MetricsSettings(Section):
    """Prometheus metrics served by the gate process (docs/metrics.md). Off by default."""

    enabled: bool = Field(False, description="Serve /metrics for Prometheus.")
    host: str = Field(
        "127.0.0.1", min_length=1, max_length=253,
        description="Address to listen on; 127.0.0.1 keeps it on this machine, 0.0.0.0 lets "
        "a Prometheus server elsewhere scrape it (firewall it to that server).",
    )
    port: int = Field(9464, ge=1, le=65535, description="TCP port of the metrics endpoint.")

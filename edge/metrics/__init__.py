"""Prometheus metrics of one gate (prometheus_client), served by the gate process.

Counts that happen (decisions, their latency) are recorded as they happen; levels (frame
rates, the outbox, the disk) are read when Prometheus scrapes. No metric names a person:
labels are reader ids, rules and results only. docs/metrics.md lists every metric.
"""

from edge.metrics.gate import GateMetrics, MetricsServer

__all__ = ["GateMetrics", "MetricsServer"]

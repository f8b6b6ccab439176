"""The gate's metrics: a collector read at scrape time, and counters fed by the checkpoint."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric, SummaryMetricFamily
from prometheus_client.registry import Collector

from gate.checkpoint import Outcome
from gate.errors import GridgateError

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from edge.app import GateApp

log = logging.getLogger(__name__)

# From the camera's capture to the door commanded: the 100 ms region matters most (a person
# feels anything past about 300 ms); the tail shows stalls.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0)


class MetricsError(GridgateError, OSError):
    """The metrics endpoint cannot be served (address in use, not allowed)."""


def _version() -> str:
    try:
        return version("gridgate")
    except PackageNotFoundError:
        return "unknown"


class _Levels(Collector):
    """What is read when Prometheus scrapes: readers, the outbox, the broker, the disk."""

    def __init__(self, app: GateApp) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        app = self.app
        gate = app.settings.gate
        info = GaugeMetricFamily("gridgate_info", "The gate and the program's version.",
                                 labels=["compound", "gate", "version"])
        info.add_metric([gate.compound_id, gate.gate_id, _version()], 1)
        yield info
        fps = GaugeMetricFamily("gridgate_reader_frames_per_second",
                                "Frames each reader processed per second (last 2 s).",
                                labels=["reader"])
        up = GaugeMetricFamily("gridgate_reader_camera_up",
                               "1 while the reader's camera delivers frames.", labels=["reader"])
        frames = GaugeMetricFamily("gridgate_reader_frames",
                                   "Frames each reader processed since the start.",
                                   labels=["reader"])
        decode = SummaryMetricFamily("gridgate_reader_decode_seconds",
                                     "Time spent decoding QR codes, per frame.",
                                     labels=["reader"])
        for reader_id, pipeline in app.pipelines.items():
            stats = pipeline.stats
            fps.add_metric([reader_id], stats.fps)
            up.add_metric([reader_id], 1.0 if stats.camera_ok else 0.0)
            frames.add_metric([reader_id], stats.frames)
            decode.add_metric([reader_id], count_value=stats.frames,
                              sum_value=stats.decode_seconds)
        yield from (fps, up, frames, decode)
        if app.sync is not None:
            yield GaugeMetricFamily("gridgate_outbox_waiting",
                                    "Events waiting in the outbox (every sink).",
                                    value=app.sync.outbox_waiting())
            yield GaugeMetricFamily("gridgate_outbox_oldest_age_seconds",
                                    "How long the first event in sending order has waited.",
                                    value=app.sync.outbox_oldest_age_s())
            yield GaugeMetricFamily("gridgate_broker_connected",
                                    "1 while the platform link is connected to the broker.",
                                    value=1.0 if app.sync.connected else 0.0)
        journal = sum(p.stat().st_size for p in
                      (app.db_path, app.db_path.with_name(app.db_path.name + "-wal"))
                      if p.exists())
        yield GaugeMetricFamily("gridgate_journal_bytes",
                                "Size of the journal database (with its write-ahead log).",
                                value=journal)
        yield GaugeMetricFamily("gridgate_disk_free_bytes",
                                "Free space on the state directory's file system.",
                                value=shutil.disk_usage(app.settings.storage.state_dir).free)
        engine = GaugeMetricFamily("gridgate_face_encoder",
                                   "The code computing face encodings (none: faces off).",
                                   labels=["engine"])
        engine.add_metric([_engine(app)], 1)
        yield engine


def _engine(app: GateApp) -> str:
    if app.face_gallery is None:
        return "none"
    from vision.faces.encode import encoder_engine  # loaded already by the face readers

    return encoder_engine()


class GateMetrics:
    """The metrics registry of one gate, fed by its checkpoint and readers."""

    def __init__(self, app: GateApp) -> None:
        self.registry = CollectorRegistry()
        self.decisions = Counter(
            "gridgate_decisions", "Decisions by reader, rule and result (granted/denied).",
            ["reader", "rule", "result"], registry=self.registry)
        self.latency = Histogram(
            "gridgate_decision_latency_seconds",
            "From the capture of the frame a decision was taken on to the door commanded.",
            ["reader"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.registry.register(_Levels(app))
        app.add_outcome_listener(self.decided)

    def decided(self, outcome: Outcome) -> None:
        reader = outcome.observation.reader.reader_id
        decision = outcome.decision
        self.decisions.labels(reader, decision.rule.value,
                              "granted" if decision.granted else "denied").inc()
        captured = outcome.observation.captured
        if captured is not None:  # overrides come from the panel, with no frame
            self.latency.labels(reader).observe(max(0.0, outcome.acted_at - captured))


class MetricsServer:
    """The /metrics HTTP endpoint on its own thread (prometheus_client's WSGI server)."""

    def __init__(self, metrics: GateMetrics, host: str, port: int) -> None:
        try:
            server, thread = start_http_server(port, addr=host, registry=metrics.registry)
        except OSError as exc:
            raise MetricsError(f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}; "
                               "set metrics.port to a free port") from None
        self._server: WSGIServer = server
        self._thread = thread
        self.port = server.server_port
        log.info("metrics on http://%s:%d/metrics", host, self.port)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

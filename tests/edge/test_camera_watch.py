"""Camera down is one alert per outage: a reader whose frames stop (a live camera retries by
itself and says nothing else) or whose camera failed, again only after it came back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from gpiozero.pins.mock import MockFactory

from edge.app import GateApp
from edge.camera_watch import CameraWatch
from gate.vocabulary import AlertKind
from tests.edge.panel.conftest import gate_settings
from vision.facts import Frame


def test_a_stalled_camera_alerts_once_per_outage(tmp_path: Path) -> None:
    factory = MockFactory()
    now = [1000.0]
    with GateApp(gate_settings(tmp_path), pin_factory=factory) as app:
        watch = CameraWatch(app.keeper, app.pipelines, stall_s=10, monotonic=lambda: now[0])
        image = np.full((240, 320, 3), 80, np.uint8)
        assert watch.check() == []  # the readers get stall_s to deliver their first frame
        now[0] += 6
        app.pipelines["in-cam"].process(Frame(image, seq=1, arrived=now[0]))
        now[0] += 5
        [silent] = watch.check()  # out-cam never delivered a frame
        assert "out-cam" in silent.message_en and "no frame for 11 s" in silent.message_en
        app.pipelines["out-cam"].process(Frame(image, seq=1, arrived=now[0]))
        now[0] += 5
        assert watch.check() == []  # both deliver
        now[0] += 11  # in-cam's last frame is 21 s old now, out-cam's 16 s
        assert sorted(a.message_en.split()[3] for a in watch.check()) == ["in-cam", "out-cam"]
        assert watch.check() == []  # the same outage
        app.pipelines["in-cam"].process(Frame(image, seq=2, arrived=now[0]))
        assert watch.check() == []
        now[0] += 11
        assert [a.message_en.split()[3] for a in watch.check()] == ["in-cam"]  # a new outage
        downs = [a for a in app.journal.alerts() if a["kind"] == AlertKind.CAMERA_DOWN]
        # Repeats of one reader's outage fold into its alert (gate/alert_folding.py).
        assert sorted((a["reader_id"], a["count"]) for a in downs) == [("in-cam", 2),
                                                                       ("out-cam", 2)]
    factory.reset()

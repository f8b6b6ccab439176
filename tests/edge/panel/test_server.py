"""The panel served by uvicorn in a thread: setup token, live feed over SSE, camera image, TLS."""

from __future__ import annotations

import json
import ssl
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
import segno

from edge.app import GateApp
from edge.panel.errors import PanelError
from edge.panel.server import start_panel
from edge.panel.services import SyncStatus
from edge.panel.tls import create_self_signed
from edge.settings.panel import PanelSettings
from gate.model import Colour
from gate.passes import encode_pass, load_signing_key
from gate.passes.claims import PassClaims
from tests.edge.panel.conftest import ADMIN_PASSWORD, CSRF_META, fast_hasher
from vision.facts import Frame


def pass_frame(gate: GateApp, root: Path, seq: int = 1) -> Frame:
    """A camera frame with a genuine green pass in it, signed by the platform key."""
    key = load_signing_key(root / "keys" / "signing.key")
    now = datetime.now(UTC)
    claims = PassClaims(pass_id=f"pass-{seq}", person_id="p-101", household_id="h-1",
                        compound_id="wenjiang-01", colour=Colour.GREEN, issued_at=now,
                        not_before=now - timedelta(hours=1), expires_at=now + timedelta(days=1),
                        grid_id="grid-7")
    modules = np.array(segno.make(encode_pass(claims, key), error="m").matrix, np.uint8)
    qr = np.where(np.pad(modules, 4), 0, 255).astype(np.uint8)
    qr = cv2.resize(qr, (300, 300), interpolation=cv2.INTER_NEAREST)
    scene = np.full((480, 640, 3), 110, np.uint8)
    scene[90:390, 170:470] = qr[:, :, None]
    return Frame(scene, seq=seq, arrived=time.monotonic())


class Feed:
    """The live feed as a browser receives it: (arrival, event, data) per Server-Sent Event."""

    def __init__(self, client: httpx.Client) -> None:
        self.received: list[tuple[float, str, dict]] = []
        self.opened = threading.Event()
        self.thread = threading.Thread(target=self._listen, args=(client,), daemon=True)
        self.thread.start()
        assert self.opened.wait(5), "the event stream opens"

    def _listen(self, client: httpx.Client) -> None:
        with client.stream("GET", "/api/events", timeout=10) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            event = ""
            for line in stream.iter_lines():
                if line.startswith(": subscribed"):
                    self.opened.set()
                elif line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    self.received.append((time.monotonic(), event, json.loads(line[6:])))

    def wait_for(self, event: str, count: int = 1, timeout: float = 3.0) -> list[dict]:
        """The data of the first `count` events of this kind, waiting for them to arrive."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [d for _, e, d in self.received if e == event]
            if len(found) >= count:
                return found[:count]
            time.sleep(0.01)
        raise AssertionError(f"{count} {event} events did not arrive: {self.received}")


def login(client: httpx.Client, name: str, password: str) -> str:
    csrf = CSRF_META.search(client.get("/login").text).group(1)  # type: ignore[union-attr]
    response = client.post("/login", data={"name": name, "password": password,
                                           "csrf_token": csrf})
    assert response.status_code == 303, response.text[:300]
    return str(client.get("/api/me").json()["csrf_token"])


def test_setup_token_live_feed_camera_and_health(gate: GateApp, tmp_path: Path) -> None:
    said: list[str] = []
    sync = SyncStatus(broker_connected=lambda: True, outbox_waiting=lambda: 3,
                      versions=lambda: {"roster": 12, "trust": 4, "policy": 2})
    server = start_panel(gate, PanelSettings(port=0), hasher=fast_hasher(), sync=sync,
                         announce=said.append)
    try:
        assert server.url.startswith("http://127.0.0.1:") and len(said) == 1
        token = server.services.setup.path.read_text().strip()
        assert str(server.services.setup.path) in said[0] and token not in said[0]
        with httpx.Client(base_url=server.url) as client:
            csrf = CSRF_META.search(client.get("/setup").text).group(1)  # type: ignore[union-attr]
            created = client.post("/setup", data={"token": token, "name": "root",
                                                  "password": ADMIN_PASSWORD,
                                                  "password2": ADMIN_PASSWORD,
                                                  "csrf_token": csrf})
            assert created.status_code == 303
            received: list[tuple[float, str, dict]] = []
            opened = threading.Event()

            def listen() -> None:
                with client.stream("GET", "/api/events", timeout=10) as stream:
                    assert stream.headers["content-type"].startswith("text/event-stream")
                    event = ""
                    for line in stream.iter_lines():
                        if line.startswith(": subscribed"):
                            opened.set()
                        elif line.startswith("event: "):
                            event = line[7:]
                        elif line.startswith("data: "):
                            received.append((time.monotonic(), event, json.loads(line[6:])))

            listener = threading.Thread(target=listen, daemon=True)
            listener.start()
            assert opened.wait(5)
            shown = time.monotonic()
            outcomes = gate.pipelines["in-cam"].process(pass_frame(gate, tmp_path))
            assert len(outcomes) == 1 and outcomes[0].decision.granted
            deadline = time.monotonic() + 3
            while not any(e == "passage" for _, e, _ in received) and time.monotonic() < deadline:
                time.sleep(0.01)
            at, _, data = next(r for r in received if r[1] == "passage")
            assert at - shown < 1.0, "a decision reaches the browser within a second"
            assert "p-101" in data["html"] and "放行" in data["html"]
            thumb = data["html"].split('src="')[1].split('"')[0]
            assert client.get(thumb).headers["content-type"] == "image/jpeg"
            image = client.get("/api/readers/in-cam/frame.jpg")
            decoded = cv2.imdecode(np.frombuffer(image.content, np.uint8), cv2.IMREAD_COLOR)
            assert decoded.shape == (480, 640, 3)
            assert client.get("/api/readers/out-cam/frame.jpg").status_code == 503
            health = client.get("/api/health").json()
            assert health["broker"] == "connected" and health["outbox_waiting"] == 3
            assert health["versions"]["documents"] == {"roster": 12, "trust": 4, "policy": 2}
            page = client.get("/health").text
            assert "名册 <code>12</code>" in page and "吊销 <code>—</code>" in page
            assert health["readers"][0]["frames"] == 1 and health["live_viewers"] == 1
            stopping = time.monotonic()
            server.stop()  # with the live stream still open
            assert time.monotonic() - stopping < 4
            listener.join(3)
            assert not listener.is_alive()
    finally:
        server.stop()


def test_health_says_not_configured_without_a_sync_layer(gate: GateApp) -> None:
    server = start_panel(gate, PanelSettings(port=0), hasher=fast_hasher(), announce=print)
    try:
        server.services.users.add("root", "admin", ADMIN_PASSWORD)
        with httpx.Client(base_url=server.url) as client:
            login(client, "root", ADMIN_PASSWORD)
            health = client.get("/api/health").json()
            assert health["broker"] == "not_configured" and health["outbox_waiting"] is None
            assert health["versions"]["documents"] is None
            assert health["disk"]["free_bytes"] > 0 and health["versions"]["policy"]
            assert "未配置" in client.get("/health").text
    finally:
        server.stop()


def test_tls_with_a_self_signed_certificate(gate: GateApp, tmp_path: Path) -> None:
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    create_self_signed(cert, key, hosts=["localhost", "127.0.0.1"])
    assert key.stat().st_mode & 0o077 == 0
    settings = PanelSettings(port=0, tls=True, tls_cert=cert, tls_key=key)
    server = start_panel(gate, settings, hasher=fast_hasher(), announce=print)
    try:
        assert server.url.startswith("https://")
        context = ssl.create_default_context(cafile=str(cert))
        with httpx.Client(base_url=server.url, verify=context) as client:
            page = client.get("/setup")  # no admin yet: the setup page sets its CSRF cookie
            assert page.status_code == 200
            assert "secure" in page.headers["set-cookie"].lower()
            assert page.headers["strict-transport-security"].startswith("max-age=")
        with pytest.raises(httpx.ConnectError), httpx.Client(base_url=server.url) as client:
            client.get("/login")  # not trusted by default: guards install or pin the cert
    finally:
        server.stop()


def test_clear_errors_for_a_missing_certificate_and_a_busy_port(gate: GateApp,
                                                                tmp_path: Path) -> None:
    settings = PanelSettings(port=0, tls=True, tls_cert=tmp_path / "no.crt",
                             tls_key=tmp_path / "no.key")
    with pytest.raises(PanelError, match="gridgate panel cert"):
        start_panel(gate, settings, hasher=fast_hasher(), announce=print)
    unwritable = PanelSettings(port=0, visitor_key=Path("/proc/gridgate/visitor.key"))
    with pytest.raises(PanelError, match="cannot start.*visitor.key"):
        start_panel(gate, unwritable, hasher=fast_hasher(), announce=print)
    server = start_panel(gate, PanelSettings(port=0), hasher=fast_hasher(), announce=print)
    try:
        with pytest.raises(PanelError, match="cannot listen"):
            start_panel(gate, PanelSettings(port=server.port), hasher=fast_hasher(),
                        announce=print)
    finally:
        server.stop()


def test_a_decision_the_journal_cannot_record_yet_still_reaches_the_feed(
        gate: GateApp, tmp_path: Path) -> None:
    server = start_panel(gate, PanelSettings(port=0), hasher=fast_hasher(), announce=print)
    server.services.users.add("root", "admin", ADMIN_PASSWORD)
    with httpx.Client(base_url=server.url) as client:
        login(client, "root", ADMIN_PASSWORD)
        feed = Feed(client)
        records = gate.keeper.journal.db  # the connection records are written on
        pages = records.execute("PRAGMA page_count").fetchone()[0]
        records.execute(f"PRAGMA max_page_count = {pages}")  # the disk fills up
        for seq in range(1, 100):
            outcome = gate.pipelines["in-cam"].process(pass_frame(gate, tmp_path, seq=seq))[0]
            if not outcome.events:
                break
        assert outcome.decision.granted and len(gate.keeper.waiting_passages()) == 1
        assert gate.checkpoint.pending_records >= 1  # its door event waits with it
        shown = feed.wait_for("passage", seq)[-1]["html"]
        assert "尚未写入日志" in shown and "p-101" in shown and 'data-event=""' in shown
        key = shown.split('data-key="')[1].split('"')[0]
        records.execute("PRAGMA max_page_count = 1073741823")  # space again
        gate.pipelines["in-cam"].process(pass_frame(gate, tmp_path, seq=seq + 1))
        assert gate.checkpoint.pending_records == 0
        later = [d["html"] for d in feed.wait_for("passage", seq + 2)[seq:]]
        recorded = next(h for h in later if f'data-key="{key}"' in h)
        assert "尚未写入日志" not in recorded and 'data-event=""' not in recorded
        # The thumbnail taken at decision time stays with the recorded row.
        assert shown.split('src="')[1].split('"')[0] == recorded.split('src="')[1].split('"')[0]
        server.stop()
    feed.thread.join(3)
    # A stopped panel no longer works for the gate (the journal cannot drop its listener).
    thumbs = len(server.services.thumbs)
    gate.pipelines["in-cam"].process(pass_frame(gate, tmp_path, seq=seq + 2))
    assert len(server.services.thumbs) == thumbs

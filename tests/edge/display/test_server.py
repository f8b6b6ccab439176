"""The gate display served by real uvicorn beside a gate on the MockFactory: its page, its
stream, its guard against anything but reading, and one reader per screen."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import queue
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from gpiozero.pins.mock import MockFactory

from edge.app import GateApp
from edge.display.app import Site, create_display_app
from edge.display.prompts import make_prompts
from edge.display.server import DisplayError, DisplayServer, start_displays
from edge.settings import parse_settings
from edge.settings.display import ScreenSettings
from tests.edge.display.support import display_config, frame_with, pass_text

SECRETS = ("p-101", "h-1", "grid-7", "pass-001")


class Served:
    def __init__(self, root: Path, app: GateApp, server: DisplayServer) -> None:
        self.root, self.app, self.server = root, app, server
        self.urls = server.urls

    def show_pass(self, reader_id: str, text: str, seq: int = 1) -> Any:
        [outcome] = self.app.pipelines[reader_id].process(frame_with(text, seq))
        return outcome


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    factory = MockFactory()
    app = GateApp(parse_settings(display_config(tmp_path)), pin_factory=factory)
    server = start_displays(app)
    assert server is not None
    try:
        yield Served(tmp_path, app, server)
    finally:
        server.stop()
        app.close()
        factory.reset()


class Stream:
    """Server-sent events read on a thread, so every wait keeps its own deadline."""

    def __init__(self, url: str) -> None:
        self.events: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        self.client = httpx.Client(timeout=httpx.Timeout(10, read=None))
        self.thread = threading.Thread(target=self._read, args=(url,), daemon=True)
        self.thread.start()

    def _read(self, url: str) -> None:
        try:
            with self.client.stream("GET", url) as response:
                name = ""
                for line in response.iter_lines():
                    if line.startswith("event: "):
                        name = line[7:]
                    elif line.startswith("data: "):
                        self.events.put((name, json.loads(line[6:])))
        except httpx.HTTPError:
            pass
        self.events.put(("end", {}))

    def next(self, kind: str, timeout: float = 5) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                name, data = self.events.get(timeout=left)
            except queue.Empty:
                break
            if name == kind:
                return data
            if name == "end":
                raise AssertionError("the stream ended")
        raise AssertionError(f"no {kind} event within {timeout} s")

    def close(self) -> None:
        self.client.close()


def test_the_page_is_read_only_with_the_panels_security_headers(served: Served) -> None:
    url = served.urls["in-cam"]
    page = httpx.get(url)
    assert page.status_code == 200 and "请出示通行码" in page.text
    headers = page.headers
    assert "media-src 'self'" in headers["content-security-policy"]
    assert "form-action 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff" and headers["x-frame-options"] == "DENY"
    assert headers["cache-control"] == "no-store"
    assert "server" not in headers
    assert httpx.get(url + "static/display.js").status_code == 200
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        answer = httpx.request(method, url, content=b"x" * 10)
        assert answer.status_code == 405 and answer.headers["allow"] == "GET, HEAD", method
        assert answer.headers["connection"] == "close"
    # A body on a read is refused before it is read, declared or chunked.
    assert httpx.request("GET", url, content=b"x" * 1000).status_code == 413
    chunked = httpx.request("GET", url, content=iter([b"x" * 100, b"y" * 100]))
    assert chunked.status_code == 413
    for bad in ("prompts/..%2F..%2Fetc%2Fpasswd", "prompts/granted.fr.wav", "prompts/x.zh.mp3",
                "settings", "api/doors", "login"):
        assert httpx.get(url + bad).status_code in (404, 422), bad


def test_only_loopback_and_the_allowed_clients_may_look(served: Served) -> None:
    site = next(iter(served.server.services.sites.values()))
    assert site.admits("127.0.0.1") and site.admits("::1")
    assert not site.admits("192.168.1.77") and not site.admits("not an address")
    allowed = ["192.168.1.50", "10.1.0.0/16"]
    tablet = Site(ScreenSettings(reader_id="in-cam", host="0.0.0.0", port=8091,
                                 allowed_clients=allowed), site.board, 8091,
                  [ipaddress.ip_network(n) for n in allowed])
    assert tablet.admits("192.168.1.50") and tablet.admits("10.1.200.3")
    assert tablet.admits("::ffff:192.168.1.50")
    assert not tablet.admits("192.168.1.51") and not tablet.admits("fe80::1%eth0")
    # Through the app itself: a stranger on the network is refused before any route runs.
    services = served.server.services
    app = create_display_app(services)
    port = next(iter(services.sites))

    async def status(client: tuple[str, int]) -> int:
        transport = httpx.ASGITransport(app=app, client=client)
        async with httpx.AsyncClient(transport=transport,
                                     base_url=f"http://127.0.0.1:{port}") as http:
            return (await http.get("/screen.json")).status_code

    assert asyncio.run(status(("192.168.1.77", 5000))) == 403
    assert asyncio.run(status(("127.0.0.1", 5000))) == 200


def test_each_screen_follows_its_own_reader_live_and_shows_nobody(served: Served) -> None:
    stream_in, stream_out = Stream(served.urls["in-cam"] + "events"), Stream(
        served.urls["out-cam"] + "events")
    try:
        first = stream_out.next("screen")
        assert first["state"] == "idle"
        stream_in.next("screen")
        started = time.monotonic()
        outcome = served.show_pass("out-cam", pass_text(served.root))
        assert outcome.decision.granted
        shown = stream_out.next("screen")
        delay = time.monotonic() - started
        print(f"\npass to screen event: {delay * 1000:.0f} ms")
        assert shown["state"] == "granted" and shown["verdict_zh"] == "请通行"
        assert shown["reason_zh"] == "绿码，请通行" and shown["prompt"] == "granted"
        for secret in SECRETS:
            assert secret not in json.dumps(shown)
        # The other reader's screen saw nothing but its heartbeat.
        assert stream_in.next("tick", timeout=3) == {}
        in_now = httpx.get(served.urls["in-cam"] + "screen.json").json()
        assert in_now["state"] == "idle"
        # The outcome ends by itself (outcome_seconds, 4 s by default): idle again.
        assert stream_out.next("screen", timeout=6)["state"] == "idle"
    finally:
        stream_in.close()
        stream_out.close()


def test_prompts_and_the_camera_preview(served: Served, tmp_path: Path) -> None:
    url = served.urls["in-cam"]
    assert httpx.get(url + "frame.jpg").status_code == 503  # no frame yet
    served.app.pipelines["in-cam"].process(frame_with(None))
    image = httpx.get(url + "frame.jpg")
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
    assert image.content[:2] == b"\xff\xd8"
    # Prompts come from the configured folder, in the configured languages, those present.
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is absent; install Debian's espeak-ng to make the prompts")
    folder = tmp_path / "prompts"
    make_prompts(folder, languages=("zh",))
    services = served.server.services
    services.prompts_dir = folder
    assert services.prompt_urls("granted") == ["/prompts/granted.zh.wav"]
    sound = httpx.get(url + "prompts/granted.zh.wav")
    assert sound.status_code == 200 and sound.content[:4] == b"RIFF"
    assert sound.headers["content-type"] == "audio/wav"
    assert httpx.get(url + "prompts/granted.en.wav").status_code == 404


def test_stopping_ends_open_streams_and_a_taken_port_is_a_clear_error(tmp_path: Path) -> None:
    factory = MockFactory()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        config = display_config(tmp_path)
        config["display"]["screens"][1]["port"] = busy.getsockname()[1]
        app = GateApp(parse_settings(config), pin_factory=factory)
        try:
            with pytest.raises(DisplayError, match="display of out-cam cannot listen"):
                start_displays(app)
            config["display"]["screens"][1]["port"] = 0
        finally:
            app.close()
    app = GateApp(parse_settings(config), pin_factory=factory)
    server = start_displays(app)
    assert server is not None
    stream = Stream(server.urls["in-cam"] + "events")
    try:
        stream.next("screen")
        started = time.monotonic()
        server.stop()
        stream.next("end", timeout=5)
        assert time.monotonic() - started < 4
    finally:
        stream.close()
        app.close()
        factory.reset()


def test_a_gate_restarted_in_lockdown_shows_it_at_once_on_lamp_and_screen(
        tmp_path: Path) -> None:
    from gate.vocabulary import DoorMode

    config = display_config(tmp_path)
    config["signals"] = {"readers": [{"reader_id": "out-cam", "green_pin": 5, "red_pin": 6}]}
    settings = parse_settings(config)
    factory = MockFactory()
    try:
        with GateApp(settings, pin_factory=factory) as first:
            first.controls.set_mode(DoorMode.LOCKDOWN, actor="guard1", reason="drill",
                                    reader_id="out-cam")
            assert factory.pin(6).state is True
        assert factory.pin(6).state is False, "lamps off when the gate stops"
        with GateApp(settings, pin_factory=factory) as again:
            assert again.doors["out-cam"].mode is DoorMode.LOCKDOWN
            assert again.boards["out-cam"].view()["state"] == "lockdown"
            assert again.boards["in-cam"].view()["state"] == "idle"  # a door of its own
            assert factory.pin(6).state is True and factory.pin(5).state is False
    finally:
        factory.reset()

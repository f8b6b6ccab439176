"""The holder page in a real headless Chromium (Debian's, driven by Playwright), served from
loopback with a strict Content-Security-Policy: it makes its own non-extractable Ed25519 key,
takes the pass `gridgate pass issue --holder-key` bound to that key, and shows a live code.
A screenshot of the phone is decoded (OpenCV image, zxing-cpp through vision.qr) and shown to
a real checkpoint (SQLite file, gpiozero MockFactory relay): granted once, refused as replayed
when shown again, refused as stale 90 s later on the gate's clock."""

from __future__ import annotations

import functools
import http.server
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from gpiozero.pins.mock import MockFactory

from edge.cli.main import cli
from gate.checkpoint import Checkpoint, Outcome
from gate.clock import ManualClock
from gate.door import Door, DoorMode
from gate.journal import Journal
from gate.model import Direction, Method, Reader
from gate.observation import Observation
from gate.passes import TrustList
from gate.passes.live import STEP_S, step_of, step_start
from gate.policy import Policy
from gate.registry import Registry
from gate.rulebook import Rulebook
from gate.store import open_database
from vision.qr import make_decoder

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
PHONE = {"width": 390, "height": 844}
COMPOUND = "wenjiang-01"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
IN = Reader("in-cam", "gate-east", Direction.IN)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason=f"{CHROMIUM} is absent; install Debian's chromium package to run "
                       "the holder page's browser tests (no browser is downloaded)"),
]


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def end_headers(self) -> None:
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The page as `gridgate pass page` writes it, on a loopback port (a secure context)."""
    root = tmp_path_factory.mktemp("holder")
    done = CliRunner().invoke(cli, ["pass", "page", "--out", str(root)])
    assert done.exit_code == 0, done.output
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/index.html"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chromium
        chromium.close()


class Phone:
    """A phone's browser: its own storage, its clock pinned, every problem it logs kept."""

    def __init__(self, browser: Any, site: str, at: datetime | None) -> None:
        self.site = site
        self.context = browser.new_context(viewport=PHONE, device_scale_factor=2,
                                           timezone_id="Asia/Shanghai", locale="zh-CN")
        self.page = self.context.new_page()
        self.page.set_default_timeout(10_000)
        self.external: list[str] = []
        self.problems: list[str] = []
        origin = site.rsplit("/", 1)[0]
        self.page.on("request", lambda r: None if r.url.startswith(origin) or r.url.startswith(
            "data:") else self.external.append(r.url))
        self.page.on("console", lambda m: self.problems.append(m.text)
                     if m.type in ("error", "warning") else None)
        self.page.on("pageerror", lambda e: self.problems.append(str(e)))
        if at is not None:
            self.page.clock.set_fixed_time(at)

    def open(self, url: str | None = None) -> str:
        """Open the page; the holder key it shows."""
        self.page.goto(url or self.site)
        self.page.wait_for_function("() => document.getElementById('holder-key').textContent")
        return str(self.page.text_content("#holder-key"))

    def code_step(self) -> int:
        return int(self.page.get_attribute("#code", "data-step") or -1)

    def screenshot(self, name: str) -> np.ndarray:
        png = self.page.screenshot()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        (SCREENSHOTS / name).write_bytes(png)
        return cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)

    def close(self) -> None:
        self.context.close()
        assert self.external == [], "the holder page must not load anything from other hosts"
        assert self.problems == [], self.problems  # no CSP violation, no script error


class Gate:
    """A real checkpoint whose clock the test sets."""

    def __init__(self, root: Path, trust: TrustList, at: datetime) -> None:
        self.factory = MockFactory()
        self.clock = ManualClock(at)
        self.db = open_database(root / "gridgate.db")
        self.door = Door(17, open_seconds=5, pin_factory=self.factory, clock=self.clock)
        self.checkpoint = Checkpoint(
            compound_id=COMPOUND, rules=Rulebook(trust=trust, policy=Policy()),
            registry=Registry(self.db), journal=Journal(self.db, gate_id="gate-east",
                                                        clock=self.clock),
            doors={"in-cam": self.door}, clock=self.clock)

    def show(self, image: np.ndarray) -> Outcome:
        """Decode a camera image of the phone and decide on the code in it."""
        codes = make_decoder("zxing").decode(image)
        assert len(codes) == 1, f"{len(codes)} codes in the screenshot"
        self.door.set_mode(DoorMode.NORMAL)
        now = self.clock.now()
        return self.checkpoint.handle(Observation(
            reader=IN, method=Method.PASS, seen_at=now,
            pass_check=self.checkpoint.check_pass(codes[0].text, now)))

    def close(self) -> None:
        self.door.close()
        self.checkpoint.live_codes.close()
        self.db.close()
        self.factory.reset()


def issue(tmp_path: Path, holder_key: str, page_url: str) -> dict[str, Any]:
    """The office: a key of its own, then a green pass bound to the phone's key."""
    keys = tmp_path / "platform"
    if not (keys / "signing.key").exists():
        assert CliRunner().invoke(cli, ["keys", "generate", "--out", str(keys)]).exit_code == 0
    done = CliRunner().invoke(cli, [
        "pass", "issue", "--key", str(keys / "signing.key"), "--person", "p-101",
        "--colour", "green", "--household", "h-1", "--compound", COMPOUND,
        "--valid-from", "2026-01-01T00:00:00+08:00", "--valid-until", "2099-01-01T00:00:00+08:00",
        "--pass-id", "pass-001", "--holder-key", holder_key, "--page-url", page_url, "--json"])
    assert done.exit_code == 0, done.output
    issued: dict[str, Any] = json.loads(done.output)
    return issued


def test_a_screenshot_opens_once_and_is_stale_ninety_seconds_later(
        browser: Any, site: str, tmp_path: Path) -> None:
    # Ten seconds into a step, on both clocks: the test never straddles a step by chance.
    at = step_start(step_of(datetime.now(UTC))) + timedelta(seconds=10)
    phone = Phone(browser, site, at)
    key = phone.open()
    assert len(key) == 43
    # The private half was made non-extractable: not even this page can read it out.
    refused = phone.page.evaluate("""() => new Promise((done, fail) => {
        const open = indexedDB.open('gridgate-holder', 1);
        open.onsuccess = () => {
            const get = open.result.transaction('state').objectStore('state').get('keys');
            get.onsuccess = () => {
                const key = get.result.privateKey;
                crypto.subtle.exportKey('pkcs8', key).then(
                    () => done('exported'), e => done(e.name + ' ' + key.extractable));
            };
        };
        open.onerror = () => fail(open.error);
    })""")
    assert refused == "InvalidAccessError false"
    phone.screenshot("holder-enrol.png")

    issued = issue(tmp_path, key, site)
    phone.page.goto(issued["link"])
    phone.page.wait_for_selector("#code[data-step]")
    assert phone.code_step() == step_of(at)
    assert "#pass=" not in phone.page.url  # the pass does not stay in the address bar
    assert phone.page.get_attribute("body", "data-colour") == "green"
    shanghai = at.astimezone(ZoneInfo("Asia/Shanghai"))
    assert phone.page.text_content("#clock") == shanghai.strftime("%H:%M:%S")  # running clock
    version = int(phone.page.get_attribute("#code", "data-version") or 0)
    print(f"\nlive code on the page: QR version {version}")
    assert 0 < version <= 12
    shot = phone.screenshot("holder-live.png")

    gate = Gate(tmp_path, TrustList.load(tmp_path / "platform" / "signing.pub"), at)
    try:
        first = gate.show(shot)
        assert first.decision.granted and first.released, first.decision
        assert first.decision.rule == "green.in" and gate.factory.pin(17).state is True
        assert first.observation.pass_check is not None
        assert first.observation.pass_check.live_step == step_of(at)
        # Shown twice (a screenshot forwarded at once): the second is refused.
        second = gate.show(shot)
        assert second.decision.rule == "pass.replayed" and not second.released
        assert gate.factory.pin(17).state is False
        # The phone moves on to the next step: a fresh code, granted.
        gate.clock.advance(STEP_S)
        phone.page.clock.set_fixed_time(at + timedelta(seconds=STEP_S))
        phone.page.wait_for_function(f"() => document.getElementById('code').dataset.step == "
                                     f"'{step_of(at) + 1}'")
        fresh = gate.show(phone.screenshot("holder-live-next.png"))
        assert fresh.decision.granted, fresh.decision
        # The first screenshot, 90 s after it was taken: worthless.
        gate.clock.set(at + timedelta(seconds=90))
        late = gate.show(shot)
        assert late.decision.rule == "pass.stale_code" and not late.released
        assert "截图无效" in late.decision.reason_zh and late.decision.person_id == "p-101"
        rules = [r["rule"] for r in gate.checkpoint.journal.trajectory("p-101")]
        assert rules == ["green.in", "pass.replayed", "green.in", "pass.stale_code"]
    finally:
        gate.close()

    # The key and the pass stay on the phone: reopened, the same key and a live code again.
    phone.page.reload()
    phone.page.wait_for_selector("#code[data-step]")
    assert phone.page.text_content("#holder-key") == key
    phone.close()


def test_the_clock_runs_and_a_pass_bound_to_another_phone_is_refused(
        browser: Any, site: str, tmp_path: Path) -> None:
    owner = Phone(browser, site, None)  # the phone's own clock, running
    owner_key = owner.open()
    issued = issue(tmp_path, owner_key, site)
    owner.page.goto(issued["link"])
    owner.page.wait_for_selector("#code[data-step]")
    shown = owner.page.text_content("#clock")
    # A guard sees it is live: the seconds tick (and the code changes every 30 s).
    owner.page.wait_for_function(
        f"() => document.getElementById('clock').textContent !== {json.dumps(shown)}",
        timeout=3_000)
    owner.close()
    other = Phone(browser, site, datetime.now(UTC))
    assert other.open() != owner_key  # every phone makes its own key
    other.page.fill("#pass-text", issued["text"])
    other.page.click("#save-pass")
    other.page.wait_for_selector("#message:not([hidden])")
    assert "another phone" in str(other.page.text_content("#message"))
    assert other.page.is_hidden("#live")
    other.close()

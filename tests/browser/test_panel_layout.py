"""Every panel page in a real headless Chromium at a phone's 390x844 and a desk's 1366x900: no
sideways scroll, the live feed on the first screen of a phone, every tab reachable; names,
flats and the permit's source where guards read them; one clock; urgent alerts sound and
notify. Screenshots go to artifacts/screenshots/layout-*.png (look at them, too)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory

from edge.app import GateApp
from edge.panel.server import PanelServer, start_panel
from edge.settings.panel import PanelSettings
from gate.model import AlertSpec, Colour, Method, Permit, Person, Severity
from gate.observation import Observation
from gate.passes import encode_pass, load_signing_key
from gate.passes.claims import PassClaims
from gate.vocabulary import AlertKind
from tests.browser.test_panel_browser import ARGS, CHROMIUM, PC, PHONE, SCREENSHOTS
from tests.edge.panel.conftest import ADMIN_PASSWORD, PASSWORD, fast_hasher, gate_settings

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason=f"{CHROMIUM} is absent; install Debian's chromium package to run "
                       "the panel's browser tests (no browser is downloaded)"),
]
FORCED = AlertSpec(AlertKind.DOOR_FORCED, Severity.URGENT, "门被强行打开", "door forced open")
PASSBACK = AlertSpec(AlertKind.PASSBACK, Severity.WARNING, "重复同向通行", "passed twice")
PAGES = ["/", "/alerts", "/persons", "/persons/p-101", "/persons/p-301", "/visitors",
         "/health", "/users", "/settings", "/account", "/no-such-page"]
NO_SIDEWAYS = "() => document.scrollingElement.scrollWidth <= document.scrollingElement.clientWidth"


class Served:
    def __init__(self, app: GateApp, server: PanelServer, root: Path) -> None:
        self.app, self.server, self.url, self.root = app, server, server.url, root


def _show_pass(app: GateApp, root: Path) -> None:
    """p-101 shows a valid green pass at the exit: the roster has no permit for p-101, so the
    gate decides by the pass (as `gridgate demo` does)."""
    now = app.clock.now()
    claims = PassClaims(pass_id="pass-001", person_id="p-101", household_id="h-1",
                        compound_id="wenjiang-01", colour=Colour.GREEN,
                        issued_at=now - timedelta(days=1), not_before=now - timedelta(days=1),
                        expires_at=now + timedelta(days=30), grid_id="grid-7")
    text = encode_pass(claims, load_signing_key(root / "keys" / "signing.key"))
    check = app.checkpoint.check_pass(text, now)
    assert check.valid, check
    outcome = app.checkpoint.handle(Observation(app.readers["out-cam"], Method.PASS, now,
                                                pass_check=check))
    assert outcome.decision.granted, outcome.decision


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("layout")
    factory = MockFactory()
    app = GateApp(gate_settings(root), pin_factory=factory)
    # The roster names p-101 and the flats; p-301 has the roster's red permit.
    app.registry.put_households([{"household_id": "h-1", "grid_id": "grid-7",
                                  "name": "3-2-301"}])
    app.registry.put_persons([Person("p-101", "h-1", "grid-7", name="王芳"),
                              Person("p-301", "h-3", "grid-7", name="Zhang Wei")])
    app.registry.put_permits([Permit("p-301", Colour.RED, reason="home quarantine")])
    server = start_panel(app, PanelSettings(port=0), hasher=fast_hasher(),
                         announce=lambda s: None, config_path=root / "gridgate.toml")
    server.services.users.add("guard1", "guard", PASSWORD)
    _show_pass(app, root)
    for _ in range(3):  # a flood, folded into one alert with its count
        app.keeper.alert(PASSBACK, reader_id="out-cam", person_id="p-101", household_id="h-1")
    app.keeper.alert(FORCED, reader_id="in-cam")
    server.services.visitors.register(name="李伟", host_household_id="h-1", by="guard1",
                                      valid_until=app.clock.now() + timedelta(hours=3))
    try:
        yield Served(app, server, root)
    finally:
        server.stop()
        app.close()
        factory.reset()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chromium
        chromium.close()


def _context(browser: Any, served: Served, viewport: dict[str, int], lang: str,
             **options: Any) -> Any:
    phone = viewport == PHONE
    context = browser.new_context(viewport=viewport, base_url=served.url, is_mobile=phone,
                                  has_touch=phone, **options)
    if lang == "en":
        host = served.url.split("//", 1)[1].split(":")[0]
        context.add_cookies([{"name": "gridgate_lang", "value": "en", "domain": host,
                              "path": "/"}])
    return context


def _log_in(page: Any, name: str, password: str) -> None:
    page.goto("/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url("**/")


def _check(page: Any, name: str) -> None:
    width = page.evaluate("() => [document.scrollingElement.scrollWidth, "
                          "document.scrollingElement.clientWidth]")
    page.screenshot(path=str(SCREENSHOTS / f"layout-{name}.png"), full_page=True)
    assert page.evaluate(NO_SIDEWAYS), f"{name}: the page scrolls sideways ({width})"


def test_every_page_fits_a_phone_and_a_desk(browser: Any, served: Served) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    views = [(PHONE, "zh", "phone"), (PHONE, "en", "phone-en"), (PC, "zh", "pc")]
    # Before any admin exists: the login and the first-admin setup pages.
    for viewport, lang, tag in views:
        page = _context(browser, served, viewport, lang).new_page()
        page.goto("/setup")
        page.wait_for_selector("input[name=token]")
        _check(page, f"setup-{tag}")
        page.goto("/login")
        _check(page, f"login-{tag}")
        page.context.close()
    served.server.services.users.add("root", "admin", ADMIN_PASSWORD)
    for viewport, lang, tag in views:
        page = _context(browser, served, viewport, lang).new_page()
        page.set_default_timeout(10_000)
        _log_in(page, "root", ADMIN_PASSWORD)
        visitor = served.server.services.visitors.recent(1)[0].pass_id
        for path in [*PAGES, f"/visitors/{visitor}"]:
            page.goto(path)
            name = (path.strip("/").replace("/", "-") or "live").replace(visitor, "pass")
            _check(page, f"{name}-{tag}")
            if viewport is PHONE:
                # Every tab, 设置 included, is on the screen (wrapped, never scrolled away).
                last = page.locator("nav.nav a").last.bounding_box()
                assert last and last["x"] >= 0 and last["x"] + last["width"] <= PHONE["width"]
        page.goto("/")
        if viewport is PHONE:
            top = page.locator("#feed").bounding_box()
            assert top and top["y"] + 120 <= PHONE["height"], f"the feed starts at {top}"
        page.context.close()


def test_names_flats_and_the_permit_source_agree(browser: Any, served: Served) -> None:
    page = _context(browser, served, PC, "en").new_page()
    _log_in(page, "guard1", PASSWORD)
    item = page.locator("#feed li.passage", has_text="pass-001").first
    if not item.count():
        item = page.locator("#feed li.passage").first
    text = item.inner_text()
    assert "王芳" in text and "p-101" in text and "flat 3-2-301" in text
    assert "permit from the pass, valid until" in text and "UTC+8" in text
    page.goto("/persons/p-101")
    permit = page.locator("dd.permit").inner_text()
    assert "Green" in permit or "green" in permit.lower()
    assert "from the pass pass-001" in permit and "no permit in the roster" not in permit
    assert "the gate decides by the colour on the pass" in permit
    page.goto("/persons/p-301")
    assert "permit from the roster" in page.locator("dd.permit").inner_text()
    page.goto("/alerts")
    assert "王芳" in page.locator("li.alert", has_text="passed twice").inner_text()
    # One clock: the feed's clock and every time on the page carry the compound's zone.
    page.goto("/")
    page.wait_for_function("() => /\\d\\d:\\d\\d:\\d\\d UTC\\+8$/.test("
                           "document.getElementById('clock').textContent)")
    times = page.locator("#feed time").all_inner_texts()
    assert times and all(t.endswith("UTC+8") for t in times), times
    page.context.close()


def test_urgent_alerts_sound_and_notify_once_turned_on(browser: Any, served: Served) -> None:
    context = _context(browser, served, PHONE, "zh")
    context.grant_permissions(["notifications"], origin=served.url)
    # Record what the page asks of the browser: notifications shown, tones started.
    context.add_init_script("""
        window.__notes = []; window.__tones = 0;
        const Real = window.Notification;
        window.Notification = function (title, options) {
            window.__notes.push([title, options && options.body]);
            return new Real(title, options);
        };
        window.Notification.permission = Real.permission;
        window.Notification.requestPermission = (...a) => Real.requestPermission(...a);
        if (window.ServiceWorkerRegistration) {
            const show = ServiceWorkerRegistration.prototype.showNotification;
            ServiceWorkerRegistration.prototype.showNotification = function (title, options) {
                window.__notes.push([title, options && options.body]);
                return show.call(this, title, options);
            };
        }
        const start = OscillatorNode.prototype.start;
        OscillatorNode.prototype.start = function (...a) {
            window.__tones++;
            return start.apply(this, a);
        };
    """)
    page = context.new_page()
    page.set_default_timeout(10_000)
    _log_in(page, "guard1", PASSWORD)
    page.wait_for_selector("#live-dot.on")
    bell = page.locator("#chime")
    assert bell.is_visible() and bell.get_attribute("aria-pressed") == "false"
    bell.click()  # the guard's tap: sound allowed, notifications asked for (granted here)
    page.wait_for_function("() => window.__tones >= 3")  # the three-tone test chime
    assert bell.get_attribute("aria-pressed") == "true"
    page.wait_for_function("() => navigator.serviceWorker.getRegistration('/static/')"
                           ".then(r => !!r)")
    tones = page.evaluate("() => window.__tones")
    notes = page.evaluate("() => window.__notes.length")
    served.app.keeper.alert(PASSBACK, reader_id="in-cam", person_id="p-777")  # a warning
    page.wait_for_timeout(1500)
    assert page.evaluate("() => window.__notes.length") == notes, "a warning stays quiet"
    served.app.journal.record_alert(AlertSpec(AlertKind.DOOR_FORCED, Severity.URGENT,
                                              "后门被强行打开", "back door forced open"),
                                    reader_id="out-cam")
    page.wait_for_function("n => window.__notes.length > n", arg=notes)
    title, body = page.evaluate("() => window.__notes[window.__notes.length - 1]")
    assert "紧急" in title and body == "后门被强行打开"
    page.wait_for_function("n => window.__tones >= n + 3", arg=tones)
    page.screenshot(path=str(SCREENSHOTS / "layout-chime-phone.png"))
    # Turned off again on this device: nothing sounds any more.
    bell.click()
    assert bell.get_attribute("aria-pressed") == "false"
    tones = page.evaluate("() => window.__tones")
    notes = page.evaluate("() => window.__notes.length")
    served.app.journal.record_alert(FORCED, reader_id="in-cam", person_id="p-778")
    page.wait_for_timeout(1500)
    assert page.evaluate("() => [window.__tones, window.__notes.length]") == [tones, notes]
    context.close()

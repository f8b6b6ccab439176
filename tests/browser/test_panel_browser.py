"""The guards' panel in a real headless Chromium (Debian's, driven by Playwright), against a
real uvicorn server and a simulated gate (scenario videos, gpiozero MockFactory)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher

from edge.panel.server import PanelServer, start_panel
from edge.settings import load_settings
from edge.settings.panel import PanelSettings

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
GUARD, GUARD_PASSWORD = "guard1", "guard password 1"
PC = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason=f"{CHROMIUM} is absent; install Debian's chromium package to run "
                       "the panel's browser tests (no browser is downloaded)"),
]


class Gate:
    """A simulated gate with its panel served on a free loopback port."""

    def __init__(self, app: Any, server: PanelServer, factory: Any) -> None:
        self.app = app
        self.server = server
        self.factory = factory
        self.url = server.url
        self.outcomes: list[tuple[float, Any]] = []
        self.external: list[str] = []
        self.started = False
        app.add_outcome_listener(self._decided)

    def _decided(self, outcome: Any) -> None:
        # Wall-clock time the door was commanded (what the browser's Date.now() compares to).
        self.outcomes.append((time.time() - (time.monotonic() - outcome.acted_at), outcome))

    def start(self) -> None:
        """Play the scenario videos into the readers (once)."""
        if not self.started:
            self.started = True
            self.app.start_readers(realtime=True)

    def play_to_end(self) -> None:
        """Make sure the whole scenario went through the gate."""
        self.start()
        assert self.app.wait(timeout=40), "the scenario videos end"


@pytest.fixture(scope="module")
def gate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gate]:
    from gpiozero.pins.mock import MockFactory

    from edge.app import GateApp
    from edge.demo.scenario import build_scenario

    scenario = build_scenario(tmp_path_factory.mktemp("scenario"))
    factory = MockFactory()
    app = GateApp(load_settings(scenario.config_path), pin_factory=factory)
    # Real Argon2id with a light cost: the tests log in several times.
    hasher = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
    server = start_panel(app, PanelSettings(port=0), hasher=hasher, announce=lambda s: None)
    server.services.users.add(GUARD, "guard", GUARD_PASSWORD)
    try:
        yield Gate(app, server, factory)
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


def new_page(browser: Any, gate: Gate, viewport: dict[str, int], **options: Any) -> Any:
    context = browser.new_context(viewport=viewport, base_url=gate.url, **options)
    page = context.new_page()
    page.set_default_timeout(10_000)
    # Any request to another host would mean the page depends on the internet.
    page.on("request", lambda r: None if r.url.startswith(gate.url) else gate.external.append(
        r.url))
    return page


def close(page: Any, gate: Gate) -> None:
    page.context.close()
    assert gate.external == [], "the panel must not load anything from other hosts"


def log_in(page: Any) -> None:
    page.goto("/login")
    page.fill("input[name=name]", GUARD)
    page.fill("input[name=password]", GUARD_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/")


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


def test_a_decision_appears_live_after_a_pass_is_shown(browser: Any, gate: Gate) -> None:
    page = new_page(browser, gate, PC)
    log_in(page)
    page.wait_for_selector("#live-dot.on")  # the event stream is open
    page.evaluate("""() => {
        window.__seen = {};
        new MutationObserver(() => document.querySelectorAll('#feed li').forEach(li => {
            if (!window.__seen[li.dataset.event]) window.__seen[li.dataset.event] = Date.now();
        })).observe(document.getElementById('feed'), {childList: true});
    }""")
    assert page.locator("#feed li").count() == 0
    gate.start()
    page.wait_for_selector("#feed li.passage", timeout=15_000)
    first = page.locator("#feed li.passage").first
    assert first.locator(".verdict").inner_text() in ("放行", "拒绝")
    page.wait_for_function("() => document.querySelector('img.cam').naturalWidth === 640")
    # The camera image is refreshed several times a second while the video plays.
    loads = page.evaluate("""() => new Promise(done => {
        const img = document.querySelector('img.cam'); let n = 0;
        const count = () => n++;
        img.addEventListener('load', count);
        setTimeout(() => { img.removeEventListener('load', count); done(n); }, 2000);
    })""")
    assert loads / 2 >= 3, f"{loads / 2} images per second"
    # Let several decisions arrive, then compare when each was decided and when it showed.
    page.wait_for_function("() => document.querySelectorAll('#feed li').length >= 3",
                           timeout=20_000)
    seen = page.evaluate("() => window.__seen")
    delays = [seen[o.events[0].event_id] / 1000 - decided for decided, o in gate.outcomes
              if o.events and o.events[0].event_id in seen]
    assert delays and max(delays) < 1.0, delays
    print(f"\nlive feed delay: max {max(delays) * 1000:.0f} ms over {len(delays)} decisions; "
          f"camera image {loads / 2:.1f} per second")
    assert page.locator("#feed li.passage img.thumb").count() >= 1
    shot(page, "live-pc.png")
    gate.play_to_end()
    close(page, gate)


def test_open_once_pulses_the_relay(browser: Any, gate: Gate) -> None:
    gate.play_to_end()  # so no resident's grant pulses the relay meanwhile
    page = new_page(browser, gate, PC)
    log_in(page)
    pin = gate.factory.pin(17)  # the in-cam door relay
    pin.clear_states()
    form = page.locator("section[data-reader=in-cam] form.door-actions")
    form.locator("select[name=reason]").select_option("visitor_checked")
    form.locator("input[name=note]").fill("courier for h-5")
    form.locator("button[data-action=open-once]").click()
    page.wait_for_selector(".flash")
    # The scenario's red-permit holder was refused exit at out-cam minutes ago: one guard alone
    # opens no door of the gate (docs/panel.md); a second account approves, the relay pulses.
    assert "需另一账号" in page.locator(".flash").inner_text()
    assert [s.state for s in pin.states] == [False]
    [waiting] = gate.app.approvals.pending()
    assert waiting.reader_id == "in-cam" and waiting.denied_passage["person_id"] == "p-301"
    assert gate.app.approvals.approve(waiting.request_id, approver="root").released
    deadline = time.monotonic() + 3
    while len(pin.states) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [s.state for s in pin.states] == [False, True, False]
    assert 0.9 < pin.states[2].timestamp < 1.6  # the scenario's open_seconds is 1.0
    assert "访客已核实" in page.locator("#feed li").first.inner_text()
    # Hold-open with a time limit, then back to normal, from the same controls.
    form.locator("select[name=reason]").select_option("maintenance")
    form.locator("input[name=minutes]").fill("2")
    form.locator("button[data-action=hold-open]").click()
    page.wait_for_selector("[data-door-state=in-cam] .mode-hold_open")
    assert gate.factory.pin(17).state is True
    assert "剩余 2 分钟" in page.locator("[data-door-state=in-cam]").inner_text()
    shot(page, "hold-open-pc.png")
    page.locator("section[data-reader=in-cam] button[data-action=normal]").click()
    page.wait_for_selector("[data-door-state=in-cam] .mode-normal")
    assert gate.factory.pin(17).state is False
    close(page, gate)


def test_acknowledge_an_alert_then_switch_language(browser: Any, gate: Gate) -> None:
    gate.play_to_end()  # the red resident's exit attempt, the forged pass: alerts
    page = new_page(browser, gate, PC)
    log_in(page)
    page.click("nav a[href='/alerts']")
    before = int(page.locator("#alert-count").inner_text())
    assert before >= 1 and page.locator("#alerts li").count() == before
    shot(page, "alerts-zh-pc.png")
    target = page.locator("#alerts li").first
    alert_id = int(target.get_attribute("data-alert"))
    target.locator("input[name=comment]").fill("已通知网格员")
    target.locator("button[type=submit]").click()
    page.wait_for_selector(".flash")
    assert int(page.locator("#alert-count").inner_text()) == before - 1
    row = next(a for a in gate.server.services.queries().alerts(limit=500) if a["id"] == alert_id)
    assert row["acknowledged_by"] == GUARD and row["ack_comment"] == "已通知网格员"
    page.click("#lang-switch")
    page.wait_for_selector("html[lang=en]")
    assert page.locator("nav a[href='/alerts']").inner_text().startswith("Alerts")
    assert page.locator("#alerts li").count() == before - 1
    assert "Acknowledge" in page.locator("#alerts").inner_text()
    shot(page, "alerts-en-pc.png")
    page.click("nav a[href='/health']")
    assert "not configured" in page.locator("main").inner_text()  # no sync layer in this test
    shot(page, "health-en-pc.png")
    page.click("#lang-switch")
    page.wait_for_selector("html[lang=zh-CN]")
    close(page, gate)


def test_phone_live_view_and_visitor_pass(browser: Any, gate: Gate) -> None:
    gate.start()
    page = new_page(browser, gate, PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
    log_in(page)
    page.wait_for_function("() => document.querySelector('img.cam').naturalWidth > 0")
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], "nothing sticks out sideways on a phone"
    shot(page, "live-phone.png")
    page.click("nav a[href='/visitors']")
    page.fill("input[name=name]", "李伟")
    page.fill("input[name=host]", "h-5")
    page.click("form[action='/visitors'] button[type=submit]")
    page.wait_for_selector("img.qr")
    page.wait_for_function("() => document.querySelector('img.qr').naturalWidth > 0")
    assert "李伟" in page.locator(".pass-card").inner_text()
    shot(page, "visitor-pass-phone.png")
    close(page, gate)


def test_person_page_shows_gates_and_contacts(browser: Any, gate: Gate) -> None:
    from datetime import UTC, datetime, timedelta

    from gate.journal.queries import utc_text
    from gate.model import Colour, Decision, Method, Person
    from gate.observation import Observation

    # Two hours ahead: never ordered before the scenario's passages this gate recorded, and
    # far from them, so none of its residents counts as a contact.
    journal, base = gate.app.journal, datetime.now(UTC) + timedelta(hours=2)
    peer_gate = "gate-north"

    def here(person: str, at: datetime) -> None:
        decision = Decision(granted=True, rule="green.out", reason_zh="放行",
                            reason_en="granted", person_id=person, colour=Colour.GREEN)
        journal.record_passage(Observation(reader=gate.app.readers["out-cam"],
                                           method=Method.PASS, seen_at=at),
                               decision, Person(person, "h-90", "grid-9"))

    def there(person: str, at: datetime, seq: int) -> None:
        journal.record_peer_passage({
            "event_id": f"{seq:032x}", "at": utc_text(at), "gate_id": peer_gate,
            "reader_id": "north-in", "direction": "in", "person_id": person,
            "household_id": "h-91", "grid_id": "grid-9", "pass_id": None, "method": "pass",
            "colour": "green", "granted": True, "rule": "green.out", "reason_zh": "放行",
            "reason_en": "granted", "face_distance": None, "faces_in_view": 0, "actor": None,
            "order_at": utc_text(at)}, seq=seq)

    here("t-901", base)                                 # out by this gate
    here("t-902", base + timedelta(minutes=3))          # 3 minutes after, same gate
    there("t-903", base + timedelta(minutes=22), 1)     # 8 minutes before t-901's return
    there("t-901", base + timedelta(minutes=30), 2)     # back in by the other gate
    page = new_page(browser, gate, PC)
    log_in(page)
    page.goto("/persons/t-901")
    trajectory = page.locator("table.trajectory")
    assert trajectory.locator("th").nth(3).inner_text() == "门"
    assert trajectory.locator("td.gate").all_inner_texts() == [peer_gate, "gate-east 本门"]
    contacts = page.locator("#contacts")
    assert "10 分钟" in contacts.locator("select[name=within] option:checked").inner_text()
    rows = contacts.locator("tbody tr")
    assert [rows.nth(i).get_attribute("data-contact") for i in range(rows.count())] == [
        "t-902", "t-903"]
    assert "晚 3:00" in rows.nth(0).inner_text() and "gate-east" in rows.nth(0).inner_text()
    assert "早 8:00" in rows.nth(1).inner_text() and peer_gate in rows.nth(1).inner_text()
    shot(page, "person-contacts-pc.png")
    contacts.locator("select[name=within]").select_option("5")
    contacts.locator("button[type=submit]").click()
    page.wait_for_url("**/persons/t-901?within=5*")
    rows = page.locator("#contacts tbody tr")
    assert rows.count() == 1 and rows.first.get_attribute("data-contact") == "t-902"
    rows.first.locator("a").click()  # on to the contact's own page
    page.wait_for_url("**/persons/t-902")
    assert page.locator("#contacts tbody tr").first.get_attribute("data-contact") == "t-901"
    close(page, gate)

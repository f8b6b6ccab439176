"""The alerts page in a real headless Chromium against a real uvicorn server and a gate on
gpiozero's MockFactory: a folded count that grows live, bulk acknowledgement, and a red
override that opens the door only when a second account approves it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from edge.app import GateApp
from edge.panel.server import start_panel
from edge.settings.panel import PanelSettings
from gate.model import AlertSpec, Severity
from gate.vocabulary import AlertKind
from tests.browser.test_panel_browser import ARGS, CHROMIUM, PC, PHONE
from tests.edge.panel.conftest import (
    ADMIN_PASSWORD,
    OUT_PIN,
    PASSWORD,
    fast_hasher,
    gate_settings,
    red_denial,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason=f"{CHROMIUM} is absent; install Debian's chromium package to run "
                       "the panel's browser tests (no browser is downloaded)"),
]
FORCED = AlertSpec(AlertKind.DOOR_FORCED, Severity.URGENT, "门被强行打开", "door forced open")


class Served:
    def __init__(self, app: GateApp, url: str, factory: MockFactory) -> None:
        self.app, self.url, self.factory = app, url, factory


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    factory = MockFactory()
    app = GateApp(gate_settings(tmp_path), pin_factory=factory)
    server = start_panel(app, PanelSettings(port=0), hasher=fast_hasher(),
                         announce=lambda s: None)
    server.services.users.add("guard1", "guard", PASSWORD)
    server.services.users.add("root", "admin", ADMIN_PASSWORD)
    try:
        yield Served(app, server.url, factory)
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


def logged_in(browser: Any, served: Served, name: str, password: str,
              viewport: dict[str, int]) -> Any:
    context = browser.new_context(viewport=viewport, base_url=served.url)
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto("/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url("**/")
    return page


def test_counts_grow_live_and_selected_alerts_are_acknowledged_at_once(
        browser: Any, served: Served) -> None:
    keeper = served.app.keeper
    for _ in range(3):
        keeper.alert(FORCED, reader_id="in-cam")
    served.app.journal.record_alert(AlertSpec(AlertKind.PASSBACK, Severity.WARNING,
                                              "重复同向通行", "passed twice"))
    page = logged_in(browser, served, "guard1", PASSWORD, PHONE)
    page.goto("/alerts")
    forced = page.locator("li.alert", has_text="门被强行打开")
    assert forced.locator(".chip.count").inner_text() == "3 次"
    forced.locator(".bulk-pick").check()
    # More of the same while the page is open: its count grows there (the event stream may
    # take a moment to open, so repeat until the page shows the count the journal holds).
    count = 3
    for _ in range(20):
        keeper.alert(FORCED, reader_id="in-cam")
        count += 1
        try:
            page.wait_for_function("n => [...document.querySelectorAll('.chip.count')]"
                                   ".some(c => c.textContent.trim() === n + ' 次')", arg=count,
                                   timeout=1000)
            break
        except PlaywrightTimeout:
            continue
    else:
        raise AssertionError("the count never grew on the open page")
    assert [a["count"] for a in served.app.journal.alerts() if a["kind"] == "door_forced"] == [
        count]
    assert page.locator("li.alert", has_text="门被强行打开").locator(".bulk-pick").is_checked()
    assert page.locator("li.alert").count() == 2  # still one alert, not four
    page.check("#bulk-all")
    assert page.locator(".bulk-pick:checked").count() == 2
    page.fill("#bulk-ack input[name=comment]", "checked the door")
    page.click("#bulk-ack button[type=submit]")
    page.wait_for_url("**/alerts?*msg=msg.acknowledged_many")
    assert page.locator("li.alert").count() == 0
    assert page.locator("#alert-count").inner_text() == "0"
    acked = served.app.journal.alerts()
    assert {(a["acknowledged_by"], a["ack_comment"]) for a in acked} == {
        ("guard1", "checked the door")}
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the alerts page scrolls sideways at {width} px"
    page.context.close()


def test_a_red_override_opens_only_with_a_second_accounts_approval(
        browser: Any, served: Served) -> None:
    pin = served.factory.pin(OUT_PIN)
    red_denial(served.app, "out-cam")
    guard = logged_in(browser, served, "guard1", PASSWORD, PC)
    form = guard.locator("form[action='/door/out-cam/open']")
    form.locator("select[name=reason]").select_option("emergency")
    form.locator("button[data-action=open-once]").click()
    guard.wait_for_url("**/?msg=msg.approval_needed")
    assert "需另一账号" in guard.locator(".flash").inner_text()
    assert pin.state is False
    guard.goto("/alerts")
    assert guard.locator("#approvals button[type=submit]").is_disabled()  # not one's own
    root = logged_in(browser, served, "root", ADMIN_PASSWORD, PC)
    root.goto("/alerts")
    assert "guard1" in root.locator("#approvals").inner_text()
    root.click("#approvals button[type=submit]")
    root.wait_for_url("**/alerts?msg=msg.opened")
    assert pin.state is True
    assert root.locator("#approvals").count() == 0
    passage = served.app.journal.recent_passages(1)[0]
    assert passage["actor"] == "guard1" and "approved by root" in passage["reason_en"]
    guard.context.close()
    root.context.close()


def test_a_hold_open_after_a_red_refusal_waits_for_a_second_account(
        browser: Any, served: Served) -> None:
    pin = served.factory.pin(OUT_PIN)
    red_denial(served.app, "out-cam")
    guard = logged_in(browser, served, "guard1", PASSWORD, PC)
    form = guard.locator("form[action='/door/out-cam/open']")
    form.locator("select[name=reason]").select_option("delivery")
    form.locator("input[name=minutes]").fill("15")
    form.locator("button[data-action=hold-open]").click()
    guard.wait_for_url("**/?msg=msg.approval_needed")
    assert "需另一账号" in guard.locator(".flash").inner_text()
    assert pin.state is False
    root = logged_in(browser, served, "root", ADMIN_PASSWORD, PHONE)
    root.goto("/alerts")
    item = root.locator("#approvals li").inner_text()
    assert "guard1" in item and "常开 15 分钟" in item and "p-301" in item
    root.click("#approvals button[type=submit]")
    root.wait_for_url("**/alerts?msg=msg.mode_hold_open")
    assert pin.state is True
    door = served.app.controls.door("out-cam")
    assert door is not None and door.mode.value == "hold_open"
    guard.context.close()
    root.context.close()

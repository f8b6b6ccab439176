"""Guard decides, in a real headless Chromium: two guards watch the live page of a gate that
cannot hear its compound; a yellow exit left to the guard appears at once at its reader on
both pages, one guard lets the person through once (the relay pulses, the override joins the
feed) and the prompt leaves the other guard's page too; a second one is kept refused."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from gpiozero.pins.mock import MockFactory

from edge.panel.server import start_panel
from edge.settings.panel import PanelSettings
from gate.clock import SystemClock
from tests.browser.test_panel_browser import ARGS, CHROMIUM, GUARD, GUARD_PASSWORD, PC, shot
from tests.edge.panel.conftest import OUT_PIN
from tests.edge.panel.test_guard_prompt import refused_for_the_guard, stale_gate

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason=f"{CHROMIUM} is absent; install Debian's chromium package to run "
                       "the panel's browser tests (no browser is downloaded)"),
]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Any, Any, MockFactory]]:
    factory = MockFactory()
    gate = stale_gate(tmp_path, factory, SystemClock())
    hasher = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
    server = start_panel(gate, PanelSettings(port=0), hasher=hasher, announce=lambda s: None)
    server.services.users.add(GUARD, "guard", GUARD_PASSWORD)
    server.services.users.add("guard2", "guard", GUARD_PASSWORD)
    try:
        yield gate, server, factory
    finally:
        server.stop()
        gate.close()
        factory.reset()


def watch(browser: Any, url: str, name: str) -> Any:
    page = browser.new_context(viewport=PC, base_url=url).new_page()
    page.set_default_timeout(10_000)
    page.goto("/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", GUARD_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/")
    page.wait_for_selector("#live-dot.on")  # the event stream is open
    return page


def test_two_guards_see_the_prompt_live_and_one_answers_for_both(
        served: tuple[Any, Any, MockFactory], tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    gate, server, factory = served
    while gate.compound.age_s() <= 1:  # out of date after stale_after_s = 1
        time.sleep(0.05)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            first, second = watch(browser, server.url, GUARD), watch(browser, server.url,
                                                                     "guard2")
            event_id = refused_for_the_guard(gate, tmp_path, "y1")
            selector = f"section[data-reader=out-cam] [data-prompt='{event_id}']"
            for page in (first, second):
                prompt = page.wait_for_selector(selector)
                text = prompt.inner_text()
                assert "y1" in text and "黄码" in text and "其他门外出" in text, text
            shot(first, "guard-prompt-pc.png")
            pin = factory.pin(OUT_PIN)
            pin.clear_states()
            first.locator(selector).locator("button[data-action=guard-open]").click()
            first.wait_for_selector(".flash")
            assert "已开门一次" in first.locator(".flash").inner_text()
            deadline = time.monotonic() + 3
            while len(pin.states) < 3 and time.monotonic() < deadline:
                time.sleep(0.02)
            assert [s.state for s in pin.states] == [False, True, False]
            second.wait_for_selector(selector, state="detached")  # gone for the other guard
            assert first.locator(selector).count() == 0
            newest = second.locator("#feed li").first
            newest.wait_for(state="attached")
            assert GUARD in newest.inner_text() and "y1" in newest.inner_text()

            kept_id = refused_for_the_guard(gate, tmp_path, "y2")
            kept = f"section[data-reader=out-cam] [data-prompt='{kept_id}']"
            first.wait_for_selector(kept)
            second.wait_for_selector(kept).query_selector(
                "button[data-action=guard-refuse]").click()  # type: ignore[union-attr]
            second.wait_for_selector(".flash")
            assert "已维持拒绝" in second.locator(".flash").inner_text()
            first.wait_for_selector(kept, state="detached")
        finally:
            browser.close()

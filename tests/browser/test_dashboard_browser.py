"""A real browser (headless Chromium) signs in, schedules, approves, pauses and broadcasts."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

from bot.store.signin import create_link
from tests.browser.stack import Stack, chromium, keep_screenshot
from tests.integration.test_fanout_support import add_subscribers
from tests.web_harness import STAFF_A, STAFF_B, dashboard_campaign

pytestmark = pytest.mark.browser
WAIT = 60  # seconds: generous, a loaded two-core machine is slow


def waiting(browser: webdriver.Chrome) -> WebDriverWait[webdriver.Chrome]:
    """A wait that looks again when a look fails while the page is being replaced.

    After a form's button is clicked, the old page's element can be found and then be gone
    before its text is read. Chromium reports that as "Node with given id does not belong
    to the document", a plain WebDriverException rather than a stale element, so the wait
    treats any WebDriver error as "not yet" and looks again until WAIT runs out.
    """
    return WebDriverWait(browser, WAIT, ignored_exceptions=(WebDriverException,))


@pytest.fixture(name="stack")
def stack_fixture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    monkeypatch.setenv("PTB_TIMEDELTA", "1")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'browser.sqlite3'}")
    campaign = dashboard_campaign(tmp_path / "c", approvals_required=1)
    config = campaign.config()
    config["broadcast"] = {**config.get("broadcast", {}), "rate": 4}
    campaign.write_config(config)
    stack = Stack(campaign)
    stack.start()
    yield stack
    stack.stop()


@pytest.fixture(name="browser")
def browser_fixture() -> Iterator[webdriver.Chrome]:
    browser = chromium()
    yield browser
    browser.quit()


def sign_in(browser: webdriver.Chrome, stack: Stack, staff_id: int) -> None:
    browser.delete_all_cookies()
    token = create_link(stack.core.store, staff_id, stack.core.clock.now())
    browser.get(f"{stack.url}/signin/{token}")
    browser.find_element(By.ID, "signin").click()
    waiting(browser).until(ec.url_contains("/calendar"))
    assert f"Sign out ({staff_id})" in browser.page_source


def test_staff_work_the_campaign_from_a_browser(
    stack: Stack, browser: webdriver.Chrome, tmp_path: Path
) -> None:
    wait = waiting(browser)
    sign_in(browser, stack, STAFF_A)
    assert browser.find_element(By.ID, "calendar").is_displayed()
    keep_screenshot(browser, tmp_path, "dashboard-calendar.png")

    # Schedule a post for tomorrow 10:30 campaign time from the form.
    zone = stack.core.settings.zone
    tomorrow = (datetime.now(zone) + timedelta(days=1)).replace(hour=10, minute=30)
    browser.get(f"{stack.url}/schedule")
    Select(browser.find_element(By.ID, "item")).select_by_value("d-acknowledge")
    browser.find_element(By.CSS_SELECTOR, "input[name=channel][value=telegram]").click()
    browser.find_element(By.CSS_SELECTOR, "input[name=lang][value=en]").click()
    when = browser.find_element(By.ID, "when")
    browser.execute_script("arguments[0].value = arguments[1]", when, f"{tomorrow:%Y-%m-%dT%H:%M}")
    browser.find_element(By.ID, "schedule").click()
    notice = wait.until(ec.presence_of_element_located((By.ID, "notice"))).text
    assert notice.startswith("Scheduled: post ")
    post_id = int(notice.removeprefix("Scheduled: post ").rstrip("."))

    # Find it in the calendar (the week of tomorrow) and open it.
    browser.get(f"{stack.url}/calendar?start={tomorrow:%Y-%m-%d}")
    slot = browser.find_element(By.CSS_SELECTOR, f"a[href='/calendar/post/{post_id}']")
    assert "10:30" in slot.text and "d-acknowledge" in slot.text and "needs approval" in slot.text
    slot.click()
    assert wait.until(ec.presence_of_element_located((By.ID, "post-state"))).text == (
        "needs approval"
    )
    browser.find_element(By.ID, "approve").click()  # the creator may not approve
    assert (
        "needs approval by a different staff member"
        in wait.until(ec.presence_of_element_located((By.ID, "error"))).text
    )

    # A second staff member approves it.
    sign_in(browser, stack, STAFF_B)
    browser.get(f"{stack.url}/calendar/post/{post_id}")
    browser.find_element(By.ID, "approve").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "post-state"), "scheduled"))
    assert f"approved by telegram:{STAFF_B}" in browser.page_source

    # Pause with a reason, then resume.
    browser.get(f"{stack.url}/library")
    browser.find_element(By.CSS_SELECTOR, "#killswitch input[name=reason]").send_keys(
        "checking a figure"
    )
    browser.find_element(By.ID, "pause").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "state"), "PAUSED"))
    assert browser.find_element(By.ID, "pause-reason").text == "checking a figure"
    assert stack.core.store.is_paused()
    assert "/library" in browser.current_url
    browser.find_element(By.ID, "resume").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "state"), "running"))
    assert not stack.core.store.is_paused()

    browser.get(f"{stack.url}/library")
    keep_screenshot(browser, tmp_path, "dashboard-library.png")
    assert (tmp_path / "dashboard-library.png").stat().st_size > 10_000


def test_a_broadcasts_progress_bar_moves(
    stack: Stack, browser: webdriver.Chrome, tmp_path: Path
) -> None:
    add_subscribers(stack.core.store, range(700_001, 700_041), language="en")
    sign_in(browser, stack, STAFF_A)
    browser.get(f"{stack.url}/broadcasts")
    Select(browser.find_element(By.ID, "broadcast-item")).select_by_value("a-share")
    browser.find_element(By.ID, "plan-broadcast").click()
    audience = waiting(browser).until(ec.presence_of_element_located((By.ID, "audience")))
    assert "en" in audience.text and "40" in audience.text
    browser.find_element(By.ID, "confirm").click()
    bar = waiting(browser).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, "tr[data-progress] progress"))
    )
    seen: list[int] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # the page's script updates the bar; no reload
        value = int(float(bar.get_attribute("value") or 0))
        if not seen or value != seen[-1]:
            seen.append(value)
        if value >= 40:
            break
        time.sleep(0.2)
    assert seen[-1] == 40, seen
    assert any(0 < v < 40 for v in seen), seen  # it moved in steps, not in one jump
    assert seen == sorted(seen)
    row = browser.find_element(By.CSS_SELECTOR, "tr[data-progress]")
    waiting(browser).until(
        lambda _: row.find_element(By.CSS_SELECTOR, "[data-count=sent]").text == "40"
    )
    keep_screenshot(browser, tmp_path, "dashboard-broadcast.png")

"""A community owner's dashboard, as a person sees it in headless Chromium.

Sign in through a one-time link, see the charts render, switch the period, export CSV, resolve a
feedback item, be turned away from another community's dashboard, and read it on a phone.
Screenshots of every step land in artifacts/browser/<test name>/."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import requests

from learnloop.bootstrap import Runtime
from learnloop.services import links, rollups
from learnloop.services.rating import Rater, rate_url
from tests.browser.conftest import CONTINUE, LiveApp, Shots, require_selenium, wait_for

require_selenium()

from selenium.common.exceptions import WebDriverException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402

# Only SQLite: overriding the session fixture's params keeps PostgreSQL from being set up just to be skipped.
pytestmark = pytest.mark.parametrize("migrated_engine", ["sqlite"], indirect=True)

CHANNEL = "dataguild0channel000000000"
OTHER_CHANNEL = "otherguild0channel00000000"
OWNER_ID, OWNER_NAME = "ownerdana00000000000000000", "dana"
MEMBERS = [f"member{n}".ljust(26, "0") for n in range(7)]
WIKI = "https://wiki.acme.example"
FEEDBACK = "The VPN steps are out of date for macOS 15"
PHONE = (390, 844)


@pytest.fixture
def communities() -> list[dict[str, object]]:
    return [{"name": "Data guild", "channel_id": CHANNEL, "owners": [OWNER_ID]},
            {"name": "Platform guild", "channel_id": OTHER_CHANNEL, "owners": []}]


# --- seeding with the service functions -------------------------------------------------------------

def _rate(runtime: Runtime, user: str, url: str, stars: int, when: datetime, comment: str | None = None,
          channel: str = CHANNEL) -> None:
    with runtime.uow() as uow:
        rate_url(uow, runtime.settings, Rater(user, channel, channel_name="data-guild"), url, stars, comment, when)


def _event(runtime: Runtime, kind: str, community_id: int, user: str, when: datetime, **data: object) -> None:
    with runtime.uow() as uow:
        uow.events.append(kind, occurred_at=when, recorded_at=when, community_id=community_id, actor_id=user,
                          data=dict(data))
        uow.commit()


def _community_id(runtime: Runtime, channel: str) -> int:
    with runtime.uow() as uow:
        return uow.communities.by_channel(channel).id


def seed(live: LiveApp) -> tuple[int, int]:
    """Twelve weeks of a lively guild: 6 people rate a page a week; replies, links, a few mentions and
    reflections (too few people: suppressed), and one rating with a comment (open feedback); then the twelfth week
    ends."""
    runtime, now = live.runtime, live.clock.now
    for weeks_ago in range(12):
        when = now - timedelta(weeks=weeks_ago, hours=2)
        for n, member in enumerate(MEMBERS[:6]):
            _rate(runtime, member, f"{WIKI}/Guide_{weeks_ago}", 3 + (n + weeks_ago) % 3, when)
    guild = _community_id(runtime, CHANNEL)
    for weeks_ago in range(4):
        when = now - timedelta(weeks=weeks_ago, hours=1)
        for n, member in enumerate(MEMBERS[:6]):
            _event(runtime, "reply", guild, member, when, root_id=f"root{weeks_ago}{n % 2}")
        for member in MEMBERS[:5]:
            _event(runtime, "link_shared", guild, member, when)
    for member in MEMBERS[:3]:
        _event(runtime, "mention", guild, member, now - timedelta(days=2))
    for member in MEMBERS[:2]:
        _event(runtime, "reflection", guild, member, now - timedelta(days=1), answered_prompt=False)
    _rate(runtime, MEMBERS[6], f"{WIKI}/VPN_setup", 2, now - timedelta(hours=3), comment=FEEDBACK)
    _rate(runtime, MEMBERS[0], f"{WIKI}/Platform_runbook", 4, now - timedelta(hours=3), channel=OTHER_CHANNEL)
    live.clock.next_week()  # this week ends: the worker may show it (the week running is never shown)
    assert rollups.fold_all(runtime.uow, runtime.signing_key, runtime.settings.min_group_size, live.clock.now) > 90
    return guild, _community_id(runtime, OTHER_CHANNEL)


def signin_link(live: LiveApp, community_id: int) -> str:
    with live.runtime.uow() as uow:
        token = links.issue(uow, user_id=OWNER_ID, username=OWNER_NAME, next_path=f"/dashboard/{community_id}",
                            now=live.clock.now)
    return links.signin_url(live.base_url, token)


@pytest.fixture
def guild(live_app: LiveApp) -> tuple[int, int]:
    """The seeded guild's community id, and that of a community the owner does not own."""
    return seed(live_app)


def sign_in(live: LiveApp, driver: WebDriver, community_id: int) -> None:
    driver.get(signin_link(live, community_id))
    navigate_and_wait(driver, lambda: driver.find_element(By.XPATH, CONTINUE).click())
    assert driver.current_url == live.url(f"/dashboard/{community_id}")


# --- reading the page ---------------------------------------------------------------------------------

def heading(driver: WebDriver) -> str:
    return driver.find_element(By.TAG_NAME, "h1").text


def total(driver: WebDriver, label: str) -> str:
    cell = driver.find_element(By.XPATH, f"//dl[@class='figures']/div[dt[normalize-space()='{label}']]/dd")
    return cell.text.split("(")[0].strip()


def week_rows(driver: WebDriver) -> int:
    """Rows of the first measure by week (ratings): one per block of weeks shown."""
    return len(driver.find_element(By.CSS_SELECTOR, "ul.weeks").find_elements(By.TAG_NAME, "li"))


def status_of(driver: WebDriver, url: str) -> int:
    """The HTTP status of a GET with the browser's cookies (the page's CSP forbids fetch() from the page)."""
    cookies = {cookie["name"]: cookie["value"] for cookie in driver.get_cookies()}
    return requests.get(url, cookies=cookies, headers={"Accept": "text/html"}, timeout=10,
                        allow_redirects=False).status_code


def wait_for_download(folder: Path, name: str) -> Path:
    path, deadline = folder / name, time.monotonic() + 10
    while time.monotonic() < deadline:
        if path.exists() and not list(folder.glob("*.crdownload")):
            return path
        time.sleep(0.05)
    raise AssertionError(f"{name} was not downloaded; the folder holds {sorted(p.name for p in folder.iterdir())}")


def charts(driver: WebDriver) -> list[dict[str, object]]:
    """Each chart's drawn size, how many marks it holds, its text, and the colours it is painted in."""
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('figure.chart > svg')).map(s => {"
        "  const r = s.getBoundingClientRect(), fill = sel => {"
        "    const e = s.querySelector(sel); return e ? getComputedStyle(e).fill : null; };"
        "  return {width: r.width, height: r.height, marks: s.querySelectorAll('path, rect').length,"
        "          text: s.textContent, background: fill('rect.background'), line: fill('.series path.line')}; });")


def console_errors(driver: WebDriver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def navigate_and_wait(driver: WebDriver, action: Callable[[], None]) -> None:
    """Click something that loads a new page, and wait for that page to be the one shown.

    The old page is marked with a window property a new document does not have. Waiting for its
    body element to go stale instead races with Chrome mid-navigation, which can answer
    "Node with given id does not belong to the document" rather than "stale element".
    """
    driver.execute_script("window.__learnloopOldPage = true")
    action()
    wait_for(driver, _new_page_loaded, "the page did not change")


def _new_page_loaded(driver: WebDriver) -> bool:
    try:
        return bool(driver.execute_script(
            "return !window.__learnloopOldPage && document.readyState === 'complete'"))
    except WebDriverException:
        return False


# --- the journey ----------------------------------------------------------------------------------------

def test_an_owner_signs_in_reads_exports_and_triages_the_dashboard(
    live_app: LiveApp, guild: tuple[int, int], browser: WebDriver, shot: Shots, downloads: Path
) -> None:
    mine, other = guild
    dashboard = live_app.url(f"/dashboard/{mine}")

    # Not signed in yet: the page says how to sign in rather than showing anything.
    browser.get(dashboard)
    assert heading(browser) == "Sign in to see this dashboard"
    assert "/learn dashboard" in browser.find_element(By.TAG_NAME, "p").text
    shot("not-signed-in")

    # The one-time link shows a button naming the account; pressing it signs in and lands on the dashboard.
    browser.get(signin_link(live_app, mine))
    assert heading(browser) == "Sign in to learnloop"
    shot("signin-link")
    navigate_and_wait(browser, lambda: browser.find_element(By.XPATH, CONTINUE).click())
    assert browser.current_url == dashboard
    assert heading(browser) == "Data guild"
    assert browser.title == "Data guild · learnloop dashboard"
    shot("dashboard-4-weeks")

    # Both charts are there as inline SVG, drawn at a real size, with marks and labels in them.
    drawn = charts(browser)
    assert len(drawn) == 2, drawn
    for chart in drawn:
        assert chart["width"] > 200 and chart["height"] > 80, chart
        assert chart["marks"] > 4, chart
    assert "From each other or from content, by week" in drawn[0]["text"]
    assert "Learning activity by week" in drawn[1]["text"] and "02 Nov" in drawn[1]["text"]
    assert "Not enough to show yet" not in drawn[1]["text"]
    assert browser.find_element(By.CSS_SELECTOR, "nav a[aria-current=page]").text == "Last 4 weeks"
    assert total(browser, "Ratings given") == "19", "6 people a week in the 3 weeks ended, and the rating with feedback"
    assert total(browser, "Replies") == "18"
    assert total(browser, "Links shared") == "15"
    assert week_rows(browser) == 4, "the 3 weeks ended, then the week running: withheld, whatever it holds yet"
    # Fewer than 5 people behind a figure: the number is never shown.
    assert total(browser, "Mentions") == "not shown"
    assert total(browser, "Reflections written") == "not shown"
    assert "fewer than 5" in browser.find_element(By.CSS_SELECTOR, ".lede").text
    assert FEEDBACK in browser.find_element(By.CSS_SELECTOR, ".feedback").text

    # Period: the last 12 weeks through the nav link...
    navigate_and_wait(browser, lambda: browser.find_element(By.LINK_TEXT, "Last 12 weeks").click())
    assert browser.current_url == f"{dashboard}?period=12w"
    assert browser.find_element(By.CSS_SELECTOR, "nav a[aria-current=page]").text == "Last 12 weeks"
    assert total(browser, "Ratings given") == "67", "the 11 weeks ended"
    assert week_rows(browser) == 12, "the 11 weeks ended, then the week running"
    assert "24 Aug" in charts(browser)[1]["text"]
    shot("dashboard-12-weeks")

    # ...then a custom range through the form's date fields.
    start, end = browser.find_element(By.NAME, "start"), browser.find_element(By.NAME, "end")
    browser.execute_script("arguments[0].value = '2026-09-07'; arguments[1].value = '2026-09-27';", start, end)
    navigate_and_wait(browser, lambda: browser.find_element(By.XPATH, "//nav//button[.='Show']").click())
    assert browser.current_url == f"{dashboard}?period=custom&start=2026-09-07&end=2026-09-27"
    assert browser.find_elements(By.CSS_SELECTOR, "nav a[aria-current=page]") == []
    assert browser.find_element(By.NAME, "start").get_attribute("value") == "2026-09-07"
    assert total(browser, "Ratings given") == "18"
    assert total(browser, "Replies") == "0", "nobody replied before October: nothing to hide"
    assert week_rows(browser) == 3
    shot("dashboard-custom-range")

    # CSV export of the period on screen, downloaded by the browser itself.
    browser.find_element(By.LINK_TEXT, "CSV").click()
    exported = wait_for_download(downloads, f"community-{mine}.csv")
    rows = list(csv.reader(io.StringIO(exported.read_text(encoding="utf-8"))))
    assert rows[0] == ["scope", "measure", "from_week", "to_week", "value", "page"]
    period = {measure: value for scope, measure, _, _, value, _ in rows[1:] if scope == "period"}
    assert period["ratings"] == "18"
    assert period["replies"] == "0"
    assert {first for scope, measure, first, _, _, _ in rows[1:] if scope == "weeks" and measure == "ratings"} == \
        {"2026-09-07", "2026-09-14", "2026-09-21"}
    assert heading(browser) == "Data guild", "downloading leaves the page as it was"

    # Resolve the feedback (from the 12-week view): it stays listed as resolved; hidden, it leaves the list.
    browser.get(f"{dashboard}?period=12w")
    item = browser.find_element(By.XPATH, f"//article[@class='feedback']//li[contains(., '{FEEDBACK}')]")
    navigate_and_wait(browser, lambda: item.find_element(By.XPATH, ".//button[.='Mark resolved']").click())
    assert browser.current_url == f"{dashboard}?period=12w", "back on the period that was shown"
    item = browser.find_element(By.XPATH, f"//article[@class='feedback']//li[contains(., '{FEEDBACK}')]")
    assert item.get_attribute("class") == "state-resolved" and "Resolved" in item.text
    shot("feedback-resolved")
    navigate_and_wait(browser, lambda: item.find_element(By.XPATH, ".//button[.='Hide']").click())
    section = browser.find_element(By.XPATH, "//section[h2[@id='feedback']]").text
    assert FEEDBACK not in section and "No feedback to look at." in section
    assert "Show hidden feedback too (1)" in section

    # Another community's dashboard: this owner is not one of its owners.
    browser.get(live_app.url(f"/dashboard/{other}"))
    assert heading(browser) == "Forbidden"
    assert browser.find_element(By.TAG_NAME, "p").text == "Only this community's members can see its dashboard."
    assert "Platform guild" not in browser.page_source
    assert status_of(browser, live_app.url(f"/dashboard/{other}")) == 403
    assert status_of(browser, live_app.url(f"/dashboard/{other}/export.csv")) == 403
    assert status_of(browser, dashboard) == 200, "the browser's own session cookie is what lets it in"
    shot("other-community-403")


def at_phone_width(driver: WebDriver) -> None:
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": PHONE[0], "height": PHONE[1], "deviceScaleFactor": 2, "mobile": True})


def test_the_dashboard_reads_on_a_phone(
    live_app: LiveApp, guild: tuple[int, int], browser: WebDriver, shot: Shots
) -> None:
    mine, _ = guild
    sign_in(live_app, browser, mine)
    at_phone_width(browser)
    browser.get(live_app.url(f"/dashboard/{mine}?period=12w"))
    shot("phone-first-screen", full_page=False)
    shot("phone-12-weeks")
    assert browser.execute_script("return document.documentElement.clientWidth") == PHONE[0]
    drawn = charts(browser)
    assert len(drawn) == 2
    for chart in drawn:
        assert 200 < chart["width"] <= PHONE[0] and chart["height"] > 80, chart
    assert browser.find_element(By.XPATH, "//nav//button[.='Show']").rect["x"] + 10 < PHONE[0]


# --- bugs found here once, kept as regression tests ----

def test_the_charts_are_painted_in_their_colours(
    live_app: LiveApp, guild: tuple[int, int], browser: WebDriver, shot: Shots
) -> None:
    mine, _ = guild
    sign_in(live_app, browser, mine)
    browser.execute_script("document.getElementById('split').scrollIntoView()")
    shot("charts", full_page=False)
    assert [e for e in console_errors(browser) if "Content Security Policy" in e] == []
    for chart in charts(browser):
        assert chart["background"] == "rgb(255, 255, 255)", chart["background"]
        assert chart["line"] in (None, "none"), "a trend line is a stroke, not a filled black shape"


def test_the_dashboard_does_not_scroll_sideways_on_a_phone(
    live_app: LiveApp, guild: tuple[int, int], browser: WebDriver, shot: Shots
) -> None:
    mine, _ = guild
    sign_in(live_app, browser, mine)
    at_phone_width(browser)
    browser.get(live_app.url(f"/dashboard/{mine}?period=12w"))
    browser.execute_script("document.getElementById('trend').scrollIntoView()")
    shot("phone-trend-table", full_page=False)
    wide, client = browser.execute_script(
        "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert wide <= client + 1, f"the page scrolls sideways on a phone: {wide}px wide in {client}px"


def test_resolving_feedback_keeps_a_custom_period(
    live_app: LiveApp, guild: tuple[int, int], browser: WebDriver, shot: Shots
) -> None:
    mine, _ = guild
    sign_in(live_app, browser, mine)
    shown = live_app.url(f"/dashboard/{mine}?period=custom&start=2026-09-07&end=2026-11-02")
    browser.get(shown)
    item = browser.find_element(By.XPATH, f"//article[@class='feedback']//li[contains(., '{FEEDBACK}')]")
    navigate_and_wait(browser, lambda: item.find_element(By.XPATH, ".//button[.='Mark resolved']").click())
    shot("after-resolve-on-custom-period")
    assert heading(browser) == "Data guild", browser.find_element(By.TAG_NAME, "main").text
    assert browser.current_url == shown
    item = browser.find_element(By.XPATH, f"//article[@class='feedback']//li[contains(., '{FEEDBACK}')]")
    assert item.get_attribute("class") == "state-resolved"

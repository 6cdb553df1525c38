"""The rating widget on a real MediaWiki, in headless Chromium.

A reader rates a page inline (the click opens "Sign in with Mattermost" in a popup, which closes itself, and the
rating is recorded), gives a reason for the low rating, rates a second page with one click, and reloads both
without anything being recorded twice; on a second wiki (a page shaped like BookStack's) the same person signs in
without Mattermost being asked again. The widget stays off Special pages, edit forms, histories, diffs and talk
pages. learnloop runs as http://localhost:<port>, the wiki as http://127.0.0.1:<port> (another site), and
Mattermost's OAuth provider is a stand-in (tests/contract/mattermost_oauth.py). Screenshots go to
artifacts/browser/<test name>/.
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import Engine, func, select

from learnloop.services.rating import Rater, rate_url
from learnloop.storage.tables import Event, Feedback, Rating
from tests.browser.conftest import Shots, require_selenium, wait_for
from tests.browser.widget_site import WidgetSite, widget_site
from tests.conftest import FakeClock, shown_scores
from tests.wikis.mediawiki_server import MediaWikiServer
from tests.wikis.mediawiki_support import needs_mediawiki, running_mediawiki

require_selenium()

from selenium.common.exceptions import TimeoutException, WebDriverException  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402

pytestmark = [needs_mediawiki, pytest.mark.parametrize("migrated_engine", ["sqlite"], indirect=True)]
WIDGET = "iframe#learnloop-widget"
LOADER_BUDGET = 2048
"""Bytes of the loader script, gzipped (it runs on every page of the wiki)."""


@pytest.fixture(scope="module")
def mediawiki() -> Iterator[MediaWikiServer]:
    yield from running_mediawiki()


@pytest.fixture
def site(mediawiki: MediaWikiServer, engine: Engine, clock: FakeClock, tmp_path: Path,
         browser: WebDriver) -> Iterator[WidgetSite]:
    with widget_site(mediawiki, engine, clock, tmp_path) as running:
        yield running


def count(site: WidgetSite, statement: object) -> int:
    with site.runtime.reader() as uow:
        return int(uow.session.scalar(statement))  # type: ignore[call-overload]


def recorded(site: WidgetSite) -> tuple[int, int, int]:
    """The reader's ratings, rating events and reasons."""
    user = site.reader_id
    return (count(site, select(func.count()).select_from(Rating).where(Rating.user_id == user)),
            count(site, select(func.count()).select_from(Event).where(Event.kind == "rating", Event.actor_id == user)),
            count(site, select(func.count()).select_from(Feedback).where(Feedback.author_id == user)))


def open_widget(driver: WebDriver, url: str) -> None:
    """Open a wiki page and move into the widget's frame once it shows its rating buttons."""
    driver.switch_to.default_content()
    driver.get(url)
    frame = wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, WIDGET), f"no widget on {url}")[0]
    driver.switch_to.frame(frame)
    wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "button[name=stars]"), "no rating buttons")


def frame_text(driver: WebDriver) -> str:
    """The frame's text, read in one script (no element handle to go stale); empty while the frame is between
    two pages (post/redirect/get), where Chromium may also answer that the node left the document."""
    try:
        return str(driver.execute_script("const main = document.querySelector('main'); "
                                         "return main ? main.innerText : '';"))
    except WebDriverException:
        return ""


def button(driver: WebDriver, label: str) -> object:
    return driver.find_element(By.XPATH, f"//button[@name='stars' and normalize-space()='{label}']")


def others_rate(site: WidgetSite, title: str, *stars: int) -> None:
    for n, value in enumerate(stars):
        with site.runtime.uow() as uow:
            rate_url(uow, site.runtime.settings, Rater(f"colleague{n}".ljust(26, "0")), site.page(title), value,
                     None, site.runtime.clock())


def test_a_reader_rates_inline_signs_in_once_and_nothing_repeats_on_reload(
        site: WidgetSite, browser: WebDriver, shot: Shots) -> None:
    driver = browser
    others_rate(site, "Onboarding", 4, 3, 2)
    shown_scores(site.runtime)
    open_widget(driver, site.page("Onboarding"))
    driver.switch_to.default_content()
    shot("01-page-with-widget")
    driver.switch_to.frame(driver.find_element(By.CSS_SELECTOR, WIDGET))
    assert "Sign in with Mattermost" in frame_text(driver)
    labels = [b.text for b in driver.find_elements(By.CSS_SELECTOR, "button[name=stars]")]
    assert labels == ["1 · Not useful", "2 · Slightly useful", "3 · Useful", "4 · Very useful", "5 · Essential"]

    button(driver, "2 · Slightly useful").click()
    try:
        wait_for(driver, lambda d: "You rate this page 2/5" in frame_text(d), "no rating after signing in")
    except TimeoutException:
        pytest.fail("the rating did not arrive after signing in; still open: " + "; ".join(popup_texts(driver)))
    assert len(driver.window_handles) == 1, "the sign-in popup closed itself"
    assert "Community score 3.0/5 from 3 ratings" in frame_text(driver), "one more rating moves no score"
    assert site.provider.exchanges == 1
    driver.switch_to.default_content()
    shot("02-rated-low-reason-asked")

    driver.switch_to.frame(driver.find_element(By.CSS_SELECTOR, WIDGET))
    driver.find_element(By.XPATH, "//label[normalize-space()='Outdated']/input").click()
    driver.find_element(By.ID, "note").send_keys("The badge office moved to building B.")
    driver.find_element(By.CSS_SELECTOR, "#reason button[type=submit]").click()
    wait_for(driver, lambda d: "owners see that it is outdated" in frame_text(d), "the reason was not confirmed")
    assert recorded(site) == (1, 1, 1)

    driver.refresh()
    open_widget(driver, driver.current_url)
    assert "You rate this page 2/5" in frame_text(driver) and "owners see that it is outdated" in frame_text(driver)
    assert recorded(site) == (1, 1, 1), "a reload records nothing"

    open_widget(driver, site.page("VPN setup"))
    assert "Sign in with Mattermost" not in frame_text(driver)
    driver.execute_script("window.focus()")
    ActionChains(driver).send_keys(Keys.TAB).perform()
    assert driver.switch_to.active_element.text == "1 · Not useful", "the rating buttons are reached by keyboard"
    ActionChains(driver).send_keys(Keys.TAB, Keys.TAB).perform()
    assert driver.switch_to.active_element.text == "3 · Useful"
    button(driver, "5 · Essential").click()
    wait_for(driver, lambda d: "You rate this page 5/5" in frame_text(d), "the second page's rating did not arrive")
    assert "too early to tell (a page's score shows once 3 people have rated it and the week has ended)" in frame_text(driver)
    assert len(driver.window_handles) == 1 and site.provider.exchanges == 1, "one click: no second sign-in"
    driver.switch_to.default_content()
    shot("03-second-page-one-click")

    driver.refresh()
    open_widget(driver, driver.current_url)
    assert "You rate this page 5/5" in frame_text(driver)
    assert recorded(site) == (2, 2, 1), "one rating per person per page, nothing twice"
    with site.runtime.reader() as uow:
        [(reason, note)] = uow.session.execute(select(Feedback.reason, Feedback.comment)).all()
    assert (reason, note) == ("outdated", "The badge office moved to building B.")


def test_one_identity_on_a_second_wiki_signs_in_without_mattermost(
        site: WidgetSite, browser: WebDriver, shot: Shots) -> None:
    open_widget(browser, site.page("VPN setup"))
    button(browser, "3 · Useful").click()
    wait_for(browser, lambda d: "You rate this page 3/5" in frame_text(d), "no rating on the MediaWiki page")

    open_widget(browser, site.bookstack_url)
    assert "Sign in with Mattermost" in frame_text(browser), "the frame's cookie is kept per wiki (partitioned)"
    button(browser, "4 · Very useful").click()
    wait_for(browser, lambda d: "You rate this page 4/5" in frame_text(d), "no rating on the BookStack page")
    assert len(browser.window_handles) == 1 and site.provider.exchanges == 1, "learnloop already knew the person"
    browser.switch_to.default_content()
    shot("01-bookstack-page")
    with site.runtime.reader() as uow:
        ratings = uow.session.execute(select(Rating.user_id, Rating.stars).order_by(Rating.id)).all()
    assert ratings == [(site.reader_id, 3), (site.reader_id, 4)]


def popup_texts(driver: WebDriver) -> list[str]:
    """What any popup still open shows (for a failure message)."""
    main, texts = driver.current_window_handle, []
    for handle in driver.window_handles:
        if handle != main:
            driver.switch_to.window(handle)
            texts.append(f"{driver.current_url}: {driver.find_element(By.TAG_NAME, 'body').text[:300]}")
    driver.switch_to.window(main)
    return texts or ["no popup"]


def test_the_widget_is_only_on_content_pages(site: WidgetSite, browser: WebDriver) -> None:
    site.editor.save("Onboarding", "How we onboard people, now with a badge.", summary="second revision")
    loader = f"{site.learnloop_url}/widget.js"
    elsewhere = {
        "a Special page": f"{site.wiki.url}/wiki/Special:RecentChanges",
        "an edit form": site.page("Onboarding", "action=edit"),
        "a history": site.page("Onboarding", "action=history"),
        "a diff": site.page("Onboarding", "diff=cur&oldid=prev"),
        "a talk page": site.page("Talk:Onboarding"),
        "a missing page": site.page("Nothing here yet"),
    }
    for what, url in elsewhere.items():
        browser.get(url)
        wait_for(browser, lambda d: d.execute_script(
            "return document.readyState === 'complete' && performance.getEntriesByName(arguments[0]).length > 0",
            loader), f"the loader never ran on {what}")
        time.sleep(0.2)
        assert browser.find_elements(By.CSS_SELECTOR, WIDGET) == [], f"the widget showed on {what}"
    browser.get(site.page("VPN setup"))
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, WIDGET), "no widget on an article")


def test_the_widget_names_a_page_as_mediawiki_does(site: WidgetSite, browser: WebDriver) -> None:
    """The frame asks about the page's URL as MediaWiki writes it (wfUrlencode: an apostrophe is %27), the URL
    chat ratings and the wiki's own events name, so a title with one is one item, not two."""
    title = "Don't panic (really)"
    site.editor.save(title, "Breathe, then read the runbook.", summary="new page")
    info = site.editor.urls(title)
    browser.get(info["fullurl"])
    frame = wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, WIDGET), "no widget")[0]
    asked = parse_qs(urlsplit(frame.get_attribute("src")).query)["url"][0]
    assert asked == info["canonicalurl"] and "%27" in asked


def test_the_loader_is_small(site: WidgetSite) -> None:
    body = requests.get(f"{site.learnloop_url}/widget.js", timeout=10).content
    assert len(gzip.compress(body, 9)) <= LOADER_BUDGET, f"the loader is {len(body)} bytes"

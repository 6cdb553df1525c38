"""A tiny community (3 people) and a lively one (12), as their owner sees them in headless Chromium at 1280 px and
at a phone's 390 px: nothing about fewer than k people anywhere on the page, nobody named, nothing cut off,
and no serious or critical accessibility problem (axe-core). Screenshots go to artifacts/browser/."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from learnloop.bootstrap import Runtime
from learnloop.domain.measures import PEOPLE_METRICS, PROMPT_PARTS, REFLECTION_PARTS
from learnloop.services import links, rollups
from learnloop.services.rating import Rater, rate_url
from tests.browser.conftest import CONTINUE, LiveApp, Shots, require_selenium

require_selenium()

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402

pytestmark = pytest.mark.parametrize("migrated_engine", ["sqlite"], indirect=True)

TINY, LIVELY = "tinyguild0channel000000000", "livelyguild0channel0000000"
OWNER = "ownerdana00000000000000000"
K = 5
AXE = Path(__file__).parent / "support" / "node_modules" / "axe-core" / "axe.min.js"
WIDTHS = {"desktop": 1280, "phone": 390}


@pytest.fixture
def communities() -> list[dict[str, object]]:
    return [{"name": "Tiny guild", "channel_id": TINY, "owners": [OWNER]},
            {"name": "Lively guild", "channel_id": LIVELY, "owners": [OWNER]}]


def member(channel: str, n: int) -> str:
    return f"{channel[:6]}{n}".ljust(26, "0")


def seed(live: LiveApp, channel: str, people: int) -> int:
    """Twelve weeks in which everyone rates and replies, some share links, two write reflections."""
    runtime: Runtime = live.runtime
    now = live.clock.now
    with runtime.uow() as uow:
        community_id = uow.communities.ensure(channel, None, "guild", now)
        uow.commit()
    for weeks_ago in range(12):
        when = now - timedelta(weeks=weeks_ago, hours=2)
        for n in range(people):
            with runtime.uow() as uow:
                rate_url(uow, runtime.settings, Rater(member(channel, n), channel, channel_name="guild"),
                         f"https://wiki.acme.example/{channel[:6]}/Guide_{(n + weeks_ago) % 4}", 2 + n % 4, None, when)
            _event(runtime, "reply", community_id, member(channel, n), when, root_id=f"t{n % 3}")
            if n % 2 == 0:
                _event(runtime, "link_shared", community_id, member(channel, n), when)
    for n in range(2):
        _event(runtime, "reflection", community_id, member(channel, n), now - timedelta(days=1),
               answered_prompt=False, visibility="private")
    return community_id


def _event(runtime: Runtime, kind: str, community_id: int, user: str, when: datetime, **data: object) -> None:
    with runtime.uow() as uow:
        uow.events.append(kind, occurred_at=when, recorded_at=when, community_id=community_id, actor_id=user,
                          data=dict(data))
        uow.commit()


@pytest.fixture
def seeded(live_app: LiveApp) -> dict[str, int]:
    found = {"tiny": seed(live_app, TINY, 3), "lively": seed(live_app, LIVELY, 12)}
    live_app.clock.advance(minutes=1)
    runtime = live_app.runtime
    rollups.fold_all(runtime.uow, runtime.signing_key, K, live_app.clock.now)
    return found


def sign_in(live: LiveApp, driver: WebDriver, community_id: int) -> None:
    with live.runtime.uow() as uow:
        token = links.issue(uow, user_id=OWNER, username="dana", next_path=f"/dashboard/{community_id}",
                            now=live.clock.now)
    driver.get(links.signin_url(live.base_url, token))
    driver.find_element(By.XPATH, CONTINUE).click()


def at_width(driver: WebDriver, width: int) -> None:
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 600})


def axe_violations(driver: WebDriver) -> list[dict[str, object]]:
    """Serious and critical violations axe-core finds on the page as shown."""
    driver.execute_script(AXE.read_text(encoding="utf-8"))
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']}).then(r => done(JSON.stringify(r.violations)))"
        ".catch(e => done(JSON.stringify([{id: 'axe-error', impact: 'critical', help: String(e)}])));")
    return [v for v in json.loads(result) if v.get("impact") in ("serious", "critical")]


ABOUT_PEOPLE = PEOPLE_METRICS | set(REFLECTION_PARTS) | set(PROMPT_PARTS)
"""Measures whose figures count people's doings (the parts of the reflections written too)."""


def people_figures(driver: WebDriver) -> list[tuple[str, str]]:
    """Every shown figure of a measure about people, with its measure."""
    found = []
    for element in driver.find_elements(By.CSS_SELECTOR, "[data-measure]"):
        measure = element.get_attribute("data-measure") or ""
        if measure not in ABOUT_PEOPLE:
            continue
        if element.tag_name == "ul":
            found += [(measure, (span.get_attribute("textContent") or "").strip())
                      for span in element.find_elements(By.CSS_SELECTOR, ".what")]
        else:
            found.append((measure, element.text.split(" (")[0]))
    return found


@pytest.mark.parametrize("community", ["tiny", "lively"])
def test_a_community_reads_well_and_says_nothing_about_fewer_than_k(
    live_app: LiveApp, seeded: dict[str, int], browser: WebDriver, shot: Shots, community: str
) -> None:
    community_id = seeded[community]
    sign_in(live_app, browser, community_id)
    for name, width in WIDTHS.items():
        at_width(browser, width)
        browser.get(live_app.url(f"/dashboard/{community_id}?period=12w"))
        shot(f"{community}-{name}")
        main = browser.find_element(By.TAG_NAME, "main").text
        assert "@" not in main, "nobody is named"
        for measure, text in people_figures(browser):
            assert not re.fullmatch(r"[1-4]", text), f"{measure} shows {text}: fewer than {K} people"
        for raters in browser.find_elements(By.CSS_SELECTOR, "ol.top .raters"):
            assert int(raters.text) >= K, "an item's rater count below k"
        wide, client = browser.execute_script(
            "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert wide <= client + 1, f"{community} at {width}px scrolls sideways: {wide}px wide"
        violations = axe_violations(browser)
        assert violations == [], [(v["id"], v.get("help")) for v in violations]
    if community == "tiny":
        assert "Nothing to show yet, and that is by design" in main and "<svg" not in browser.page_source
    else:
        assert browser.find_elements(By.CSS_SELECTOR, "ul.headlines li") and "Stage:" in main
        charts = browser.find_elements(By.CSS_SELECTOR, "figure.chart > svg")
        assert charts, "the lively community has its charts"
        at_width(browser, WIDTHS["phone"])
        browser.get(live_app.url(f"/dashboard/{community_id}?period=12w"))
        sizes = browser.execute_script(
            "return Array.from(document.querySelectorAll('figure.chart svg text'))"
            ".map(t => parseFloat(getComputedStyle(t).fontSize) * t.getScreenCTM().a)")
        assert sizes and min(sizes) >= 9, f"chart text at {min(sizes):.1f}px on a phone"

"""The rating widget's weight, and what it adds to a wiki page's load, in Chromium against the real MediaWiki.

    .venv/bin/python scripts/bench_widget.py [--runs 15]

Starts a throw-away MediaWiki (scripts/mediawiki_fixture.sh), learnloop on http://localhost:<port> with the
widget installed in MediaWiki:Common.js by `learnloop install`, and headless Chromium (Debian's chromium and
chromium-driver), all on loopback, as tests/browser/test_widget_in_chromium.py does.

Weight: the bytes of every response the widget costs a reader (the loader on each page; on content pages the
frame's HTML, CSS and script), as served (learnloop does not compress) and gzipped (level 6, as a reverse
proxy would).

Load: the same article loaded `--runs` times with the widget and `--runs` times without it, interleaved, in
one browser; "without" blocks the loader's URL over DevTools (Network.setBlockedURLs), so the wiki serves the
same Common.js both ways. Each load reads PerformanceNavigationTiming.loadEventEnd; with the widget, also the
moment the frame's document arrived (its resource-timing entry's responseEnd) and the frame's own load event.
Cold: the browser cache disabled for every load; warm: cache on, after one load to fill it. Medians, with
the spread (min-max). Also how many loads requested the loader only once the load event had begun (its
resource-timing startTime against loadEventStart): then it cannot have held the event up, whatever the noise
of a shared machine does to the medians.
"""

from __future__ import annotations

import argparse
import gzip
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import requests
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from tests.browser.conftest import CHROMEDRIVER, CHROMIUM, CHROMIUM_FLAGS
from tests.browser.widget_site import WidgetSite, widget_site
from tests.wikis.mediawiki_server import start_mediawiki

from learnloop.storage.engine import make_engine
from learnloop.storage.migrate import upgrade

TIMING = """
const nav = performance.getEntriesByType('navigation')[0];
if (!nav || !nav.loadEventEnd) { return null; }
const frame = performance.getEntriesByType('resource').find(e => e.initiatorType === 'iframe');
const loader = performance.getEntriesByType('resource').find(e => e.name.endsWith('/widget.js'));
return {load: nav.loadEventEnd, loadStart: nav.loadEventStart, frameDocument: frame ? frame.responseEnd : null,
        frameLoaded: window.__learnloopFrameLoaded || null, loaderStart: loader ? loader.startTime : null};
"""
WATCH_FRAME = """
document.addEventListener('load', event => {
  if (event.target && event.target.id === 'learnloop-widget') { window.__learnloopFrameLoaded = performance.now(); }
}, true);
"""


def weight(site: WidgetSite) -> list[tuple[str, int, int]]:
    base, session = site.learnloop_url, requests.Session()
    page = site.page("Onboarding")
    frame = session.get(f"{base}/widget/frame", params={"url": page, "origin": site.wiki.url}, timeout=10)
    parts = [("loader /widget.js (every page)", session.get(f"{base}/widget.js", timeout=10).content),
             ("frame HTML (content pages)", frame.content),
             ("frame CSS /static/widget.css", session.get(f"{base}/static/widget.css", timeout=10).content),
             ("frame script /static/widget-frame.js",
              session.get(f"{base}/static/widget-frame.js", timeout=10).content)]
    return [(name, len(body), len(gzip.compress(body, 6))) for name, body in parts]


def browser() -> tuple[Any, str]:
    profile = tempfile.mkdtemp(prefix="learnloop-bench-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--window-size=1280,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER),
                                                               log_output=os.devnull))
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": WATCH_FRAME})
    return driver, profile


def load_once(driver: Any, url: str, *, widget: bool) -> dict[str, float]:
    driver.get("about:blank")
    driver.get(url)
    deadline = time.monotonic() + 20
    timing = None
    while time.monotonic() < deadline:
        timing = driver.execute_script(TIMING)
        if timing and (not widget or timing["frameLoaded"]):
            return timing
        time.sleep(0.01)
    raise RuntimeError(f"{url} did not finish loading (widget={widget}): {timing}")


def spread(values: list[float | None]) -> str:
    known = [value for value in values if value is not None]
    if not known:
        return "    n/a"
    return f"{statistics.median(known):7.1f} ms  ({min(known):.1f}-{max(known):.1f})"


def measure(site: WidgetSite, runs: int) -> None:
    driver, profile = browser()
    url = site.page("Onboarding")
    loader = f"{site.learnloop_url}/widget.js"
    try:
        for cache in ("cold", "warm"):
            driver.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": cache == "cold"})
            results: dict[bool, list[dict[str, float]]] = {True: [], False: []}
            for widget in (True, False):
                driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": [] if widget else [loader]})
                load_once(driver, url, widget=widget)
            for _ in range(runs):
                for widget in (True, False):
                    driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": [] if widget else [loader]})
                    results[widget].append(load_once(driver, url, widget=widget))
            with_load = [r["load"] for r in results[True]]
            without_load = [r["load"] for r in results[False]]
            print(f"\n{cache} cache, {runs} loads each, interleaved:")
            print(f"  loadEventEnd without the widget  {spread(without_load)}")
            print(f"  loadEventEnd with the widget     {spread(with_load)}")
            difference = statistics.median(with_load) - statistics.median(without_load)
            print(f"  difference of the medians        {difference:7.1f} ms")
            gaps = [r["loaderStart"] - r["loadStart"] for r in results[True] if r["loaderStart"] is not None]
            print(f"  loader requested after the load event began: {sum(g >= 0 for g in gaps)} of {len(gaps)} loads"
                  f" (earliest {min(gaps):+.1f} ms)")
            print(f"  frame document received         {spread([r['frameDocument'] for r in results[True]])}")
            print(f"  frame loaded (its load event)    {spread([r['frameLoaded'] for r in results[True]])}")
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    work = Path(tempfile.mkdtemp(prefix="learnloop-bench-widget-"))
    wiki = start_mediawiki()
    engine = make_engine(f"sqlite:///{work / 'learnloop.db'}")
    try:
        upgrade(engine)
        from learnloop.clock import utc_now

        with widget_site(wiki, engine, utc_now, work) as site:
            print(f"MediaWiki {wiki.url}, learnloop {site.learnloop_url}, Chromium {CHROMIUM}")
            print(f"\n{'response':40} {'bytes':>7} {'gzip':>7}")
            rows = weight(site)
            for name, raw, packed in rows:
                print(f"{name:40} {raw:7} {packed:7}")
            print(f"{'content page total':40} {sum(r[1] for r in rows):7} {sum(r[2] for r in rows):7}")
            measure(site, args.runs)
    finally:
        engine.dispose()
        wiki.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

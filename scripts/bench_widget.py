"""The rating widget's weight, and what it adds to a wiki page's load, in Chromium against the real MediaWiki
(tests/browser's site: scripts/mediawiki_fixture.sh, learnloop with the widget installed, Debian's Chromium).

    .venv/bin/python scripts/bench_widget.py [--runs 15]

Prints the bytes of every response the widget costs a reader, as served and gzipped; then, cold and warm cache,
the article's loadEventEnd with the widget and with its loader blocked (`--runs` loads each, interleaved;
medians and spread), how many loads requested the loader only once the load event had begun, and when the
widget's frame arrived and loaded.
"""

from __future__ import annotations

import argparse
import gzip
import logging
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import benchlib as b

sys.path.insert(0, str(b.ROOT))

import requests
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from tests.browser.conftest import CHROMEDRIVER, CHROMIUM, CHROMIUM_FLAGS
from tests.browser.widget_site import WidgetSite, widget_site
from tests.wikis.mediawiki_server import start_mediawiki

from learnloop.clock import utc_now
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


def browser(profile: Path) -> Any:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--window-size=1280,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER),
                                                               log_output=os.devnull))
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": WATCH_FRAME})
    return driver


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


def measure(site: WidgetSite, runs: int, profile: Path) -> None:
    driver = browser(profile)
    url = site.page("Onboarding")
    loader = f"{site.learnloop_url}/widget.js"
    try:
        for cache in ("cold", "warm"):
            driver.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": cache == "cold"})
            results: dict[bool, list[dict[str, float]]] = {True: [], False: []}
            for n in range(runs + 1):  # the first round fills the cache, and is not counted
                for widget in (True, False):
                    driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": [] if widget else [loader]})
                    timing = load_once(driver, url, widget=widget)
                    results[widget].extend([timing] if n else [])
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


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with b.workspace("learnloop-bench-widget-", keep=False) as (work, cleanups):
        wiki = start_mediawiki()
        cleanups.append(wiki.stop)
        engine = make_engine(f"sqlite:///{work / 'learnloop.db'}")
        cleanups.append(engine.dispose)
        upgrade(engine)
        with widget_site(wiki, engine, utc_now, work) as site:
            print(f"MediaWiki {wiki.url}, learnloop {site.learnloop_url}, Chromium {CHROMIUM}")
            rows = weight(site)
            rows.append(("content page total", sum(r[1] for r in rows), sum(r[2] for r in rows)))
            print("\n" + b.table(["response", "bytes", "gzip"], rows))
            measure(site, args.runs, work / "profile")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Browser tests: Debian's headless Chromium driven by Selenium through Debian's chromedriver.

No browser is ever downloaded: Selenium is pointed at /usr/bin/chromium and /usr/bin/chromedriver (so
Selenium Manager never runs). `scripts/install_browser.sh` installs both. Where they are missing the tests
are skipped with the reason, except under CI (CI=true), where a missing browser is a failure: there the
tests must really run.

The learnloop app is served by werkzeug on a free loopback port in a background thread, with its own
runtime whose public URL is that http://127.0.0.1:PORT address, so the session cookie is not marked
Secure and the browser keeps it over plain http. Screenshots go to artifacts/browser/ at the repo root.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from werkzeug.serving import BaseWSGIServer, make_server

from learnloop.bootstrap import Runtime, build_runtime
from learnloop.wiring import create_app
from tests.conftest import FakeClock, make_settings

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # pragma: no cover - depends on the machine
    webdriver = None  # type: ignore[assignment]
    WebDriver = Any  # type: ignore[assignment,misc]

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "browser"
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--hide-scrollbars",
)
DESKTOP = (1280, 900)
WAIT_SECONDS = 10
CONTINUE = "//button[starts-with(., 'Continue as @')]"
"""The button of a one-time link's page, which names the account it signs in."""


def _missing() -> str | None:
    if webdriver is None:
        return "the selenium package is not installed: pip install -e '.[test]'"
    absent = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if absent:
        return f"{' and '.join(absent)} not found: run `bash scripts/install_browser.sh` (Debian's chromium, chromium-driver)"
    return None


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _require_browser() -> None:
    """Skip the test when the browser is missing; fail it under CI, where the browser tests must run."""
    reason = _missing()
    if reason is None:
        return
    if _in_ci():
        pytest.fail(f"browser tests must run in CI, but {reason}", pytrace=False)
    pytest.skip(f"browser tests skipped: {reason}")


def require_selenium() -> None:
    """For a test module to call before it imports selenium: skips the module (fails it under CI) without it."""
    if webdriver is not None:
        return
    reason = "the selenium package is not installed: pip install -e '.[test]'"
    if _in_ci():
        pytest.fail(f"browser tests must run in CI, but {reason}", pytrace=False)
    pytest.skip(f"browser tests skipped: {reason}", allow_module_level=True)


@dataclass
class LiveApp:
    """The app served on loopback, and what a test needs to seed it and look at it."""

    runtime: Runtime
    clock: FakeClock
    base_url: str

    def url(self, path: str) -> str:
        return self.base_url + path


@dataclass
class Shots:
    """Numbered screenshots of one test in artifacts/browser/<test name>/."""

    driver: WebDriver
    folder: Path
    taken: list[Path] = field(default_factory=list)

    def __call__(self, name: str, *, full_page: bool = True) -> Path:
        """The whole page by default (DevTools captures beyond the viewport); else what the screen shows."""
        path = self.folder / f"{len(self.taken) + 1:02d}-{name}.png"
        if full_page:
            width, height = self.driver.execute_script(
                "return [document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
            data = self.driver.execute_cdp_cmd("Page.captureScreenshot", {
                "format": "png", "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": width, "height": min(height, 12000), "scale": 1},
            })["data"]
        else:
            data = self.driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})["data"]
        path.write_bytes(base64.b64decode(data))
        self.taken.append(path)
        return path


@pytest.fixture
def communities() -> list[dict[str, object]]:
    """The communities in the served app's settings; a test module overrides this fixture."""
    return []


@pytest.fixture
def live_app(engine: Engine, clock: FakeClock, communities: list[dict[str, object]]) -> Iterator[LiveApp]:
    """create_app(runtime) served by werkzeug on 127.0.0.1:<free port> in a daemon thread."""
    _require_browser()
    if engine.dialect.name != "sqlite":
        pytest.skip("browser tests run on SQLite only; the dashboard's queries are covered on PostgreSQL elsewhere")
    server: BaseWSGIServer = make_server("127.0.0.1", 0, _not_ready, threaded=True)
    base_url = f"http://127.0.0.1:{server.server_port}"
    # No Mattermost bot token: ownership comes from the configured owners only, and nothing calls out.
    settings = make_settings(public_url=base_url, communities=communities, mattermost_bot_token=None)
    runtime = build_runtime(settings, clock=clock, engine=engine)
    app = create_app(runtime)
    server.app = app
    thread = threading.Thread(target=server.serve_forever, name="learnloop-live", daemon=True)
    thread.start()
    try:
        yield LiveApp(runtime=runtime, clock=clock, base_url=base_url)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _not_ready(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
    return [b"starting"]


@pytest.fixture
def downloads(tmp_path: Path) -> Path:
    folder = tmp_path / "downloads"
    folder.mkdir()
    return folder


@pytest.fixture
def browser(downloads: Path) -> Iterator[WebDriver]:
    """A fresh headless Chromium per test: its own profile directory, so no cookie leaks between tests
    (cookies ignore the port, and every test's server is on 127.0.0.1)."""
    _require_browser()
    profile = tempfile.mkdtemp(prefix="learnloop-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={DESKTOP[0]},{DESKTOP[1]}"):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {
        "download.default_directory": str(downloads), "download.prompt_for_download": False,
        "download.directory_upgrade": True, "safebrowsing.enabled": False,
    })
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # console messages, e.g. CSP reports
    service = Service(executable_path=str(CHROMEDRIVER), log_output=os.devnull)
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(30)
    # Headless Chromium saves downloads only when told where, over DevTools as well as in the prefs.
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def shot(browser: WebDriver, request: pytest.FixtureRequest) -> Shots:
    folder = ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    return Shots(browser, folder)


def wait_for(driver: WebDriver, condition: Callable[[WebDriver], Any], message: str) -> Any:
    return WebDriverWait(driver, WAIT_SECONDS).until(condition, message)

"""Helpers shared by the tests that run against a real MediaWiki (see mediawiki_server.py).

`Editor` changes the wiki the way a person would, with plain `requests` calls of its own (not
learnloop's client), so the code under test only ever reads what the wiki really recorded.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from learnloop.config import WikiConfig

from .mediawiki_server import MediaWikiFixtureError, MediaWikiServer, start_mediawiki

INSTALL_PHP = Path("/usr/share/mediawiki/maintenance/install.php")
WIKI_SECRET = "mediawiki-push-secret-0123456789abcdef"

needs_mediawiki = pytest.mark.skipif(
    not INSTALL_PHP.exists() and shutil.which("apt-get") is None,
    reason="real-MediaWiki tests skipped: Debian's mediawiki package is not installed and apt-get is missing",
)


def running_mediawiki() -> Iterator[MediaWikiServer]:
    """Body of a fixture: a fresh wiki, stopped afterwards. Skips (with the reason) when the
    packages were missing and could not be installed; any other failure fails the tests."""
    had_packages = INSTALL_PHP.exists()
    try:
        server = start_mediawiki()
    except MediaWikiFixtureError as exc:
        if had_packages:
            raise
        pytest.skip(f"real-MediaWiki tests skipped: the Debian packages could not be installed: {exc}"[:500])
    print(f"\n[real MediaWiki] {server.url} ({server.dir})", file=sys.stderr)
    try:
        yield server
    finally:
        server.stop()


def wiki_config(server: MediaWikiServer, *, name: str = "handbook", **changes: Any) -> WikiConfig:
    values: dict[str, Any] = {"name": name, "kind": "mediawiki", "url": server.url, "secret": WIKI_SECRET,
                              "bot_user": server.bot_user, "bot_password": server.bot_password}
    values.update(changes)
    return WikiConfig(**values)


class Editor:
    """A logged-in person (the fixture's admin account, through its own bot password session)."""

    def __init__(self, server: MediaWikiServer) -> None:
        self.api = server.api_url
        self.session = requests.Session()
        token = self._get(action="query", meta="tokens", type="login")["query"]["tokens"]["logintoken"]
        login = self._post(action="login", lgname=server.bot_user, lgpassword=server.bot_password,
                           lgtoken=token)["login"]
        assert login["result"] == "Success", login
        self.csrf = self._get(action="query", meta="tokens")["query"]["tokens"]["csrftoken"]

    def _get(self, **params: str) -> dict[str, Any]:
        response = self.session.get(self.api, params={"format": "json", "formatversion": "2", **params}, timeout=30)
        response.raise_for_status()
        body = response.json()
        assert "error" not in body, body
        return body

    def _post(self, **params: str) -> dict[str, Any]:
        response = self.session.post(self.api, data={"format": "json", "formatversion": "2", **params}, timeout=30)
        response.raise_for_status()
        body = response.json()
        assert "error" not in body, body
        return body

    def save(self, title: str, text: str, *, summary: str = "", minor: bool = False) -> dict[str, Any]:
        """Create or replace the page; returns the edit result (pageid, newrevid, ...)."""
        params = {"action": "edit", "title": title, "text": text, "summary": summary, "token": self.csrf}
        if minor:
            params["minor"] = "1"
        edit = self._post(**params)["edit"]
        assert edit["result"] == "Success", edit
        return edit

    def wikitext(self, title: str) -> str:
        page = self._get(action="query", prop="revisions", rvprop="content", rvslots="main", titles=title)
        return page["query"]["pages"][0]["revisions"][0]["slots"]["main"]["content"]

    def categories(self, title: str) -> list[str]:
        page = self._get(action="query", prop="categories", titles=title)["query"]["pages"][0]
        return [category["title"] for category in page.get("categories", [])]

    def templates(self, title: str) -> list[str]:
        """The pages the page transcludes (templates), as the wiki recorded them when it saved it."""
        page = self._get(action="query", prop="templates", titles=title)["query"]["pages"][0]
        return [template["title"] for template in page.get("templates", [])]

    def rendered(self, title: str) -> str:
        """The page's HTML as readers get it (action=parse)."""
        return str(self._get(action="parse", page=title, prop="text")["parse"]["text"])

    def sections(self, title: str) -> list[dict[str, Any]]:
        """The page's sections as the parser sees them (headings only, not text that looks like one)."""
        return list(self._get(action="parse", page=title, prop="sections")["parse"]["sections"])

    def newest_rcid(self) -> int:
        return self._get(action="query", list="recentchanges", rcdir="older", rclimit="1",
                         rcprop="ids")["query"]["recentchanges"][0]["rcid"]

    def rc_of_revision(self, revid: int) -> dict[str, Any]:
        changes = self._get(action="query", list="recentchanges", rcprop="ids|timestamp|title",
                            rclimit="50")["query"]["recentchanges"]
        return next(change for change in changes if change["revid"] == revid)

    def delete(self, title: str) -> None:
        self._post(action="delete", title=title, reason="test", token=self.csrf)

    def move(self, title: str, to: str, *, redirect: bool = True, reason: str = "test") -> dict[str, Any]:
        """Rename the page (the `move` right, from the bot password's createeditmovepage grant); by default
        MediaWiki leaves a redirect at the old title."""
        params = {"action": "move", "from": title, "to": to, "reason": reason, "token": self.csrf}
        if not redirect:
            params["noredirect"] = "1"  # needs suppressredirect, which the same grant gives
        return self._post(**params)["move"]

    def undelete(self, title: str, *, reason: str = "test") -> dict[str, Any]:
        """Bring a deleted page back (the `undelete` right, from the delete grant)."""
        return self._post(action="undelete", title=title, reason=reason, token=self.csrf)["undelete"]

    def urls(self, title: str) -> dict[str, Any]:
        """The page's info with its URLs as MediaWiki writes them (`fullurl`, `canonicalurl`)."""
        return dict(self._get(action="query", prop="info", inprop="url", titles=title)["query"]["pages"][0])

    def page_id(self, title: str) -> int:
        return int(self._get(action="query", titles=title)["query"]["pages"][0]["pageid"])

    def newest_rcids(self, count: int) -> list[int]:
        """The rcids of the newest `count` recent changes of any type, oldest first."""
        changes = self._get(action="query", list="recentchanges", rcdir="older", rclimit=str(count),
                            rcprop="ids")["query"]["recentchanges"]
        return sorted(change["rcid"] for change in changes)

"""Smoke test: a real MediaWiki starts, a bot password logs in, edits show up in recentchanges."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import requests

from .mediawiki_server import start_mediawiki
from .mediawiki_support import needs_mediawiki

PAGE = "Learnloop smoke"

pytestmark = pytest.mark.skipif(
    not Path("/usr/share/mediawiki/maintenance/install.php").exists() and shutil.which("apt-get") is None,
    reason="needs Debian's mediawiki package (or apt-get to install it)",
)


def _api(session: requests.Session, api_url: str, method: str = "GET", **params: str) -> dict:
    params = {"format": "json", "formatversion": "2", **params}
    if method == "POST":
        response = session.post(api_url, data=params, timeout=30)
    else:
        response = session.get(api_url, params=params, timeout=30)
    response.raise_for_status()
    body = response.json()
    assert "error" not in body, body
    return body


@needs_mediawiki
def test_real_mediawiki_bot_login_edit_and_recentchanges() -> None:
    server = start_mediawiki()
    try:
        with requests.Session() as session:
            login_token = _api(session, server.api_url, action="query", meta="tokens", type="login")[
                "query"
            ]["tokens"]["logintoken"]
            login = _api(
                session,
                server.api_url,
                "POST",
                action="login",
                lgname=server.bot_user,
                lgpassword=server.bot_password,
                lgtoken=login_token,
            )["login"]
            assert login["result"] == "Success", login
            assert login["lgusername"] == "Admin"

            csrf = _api(session, server.api_url, action="query", meta="tokens")["query"]["tokens"]["csrftoken"]
            assert csrf != "+\\", "still anonymous after login"
            edit = _api(
                session,
                server.api_url,
                "POST",
                action="edit",
                title=PAGE,
                text="Hello from the learnloop smoke test.",
                summary="learnloop smoke",
                token=csrf,
            )["edit"]
            assert edit["result"] == "Success", edit
            revid = edit["newrevid"]

            changes = _api(
                session,
                server.api_url,
                action="query",
                list="recentchanges",
                rctitle=PAGE,
                rcprop="ids|title|user|comment|timestamp",
                rclimit="10",
            )["query"]["recentchanges"]
            mine = [change for change in changes if change["revid"] == revid]
            assert len(mine) == 1, changes
            assert mine[0]["title"] == PAGE
            assert isinstance(mine[0]["rcid"], int) and mine[0]["rcid"] > 0
            assert mine[0]["type"] == "new"
            assert mine[0]["user"] == "Admin"
    finally:
        server.stop()
    assert not server.dir.exists()

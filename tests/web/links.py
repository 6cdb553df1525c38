"""Following a one-time link from the bot in a test client, as a browser does: open it, then confirm."""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

LINK = re.compile(r"\((https://learnloop\.example\.com(/(?:signin|mydata)\?token=[^)\s]+))\)")


def link_path(text: str) -> str:
    """The path (with its token) of the first one-time link in a bot's reply."""
    found = LINK.search(text)
    assert found is not None, f"no one-time link in {text!r}"
    return found.group(2)


def confirm(client: FlaskClient, path: str) -> TestResponse:
    """Open the link's page and press its button (the page's form carries the token and this browser's nonce)."""
    page = client.get(path).get_data(as_text=True)
    token = re.search(r'name="token" value="([^"]*)"', page)
    nonce = re.search(r'name="nonce" value="([^"]*)"', page)
    action = path.split("?", 1)[0]
    return client.post(action, data={"token": token.group(1) if token else path.split("token=", 1)[-1],
                                     "nonce": nonce.group(1) if nonce else ""})

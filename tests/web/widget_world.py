"""The widget's frame and its sign-in popup in a test client: a wiki page, a reader, Mattermost's OAuth provider."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.contract.mattermost_oauth import OAuthProvider

WIKI = "https://wiki.acme.example"
PAGE = f"{WIKI}/wiki/Onboarding"
OTHER_PAGE = f"{WIKI}/wiki/VPN_setup"
MEDIAWIKI = {"name": "handbook", "kind": "mediawiki", "url": f"{WIKI}/w", "secret": "s" * 24,
             "bot_user": "Admin@learnloop", "bot_password": "p" * 32}


def field(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found is not None, f"no {name} in the page"
    return found.group(1)


def attribute(html: str, name: str) -> str:
    found = re.search(rf'{name}="([^"]*)"', html)
    assert found is not None, f"no {name} in the page"
    return found.group(1).replace("&amp;", "&")


@dataclass
class Reader:
    """One browser: the frame on a wiki page (its own cookie) and the popup it opens (learnloop's own)."""

    client: FlaskClient
    provider: OAuthProvider | None = None

    def frame(self, page: str = PAGE, **extra: str) -> TestResponse:
        return self.client.get("/widget/frame", query_string={"url": page, "origin": WIKI, **extra})

    def post(self, action: str, page: str = PAGE, **form: str) -> TestResponse:
        html = self.frame(page).get_data(as_text=True)
        return self.client.post(f"/widget/{action}", data={
            "csrf_token": field(html, "csrf_token"), "url": page, "origin": WIKI, **form})

    def rate(self, stars: int | str, page: str = PAGE) -> TestResponse:
        return self.post("rate", page, stars=str(stars))

    def popup(self, page: str = PAGE) -> TestResponse:
        """Press "Sign in with Mattermost": the popup follows Mattermost's redirects back to learnloop."""
        connect = attribute(self.frame(page).get_data(as_text=True), "data-connect")
        response = self.client.get(connect)
        if response.status_code == 302 and self.provider is not None:
            location = urlsplit(response.headers["Location"])
            query = {key: values[0] for key, values in parse_qs(location.query).items()}
            status, headers, _ = self.provider.authorize(query, f"{location.path}?{location.query}")
            assert status == 302, f"Mattermost answered {status}"
            back = urlsplit(headers["Location"])
            response = self.client.get(back.path, query_string=back.query)
        return response

    def sign_in(self, page: str = PAGE, stars: str = "") -> TestResponse:
        """The popup's code, posted by the frame as its script does."""
        popup = self.popup(page)
        assert popup.status_code == 200, popup.get_data(as_text=True)
        code = attribute(popup.get_data(as_text=True), "data-handoff")
        return self.post("signin", page, code=code, stars=stars)

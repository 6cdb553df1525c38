"""A rated URL is a chat permalink when it points at the configured Mattermost, else a shared link."""

from __future__ import annotations

import pytest
from tests.conftest import make_settings

from learnloop.domain.urls import normalise_url
from learnloop.services.content_kinds import classify_url

POST_ID = "k8x3m1q9wfb6ddtz5y4oa7c2re"


@pytest.mark.parametrize(("chat_url", "link", "kind"), [
    ("https://chat.acme.example", f"https://chat.acme.example/dev-team/pl/{POST_ID}", "chat_post"),
    ("https://CHAT.Acme.example/", f"https://chat.acme.example/dev-team/pl/{POST_ID}", "chat_post"),
    ("https://chat.acme.example", f"https://CHAT.acme.example/dev-team/pl/{POST_ID}/", "chat_post"),
    ("https://chat.acme.example.:443/", f"https://chat.acme.example/dev-team/pl/{POST_ID}", "chat_post"),
    ("https://chat.acme.example", "https://chat.acme.example/dev-team/channels/town-square", "link"),
    ("https://chat.acme.example", f"https://other.example/dev-team/pl/{POST_ID}", "link"),
    (None, f"https://chat.acme.example/dev-team/pl/{POST_ID}", "link"),
])
def test_a_permalink_to_the_configured_chat_is_a_chat_post(chat_url: str | None, link: str, kind: str) -> None:
    assert classify_url(normalise_url(link), make_settings(mattermost_url=chat_url)) == kind

"""What kind of content a URL names: a chat permalink, a wiki page, or a shared link."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from learnloop.config import Settings

_PERMALINK_PATH = re.compile(r"^/[^/]+/pl/[a-z0-9]{26}$")


def classify_url(url: str, settings: Settings) -> str:
    parts = urlsplit(url)
    chat = settings.mattermost_url_text
    if chat and parts.netloc == urlsplit(chat).netloc and _PERMALINK_PATH.match(parts.path):
        return "chat_post"
    return "link"

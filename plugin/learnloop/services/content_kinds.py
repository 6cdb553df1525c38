"""What kind of content a URL names: a chat permalink, a wiki page, or a shared link."""

from __future__ import annotations

import functools
import re
from urllib.parse import urlsplit

from learnloop.config import Settings
from learnloop.domain.urls import InvalidUrl, normalise_url

_PERMALINK_PATH = re.compile(r"^/[^/]+/pl/[a-z0-9]{26}$")


@functools.lru_cache(maxsize=8)
def _host_of(chat_url: str) -> str:
    """The chat's host as `normalise_url` writes a link's (lower case, no trailing dot, no default port)."""
    try:
        return urlsplit(normalise_url(chat_url)).netloc
    except InvalidUrl:
        return urlsplit(chat_url).netloc.lower()


def classify_url(url: str, settings: Settings) -> str:
    """`url` is normalised."""
    chat = settings.mattermost_url_text
    if not chat:
        return "link"
    parts = urlsplit(url)
    if parts.netloc == _host_of(chat) and _PERMALINK_PATH.match(parts.path):
        return "chat_post"
    return "link"

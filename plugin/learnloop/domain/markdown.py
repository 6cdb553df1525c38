"""Text from outside learnloop (a wiki's page titles, edit summaries and user names, a reader's note) inside
the bot's Markdown posts: shown as it is, it makes no link, image, heading or emphasis, and mentions nobody."""

from __future__ import annotations

import re

_STRUCTURE = re.compile(r"([\\`*_\[\]()#!|<>~])")
_ESCAPED = re.compile(r"\\([\\`*_\[\]()#!|<>~])")
MENTION_BREAK = "\u2060"
"""A word joiner after each @: it shows as @, and an "@channel" in an edit summary pings nobody."""


def plain(text: str) -> str:
    return _STRUCTURE.sub(r"\\\1", text).replace("@", "@" + MENTION_BREAK)


def unplain(text: str) -> str:
    """The text `plain` was given (to find a quoted note again, or a name)."""
    return _ESCAPED.sub(r"\1", text.replace("@" + MENTION_BREAK, "@"))

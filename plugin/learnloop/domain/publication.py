"""Rules of a reflection published to a community's learning log: how its section is headed and marked."""

from __future__ import annotations

import re
from datetime import datetime

ATTRIBUTIONS = ("name", "anonymous")
"""Whether the section names its author ("name", the default) or not; the author chooses, per reflection."""
MARKER_TOKEN = re.compile(r"[a-z0-9]{6,16}")


def marker(token: str) -> str:
    """`learnloop-reflection-<token>`, a random token: the section's own mark. Not the reflection's id, which
    counts everyone's reflections, private ones too: two on the page would tell how many were written between
    them (sections marked before carry `<id>-<token>` or `<id>`)."""
    if not MARKER_TOKEN.fullmatch(token):
        raise ValueError("a marker's token is 6 to 16 lowercase letters and digits")
    return f"learnloop-reflection-{token}"


def heading(created_at: datetime, *, author: str | None, community: str) -> str:
    """The date, then the author's name when they chose to be named (and learnloop knows it), otherwise
    "A member of <community>": a section never guesses at a name."""
    by = author.strip() if author and author.strip() else f"A member of {community.strip() or 'the community'}"
    return f"{created_at:%Y-%m-%d} · {by}"

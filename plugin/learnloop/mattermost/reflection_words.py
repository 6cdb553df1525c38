"""Who sees a reflection, in the words every message uses: the answer form's choices and the share buttons (what a
person can choose), and what a saved reflection became in replies, on an answered prompt and in the journal."""

from __future__ import annotations

CHOICES = {"private": "Private journal (only you)", "community": "Share with my community",
           "wiki": "Publish to the wiki"}
VISIBILITY_OPTIONS = [{"text": text, "value": value} for value, text in CHOICES.items()]
WHERE = {"private": "kept in your private journal (only you)", "community": "shared with your community",
         "wiki": "marked for the wiki"}
ATTRIBUTION_WORDS = {"name": "with your name", "anonymous": "without your name"}


NO_COMMUNITY = ("It belongs to no community, so it stays private. To share one, type `/learn reflect` in your "
                "community's channel.")


def visibility_options(can_publish: bool, can_share: bool = True) -> list[dict[str, str]]:
    """What an answer can become: sharing only with a community, publishing only where it has a wiki space to
    publish to."""
    return VISIBILITY_OPTIONS[:1] if not can_share else VISIBILITY_OPTIONS if can_publish else VISIBILITY_OPTIONS[:2]


def where_it_is(visibility: str, attribution: str | None, published_url: str | None = None) -> str:
    """'kept in your private journal (only you)', 'shared with your community', 'marked for the wiki, with your
    name', or once published 'on the wiki, with your name: <url>'."""
    if visibility != "wiki":
        return WHERE.get(visibility, visibility)
    named = ATTRIBUTION_WORDS.get(attribution or "name", ATTRIBUTION_WORDS["name"])
    return f"on the wiki, {named}: {published_url}" if published_url else f"{WHERE['wiki']}, {named}"

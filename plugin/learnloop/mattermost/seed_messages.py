"""What the starter kit and the dashboard's next steps post in a community's channel: the starter shelf with
rating buttons, the bookmarks (or the pinned post listing them), and invitations.

No post shows a score or a count: people rate before they see what others gave (herding), and the dashboard
shows figures only where at least k people stand behind them."""

from __future__ import annotations

from typing import Any

from learnloop.domain.markdown import plain
from learnloop.mattermost.messages import content_attachment, describe_item
from learnloop.mattermost.reflection_words import CHOICES
from learnloop.services.seeding import ShelfItem

BOOKMARK_NAME_RUNES = 64
BOOKMARK_LINK_RUNES = 1024
"""Limits of the server's check (server/public/model/channel_bookmark.go, IsValid); a bookmark outside them
fails with a 500, so such a link is left out."""
BOOKMARKED_PAGES = 4
DASHBOARD_NAME = "Learning dashboard"
SEED_PROP = "learnloop_seed"
REASONS = {"rated": "Rated most useful here by the community.", "improved": "Recently improved in the wiki."}


def dashboard_url(public_url: str, community_id: int) -> str:
    """The dashboard's page, not a sign-in link: a bookmark lasts, and a visitor who is not signed in is told
    to type /learn dashboard."""
    return f"{public_url}/dashboard/{community_id}"


def shelf_post(channel_id: str, community_name: str, items: list[ShelfItem], *, public_url: str, key: bytes,
               k: int) -> dict[str, Any] | None:
    """The starter shelf: each item with the rating buttons every content post has; None when empty."""
    if not items:
        return None
    attachments = [content_attachment(item_id=item.item_id, url=item.url, title=item.title,
                                      text=REASONS[item.reason], public_url=public_url, key=key) for item in items]
    message = (f"**A starter shelf for {community_name}**: pages worth a look. Rate the ones that helped you; "
               f"your rating stays yours, and the community sees a score once {k} people have rated and the "
               "week has ended.")
    return {"channel_id": channel_id, "message": message, "props": {"attachments": attachments, SEED_PROP: "shelf"}}


def bookmarks(channel_id: str, community_name: str, community_id: int, items: list[ShelfItem], *,
              public_url: str) -> dict[str, Any]:
    """The dashboard and the shelf's first pages as channel bookmarks, and the post to pin instead where
    the channel has no bookmarks."""
    links = [{"display_name": DASHBOARD_NAME, "link_url": dashboard_url(public_url, community_id),
              "emoji": "bar_chart"}]
    for item in items:
        if len(links) > BOOKMARKED_PAGES:
            break
        if len(item.url) <= BOOKMARK_LINK_RUNES and item.url.startswith(("https://", "http://")):
            name = item.title if len(item.title) <= BOOKMARK_NAME_RUNES else item.title[:BOOKMARK_NAME_RUNES - 1] + "…"
            links.append({"display_name": name, "link_url": item.url, "emoji": "page_facing_up"})
    dashboard = (f"- {describe_item(links[0]['link_url'], DASHBOARD_NAME)}: is this community learning? Group "
                 "figures only. Sign in with `/learn dashboard` in this channel.")
    lines = [f"**Pinned for {plain(community_name)}**", dashboard]
    lines += [f"- {describe_item(entry['link_url'], entry['display_name'])}" for entry in links[1:]]
    return {"channel_id": channel_id, "links": links, "fallback_message": "\n".join(lines)}


def invitation_to_share(channel_id: str) -> dict[str, Any]:
    message = ("**What helped you this week?** A page, a talk, a thread, a tool: share it with "
               "`/learn share <link> why it helped`, or just post the link here. Colleagues can rate it, and the "
               "most useful finds rise to the top of the shelf. Nobody is ranked, and no one sees who rated what.")
    return {"channel_id": channel_id, "message": message, "props": {SEED_PROP: "invite_sharing"}}


def discussion_question(channel_id: str, items: list[ShelfItem], *, public_url: str, key: bytes) -> dict[str, Any]:
    """A question about the shelf's first item (the best rated, else the newest), or an open one."""
    if not items:
        message = ("**A question for everyone:** what is one thing a colleague showed you recently that you now "
                   "use? Reply in this thread, and thank them by name.")
        return {"channel_id": channel_id, "message": message, "props": {SEED_PROP: "ask_question"}}
    item = items[0]
    message = (f"**A question about {describe_item(item.url, item.title)}:** which part did you use, and what would "
               "you add or change? Reply in this thread; thank whoever helped you by name.")
    attachment = content_attachment(item_id=item.item_id, url=item.url, title=item.title, text=REASONS[item.reason],
                                    public_url=public_url, key=key)
    return {"channel_id": channel_id, "message": message,
            "props": {"attachments": [attachment], SEED_PROP: "ask_question"}}


def invitation_to_publish(channel_id: str, learning_log: str) -> dict[str, Any]:
    message = (f"**Make your learning last.** Reflections shared here help people this week; on the wiki's "
               f"*{learning_log}* page they help whoever joins next year. When you next write one with "
               f"`/learn reflect`, choose *{CHOICES['wiki']}*. Only you decide whether your reflection is "
               "published, and nobody else can publish it for you.")
    return {"channel_id": channel_id, "message": message, "props": {SEED_PROP: "invite_publishing"}}

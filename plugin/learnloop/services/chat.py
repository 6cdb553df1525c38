"""Ingest what people post in a connected channel: links shared (people to content) and
replies and mentions (people to people), as events in the append-only log."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from learnloop.config import Settings
from learnloop.domain.urls import extract_urls
from learnloop.services.communities import community_for_channel
from learnloop.services.content_kinds import classify_url
from learnloop.services.outbox_kinds import CLASSIFY_POST
from learnloop.storage.unit_of_work import UnitOfWork

_MENTION = re.compile(r"(?<![\w@])@([a-z0-9][a-z0-9._-]{0,63})", re.IGNORECASE)
_CHANNEL_WIDE = frozenset({"all", "channel", "here"})


@dataclass(frozen=True)
class ChatPost:
    post_id: str
    channel_id: str
    team_id: str | None
    channel_name: str | None
    user_id: str
    user_name: str | None
    text: str
    occurred_at: datetime


@dataclass(frozen=True)
class IngestOutcome:
    duplicate: bool
    links: int
    mentions: int


def mentioned_names(text: str, author: str | None) -> list[str]:
    """People mentioned by @name; channel-wide mentions and self-mentions are not an exchange."""
    names: list[str] = []
    for match in _MENTION.finditer(text):
        name = match.group(1).rstrip(".-_").lower()
        if name in _CHANNEL_WIDE or name == (author or "").lower() or name in names:
            continue
        names.append(name)
    return names


def ingest_post(uow: UnitOfWork, settings: Settings, post: ChatPost, now: datetime, *,
                can_classify: bool) -> IngestOutcome:
    """Record a chat post once. Whether it is a thread reply is not in the webhook payload, so a
    message for the worker asks Mattermost afterwards (when a bot token is configured)."""
    community_id = community_for_channel(
        uow, settings, channel_id=post.channel_id, team_id=post.team_id, channel_name=post.channel_name, now=now
    )
    base = f"mattermost:post:{post.post_id}"
    first = uow.events.append(
        "chat_post", occurred_at=post.occurred_at, recorded_at=now, community_id=community_id,
        actor_id=post.user_id, dedupe_key=base,
    )
    if not first:
        return IngestOutcome(duplicate=True, links=0, mentions=0)
    urls = extract_urls(post.text)
    for url in urls:
        item, _ = uow.items.ensure(
            url, kind=classify_url(url, settings), community_id=community_id, shared_by=post.user_id,
            title=None, now=now,
        )
        uow.events.append(
            "link_shared", occurred_at=post.occurred_at, recorded_at=now, community_id=community_id,
            actor_id=post.user_id, item_id=item.id, dedupe_key=f"{base}:link:{item.id}",
        )
    names = mentioned_names(post.text, post.user_name)
    if names:
        uow.events.append(
            "mention", occurred_at=post.occurred_at, recorded_at=now, community_id=community_id,
            actor_id=post.user_id, dedupe_key=f"{base}:mention", data={"people": len(names)},
        )
    if can_classify:
        uow.outbox.enqueue(
            CLASSIFY_POST,
            {"post_id": post.post_id, "community_id": community_id, "user_id": post.user_id,
             "occurred_at": post.occurred_at.isoformat()},
            key=f"{base}:classify", now=now,
        )
    uow.commit()
    return IngestOutcome(duplicate=False, links=len(urls), mentions=len(names))


def record_reply(
    uow: UnitOfWork, *, post_id: str, root_id: str, root_author_id: str | None, community_id: int, user_id: str,
    occurred_at: datetime, now: datetime,
) -> bool:
    """A thread reply is an exchange between people; replying to oneself is not."""
    if root_author_id == user_id:
        return False
    recorded = uow.events.append(
        "reply", occurred_at=occurred_at, recorded_at=now, community_id=community_id, actor_id=user_id,
        dedupe_key=f"mattermost:post:{post_id}:reply", data={"root_id": root_id},
    )
    uow.commit()
    return recorded

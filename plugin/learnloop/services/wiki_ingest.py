"""Wiki changes become content items, events, and (per the community's choice) a channel post: at once, then
updated by the page's later changes within the burst window."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable

from learnloop.config import Settings
from learnloop.domain.keys import fit
from learnloop.domain.urls import InvalidUrl, normalise_url
from learnloop.domain.wiki_events import WikiEvent, is_major, should_announce
from learnloop.services.communities import community_for_channel
from learnloop.services.outbox_kinds import CREATE_POST, UPDATE_POST
from learnloop.storage.tables import Announcement
from learnloop.storage.unit_of_work import UnitOfWork

MAX_SUMMARIES = 3


@dataclass(frozen=True)
class IngestResult:
    duplicate: bool
    item_id: int | None
    announced: bool


@dataclass(frozen=True)
class PageAnnouncement:
    """What a channel post about a page needs; the Mattermost layer decides how it looks."""

    channel_id: str
    item_id: int
    url: str
    title: str
    created: bool
    edits: int
    authors: list[str]
    summaries: list[str]


AnnouncementPost = Callable[[PageAnnouncement], dict[str, Any]]
"""Builds a page announcement's channel post (the Mattermost layer owns the format)."""


def announcement_key(announcement_id: int) -> str:
    return f"announce:{announcement_id}"


def ingest(uow: UnitOfWork, settings: Settings, event: WikiEvent, now: datetime,
           announce: AnnouncementPost) -> IngestResult:
    """Record one wiki change once; the same event id delivered again changes nothing. A change worth
    announcing is posted at once; later changes to the page within the community's burst window update that
    post instead of adding one. Bot edits and learnloop's own learning-log pages are never announced."""
    try:
        url = normalise_url(event.url)
    except InvalidUrl:
        return IngestResult(duplicate=False, item_id=None, announced=False)
    community = settings.community_for_space(event.wiki, event.spaces)
    community_id = None
    if community is not None:
        community_id = community_for_channel(uow, settings, channel_id=community.channel_id, team_id=None,
                                             channel_name=None, now=now)
    item, _ = uow.items.ensure(url, kind="wiki_page", community_id=community_id, shared_by=None,
                               title=event.title[:300], now=now)
    first = uow.events.append(
        f"wiki_page_{event.action}", occurred_at=event.occurred_at, recorded_at=now, community_id=community_id,
        item_id=item.id, dedupe_key=fit(f"wiki:{event.wiki}:{event.event_id}"),
        data={"wiki": event.wiki, "minor": event.minor, "major": is_major(event)},
    )
    if not first:
        return IngestResult(duplicate=True, item_id=item.id, announced=False)
    if event.title:
        uow.items.set_title(item.id, event.title[:300])
    announced = False
    learning_logs = {c.learning_log_title.casefold() for c in settings.communities}
    policy = announce_policy(uow, community_id, community.announce if community else "digest_only")
    if (community is not None and community_id is not None and should_announce(event, policy)
            and not event.bot and event.title.casefold() not in learning_logs):
        _announce(uow, item.id, url, community.channel_id, community_id, event, now,
                  timedelta(minutes=community.burst_minutes), announce)
        announced = True
    uow.commit()
    return IngestResult(duplicate=False, item_id=item.id, announced=announced)


ANNOUNCE_POLICIES = {
    "new_pages": "new pages only",
    "new_and_major": "new pages and major updates",
    "digest_only": "nothing right away (the weekly digest only)",
}


def announce_policy(uow: UnitOfWork, community_id: int | None, configured: str) -> str:
    """What the community's owners chose in chat, else what the admin configured."""
    row = uow.communities.get(community_id) if community_id is not None else None
    return (row.announce_policy if row and row.announce_policy else None) or configured


def set_announce_policy(uow: UnitOfWork, community_id: int, policy: str) -> None:
    if policy not in ANNOUNCE_POLICIES:
        raise ValueError(f"'{policy}' is not a choice: use " + ", ".join(ANNOUNCE_POLICIES))
    row = uow.communities.get(community_id)
    assert row is not None
    row.announce_policy = policy
    uow.commit()


def _announce(uow: UnitOfWork, item_id: int, url: str, channel_id: str, community_id: int, event: WikiEvent,
              now: datetime, burst: timedelta, announce: AnnouncementPost) -> None:
    author = [{"name": event.author}] if event.author else []
    summary = [{"text": event.summary[:200]}] if event.summary else []
    open_one = uow.announcements.open_for(item_id, now)
    if open_one is None:
        row = Announcement(item_id=item_id, community_id=community_id, created_page=event.action == "created",
                           edits=1, authors=author, summaries=summary, status="queued", first_event_at=now,
                           due_at=now + burst)
        uow.announcements.add(row)
        uow.flush()
        uow.outbox.enqueue(CREATE_POST, announce(_view(row, url, channel_id, event.title)),
                           key=announcement_key(row.id), now=now)
        return
    open_one.edits += 1
    open_one.created_page = open_one.created_page or event.action == "created"
    if author and author[0] not in open_one.authors:
        open_one.authors = [*open_one.authors, *author]
    if summary:
        open_one.summaries = [*open_one.summaries, *summary][-MAX_SUMMARIES:]
    post = announce(_view(open_one, url, channel_id, event.title))
    uow.outbox.enqueue(UPDATE_POST, {"post_key": announcement_key(open_one.id), "props": post["props"]},
                       key=f"{announcement_key(open_one.id)}:edit:{open_one.edits}", now=now)


def _view(row: Announcement, url: str, channel_id: str, title: str) -> PageAnnouncement:
    return PageAnnouncement(channel_id=channel_id, item_id=row.item_id, url=url, title=title or url,
                            created=row.created_page, edits=row.edits, authors=[a["name"] for a in row.authors],
                            summaries=[s["text"] for s in row.summaries])


def cursor(uow: UnitOfWork, wiki: str) -> str | None:
    return uow.cursors.get(f"wiki:{wiki}")


def move_cursor(uow: UnitOfWork, wiki: str, position: str, now: datetime) -> None:
    uow.cursors.move(f"wiki:{wiki}", position, now)

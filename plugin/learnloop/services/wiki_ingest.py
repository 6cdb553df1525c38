"""Wiki changes become content items, events, and (per the community's choice) a channel post: at once, then
updated by the page's later changes within the burst window."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from learnloop.config import CommunityConfig, Settings, WikiConfig, WikiSpace
from learnloop.domain.keys import fit
from learnloop.domain.urls import InvalidUrl, normalise_url
from learnloop.domain.wiki_events import WikiEvent, is_major, should_announce
from learnloop.services.communities import community_for_channel
from learnloop.services.outbox_kinds import CREATE_POST, UPDATE_POST, edit_key
from learnloop.services.reflections import PublishedSection, removal_key, removal_payload
from learnloop.services.rollups import SETTLE, move_scores
from learnloop.storage.repositories import ItemRef
from learnloop.storage.tables import Announcement
from learnloop.storage.unit_of_work import UnitOfWork
from learnloop.wikis import FETCH_JOB, UNPUBLISH_JOB, fetch_key, identify_job

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
    post instead of adding one. Bot edits and learnloop's own learning-log pages are never announced.

    The page's item follows the page (`follow`): found by the wiki's page id, else by URL; moved, retired,
    restored, and joined to the community its space now maps to."""
    url = _normalised(event.url)
    if url is None and event.action != "deleted":
        return IngestResult(duplicate=False, item_id=None, announced=False)
    if event.follow_only:
        return _follow_only(uow, settings, event, url, now)
    key = fit(f"wiki:{event.wiki}:{event.event_id}")
    # Checked before anything changes: a poll ingests many events in one transaction. An event recorded
    # already is not counted again, but a page re-read as it is now still brings its item up to date.
    repeated = uow.events.recorded(key)
    if repeated and not event.current:
        return IngestResult(duplicate=True, item_id=None, announced=False)
    mapped = settings.mapped_space(event.wiki, event.spaces)
    community = mapped[0] if mapped else None
    community_id = _community_of(uow, settings, mapped, now)
    item = find_page(uow, event, url)
    resume_removals(uow, event, item, now)
    if repeated:
        if item is not None:
            _follow_and_place(uow, event, item, url, community_id, mapped, now, settings.min_group_size)
            uow.commit()
        return IngestResult(duplicate=True, item_id=item.id if item else None, announced=False)
    if item is None:
        if url is None or event.action == "deleted":
            return IngestResult(duplicate=False, item_id=None, announced=False)  # a page learnloop never had
        item = _new_page(uow, event, url, community_id, now)
    elif event.action == "deleted" and item.retired_at is not None:  # trashed, then purged: deleted once
        return IngestResult(duplicate=True, item_id=item.id, announced=False)
    # learnloop's own page: its sections are reflections. A log an admin moved is published to where it is now.
    learning_log = is_learning_log(settings, event) or (
        bool(event.page_id) and uow.items.published_to(event.wiki, event.page_id))
    first = uow.events.append(
        f"wiki_page_{event.action}", occurred_at=event.occurred_at, recorded_at=now, community_id=community_id,
        item_id=item.id, dedupe_key=key,
        data={"wiki": event.wiki, "minor": event.minor, "major": is_major(event),
              **({"learning_log": True} if learning_log else {})},
    )
    if not first:  # recorded meanwhile by another transaction
        return IngestResult(duplicate=True, item_id=item.id, announced=False)
    _follow_and_place(uow, event, item, url, community_id, mapped, now, settings.min_group_size)
    if event.action != "deleted":  # a deletion found the item only because someone had rated the page
        uow.items.mark_followed(item.id, now)
    announced = False
    policy = announce_policy(uow, community_id, community.announce if community else "digest_only")
    if (community is not None and community_id is not None and url is not None and should_announce(event, policy)
            and not event.bot and not learning_log):
        _announce(uow, item.id, url, community.channel_id, community_id, event, now,
                  timedelta(minutes=community.burst_minutes), announce)
        announced = True
    uow.commit()
    return IngestResult(duplicate=False, item_id=item.id, announced=announced)


def is_learning_log(settings: Settings, event: WikiEvent) -> bool:
    """The page is a community's learning log, titled as the wiki names it: in a MediaWiki namespace space,
    `<Namespace>:<title>` (the event's spaces name its namespace, `Namespace:<number>`)."""
    title = event.title.casefold()
    for community in settings.communities:
        log = community.learning_log_title.casefold()
        if title == log:
            return True
        for space in community.wiki_spaces:
            kind, _, number = space.space.partition(":")
            if (space.wiki == event.wiki and kind.strip().casefold() == "namespace" and number.strip().isdigit()
                    and int(number) != 0 and f"Namespace:{int(number)}" in event.spaces
                    and title.partition(":")[2].strip() == log):
                return True
    return False


def _follow_only(uow: UnitOfWork, settings: Settings, event: WikiEvent, url: str | None,
                 now: datetime) -> IngestResult:
    """A page re-read because its book or chapter changed: the item of a page learnloop follows is brought up to
    date (URL, title, space, community); nothing is recorded, and a page it does not follow stays unknown."""
    item = find_page(uow, event, url)
    if item is None:
        return IngestResult(duplicate=False, item_id=None, announced=False)
    resume_removals(uow, event, item, now)
    mapped = settings.mapped_space(event.wiki, event.spaces)
    _follow_and_place(uow, event, item, url, _community_of(uow, settings, mapped, now), mapped, now,
                      settings.min_group_size)
    uow.commit()
    return IngestResult(duplicate=False, item_id=item.id, announced=False)


def resume_removals(uow: UnitOfWork, event: WikiEvent, item: ItemRef | None, now: datetime) -> int:
    """A page back from the wiki's trash (restored, or seen again after its item was retired) has its sections
    back: those whose authors asked to have them taken off while it was deleted are taken off now, committed at
    once. Nobody is told (who asked is not kept); they were told so when they asked. How many were queued."""
    back = event.action == "restored" or (item is not None and item.retired_at is not None)
    if event.action == "deleted" or not event.page_id or not back:
        return 0
    queued = 0
    for kept in uow.items.take_parked_removals(event.wiki, event.page_id):
        section = PublishedSection(kept["wiki"], kept["page_ref"], kept["marker"], kept["title"], kept["url"])
        queued += uow.outbox.enqueue(UNPUBLISH_JOB, removal_payload(section, notify=None),
                                     key=f"{removal_key(section.wiki, section.marker)}:restored:{kept['id']}", now=now)
        uow.commit()
    return queued


def _community_of(uow: UnitOfWork, settings: Settings, mapped: tuple[CommunityConfig, WikiSpace] | None,
                  now: datetime) -> int | None:
    """The community whose wiki space the page lies in, if any."""
    if mapped is None:
        return None
    return community_for_channel(uow, settings, channel_id=mapped[0].channel_id, team_id=None, channel_name=None,
                                 now=now)


def pages_under(uow: UnitOfWork, wiki: str, prefix: str, *, retired: bool = False) -> list[str]:
    """The wiki's ids of the pages learnloop follows under a URL prefix (normalised as item URLs are), live or
    retired."""
    base = _normalised(prefix.rstrip("/"))
    return uow.items.pages_under(wiki, base + "/", retired=retired) if base else []


# ------------------------------------------------------------------------------ pages through their life

def _normalised(url: str | None) -> str | None:
    try:
        return normalise_url(url) if url else None
    except InvalidUrl:
        return None


def _follow_and_place(uow: UnitOfWork, event: WikiEvent, item: ItemRef, url: str | None, community_id: int | None,
                      mapped: tuple[CommunityConfig, WikiSpace] | None, now: datetime, k: int) -> None:
    follow(uow, event, item, url, community_id, now, k)
    if event.action != "deleted":
        uow.items.set_space(item.id, mapped[1].space if mapped else None)


def find_page(uow: UnitOfWork, event: WikiEvent, url: str | None) -> ItemRef | None:
    """The page's item: by the wiki's id of the page; else (an item from before learnloop knew page ids, or one
    made by a rating in chat) by its URL, or the URL it had before a move. An item at that URL that is another
    page of a wiki is not this page's."""
    if event.page_id:
        found = uow.items.by_page(event.wiki, event.page_id)
        if found is not None:
            return found
    for candidate in (url, _normalised(event.old_url)):
        item = uow.items.ref_by_url(candidate) if candidate else None
        if item is not None and item.page_ref is None:
            return item
    return None


def _new_page(uow: UnitOfWork, event: WikiEvent, url: str, community_id: int | None, now: datetime) -> ItemRef:
    """A new item for the page; a new page's creator whose wiki user name is their Mattermost user name is
    its sharer (recognised when it helps people). Another page's item at its URL (a page deleted, then one made
    under the same title) is set aside, with its ratings: they were given to that page, not this one."""
    _free_url(uow, url, keep=None, now=now)
    creator = uow.members.by_username(event.author) if event.action == "created" and event.author else None
    item, _ = uow.items.ensure(url, kind="wiki_page", community_id=community_id,
                               shared_by=creator.user_id if creator else None, title=event.title[:300], now=now)
    return item


def _free_url(uow: UnitOfWork, url: str, keep: int | None, now: datetime) -> None:
    uow.items.release_alias(url)  # the URL a page had before a move is this page's now
    occupant = uow.items.ref_by_url(url)
    if occupant is not None and occupant.id != keep:
        uow.items.set_aside(occupant.id, occupant.url, now)


def follow(uow: UnitOfWork, event: WikiEvent, item: ItemRef, url: str | None, community_id: int | None,
           now: datetime, k: int) -> None:
    """Bring the page's item up to date with the event.

    - The item learns the page's id (rows from before get it on their page's next event).
    - Deleted: retired (not rateable, out of top content); its ratings stay. A deletion older than the page's
      newest sign of life (restored or edited since) changes nothing.
    - Otherwise: a new URL moves the item (ratings, feedback, events and score stay with it, and its old URL
      still finds it: an Outline embed keeps the URL it was pasted with; an item already at that URL is set
      aside, see `_free_url`), the title follows, a page now in a mapped space joins that
      community (`join_community`), and a retired page is back (restored, or an event for the same page
      that is newer than its deletion)."""
    if item.page_ref is None and event.page_id:
        uow.items.claim_page(item.id, event.wiki, event.page_id)
    if event.action == "deleted":
        if not _read_before_coming_back(uow, event, item):
            uow.items.retire(item.id, now)
        return
    if url is not None and url != item.url:
        _free_url(uow, url, keep=item.id, now=now)
        uow.items.move(item.id, url)
    if event.title:
        uow.items.set_title(item.id, event.title[:300])
    if community_id is not None and community_id != item.community_id:
        join_community(uow, item, community_id, k, now)
    if item.retired_at is not None and not _read_before_deletion(uow, event, item):
        uow.items.restore(item.id)


def _read_before_deletion(uow: UnitOfWork, event: WikiEvent, item: ItemRef) -> bool:
    """The event shows the page as it was before its deletion: a fetch that read it, then lost the race to the
    fetch of the deletion (they run side by side). It does not bring the page back; a restore always does."""
    if event.action == "restored":
        return False
    deleted_at = uow.events.last_deleted_at(item.id)
    return deleted_at is not None and event.occurred_at < deleted_at


def _read_before_coming_back(uow: UnitOfWork, event: WikiEvent, item: ItemRef) -> bool:
    """The deletion is older than the page's newest sign of life (a restore, or an edit after it), recorded
    later because its fetch lost the race: it does not retire the page again."""
    alive_at = uow.events.last_alive_at(item.id)
    return alive_at is not None and event.occurred_at < alive_at


def join_community(uow: UnitOfWork, item: ItemRef, community_id: int, k: int, now: datetime) -> None:
    """The page now lies in a space another community maps (a category added, a move to a mapped book or
    collection). Its shown score moves to the new community, whose prior it joins, and both communities'
    scores are computed again where their means drifted. The weekly rollups are by event and stay as counted:
    ratings given before the move count in the week and community they were given in. Open feedback goes to
    the new owners."""
    uow.items.set_community(item.id, community_id)
    move_scores(uow.rollups, {item.id}, community_id, k, now)
    uow.feedback.follow_item(item.id, community_id)


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
    if not policy:
        raise ValueError("what to announce is missing: use " + ", ".join(ANNOUNCE_POLICIES))
    if policy not in ANNOUNCE_POLICIES:
        raise ValueError(f"'{policy}' is not a choice: use " + ", ".join(ANNOUNCE_POLICIES))
    row = uow.communities.get(community_id)
    assert row is not None
    row.announce_policy = policy
    uow.commit()


def _announce(uow: UnitOfWork, item_id: int, url: str, channel_id: str, community_id: int, event: WikiEvent,
              now: datetime, burst: timedelta, announce: AnnouncementPost) -> None:
    author = [{"name": event.author}] if event.author else []
    summary = [{"text": event.summary[:200], "by": event.author}] if event.summary else []
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
                       key=edit_key(announcement_key(open_one.id), open_one.edits), now=now)


def forget_author(uow: UnitOfWork, author: str, announce: AnnouncementPost) -> int:
    """Take a person's name, in any case (a wiki can capitalise it), and the edit summaries they wrote out of
    the page announcements that name them as a changer, and out of every copy of those posts waiting in, or
    kept by, the outbox; posts already made stay in Mattermost as they are. A summary stored without its
    writer goes too: it may be theirs."""
    name = author.strip().lower()
    rows = uow.announcements.naming(author)
    for row in rows:
        row.authors = [entry for entry in row.authors if str(entry.get("name")).lower() != name]
        row.summaries = [entry for entry in row.summaries if entry.get("by") and str(entry["by"]).lower() != name]
        messages = uow.outbox.of_thread(announcement_key(row.id))
        item = uow.items.get(row.item_id)
        channel_id = next((m.payload.get("channel_id") for m in messages if m.kind == CREATE_POST), None)
        if item is None or not channel_id:
            continue
        post = announce(_view(row, item.url, channel_id, item.title or item.url))
        for message in messages:
            message.payload = post if message.kind == CREATE_POST else {**message.payload, "props": post["props"]}
    return len(rows)


def _view(row: Announcement, url: str, channel_id: str, title: str) -> PageAnnouncement:
    return PageAnnouncement(channel_id=channel_id, item_id=row.item_id, url=url, title=title or url,
                            created=row.created_page, edits=row.edits, authors=[a["name"] for a in row.authors],
                            summaries=[s["text"] for s in row.summaries])


def cursor(uow: UnitOfWork, wiki: str) -> str | None:
    return uow.cursors.get(f"wiki:{wiki}")


def move_cursor(uow: UnitOfWork, wiki: str, position: str, now: datetime) -> None:
    uow.cursors.move(f"wiki:{wiki}", position, now)


IDENTIFY_BATCH = 200


def identify_new_items(uow: UnitOfWork, wiki: WikiConfig, now: datetime, *, limit: int = IDENTIFY_BATCH) -> int:
    """Queue the question "which page is this?" for each item first rated or shared by a URL on this wiki since
    the last pass, so that it follows the page's moves and deletions from then on (`WikiHost.names_pages_by_id`).
    An item waits until SETTLE has passed, as the rollups' events do: a smaller id can commit after a larger
    one. Returns how many were queued (at most `limit` a pass)."""
    name = f"identified:{wiki.name}"
    after = int(uow.cursors.get(name) or 0)
    base = _normalised(wiki.base_url)
    items = uow.items.known_by_url_only(base.rstrip("/") + "/", after, now - SETTLE, limit) if base else []
    jobs = [identify_job(wiki.name, item_id, url) for item_id, url in items]
    queued = sum(uow.outbox.enqueue(FETCH_JOB, job, key=fetch_key(wiki.name, job["event_id"]), now=now)
                 for job in jobs)
    if items:
        uow.cursors.move(name, str(items[-1][0]), now)
    uow.commit()
    return queued

"""A community's weekly digest: what helped most this week, new and substantially updated wiki pages, the
shared reflections people rated, and where the community stands. It is posted in the channel the community
started in, whose owners choose its day and local time; a week with nothing to say posts nothing.

The most useful content and the reflections come only from items whose shown score moved in the week, which
takes k people changing their ratings (an item that one rating brought in would say when that person rated),
ranked by the dashboard's score; no count or person is named.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from learnloop.config import Settings
from learnloop.domain.learning_metrics import Stage
from learnloop.domain.network import parse_weekly, week_moment
from learnloop.domain.schedules import local_moment
from learnloop.services import dashboard
from learnloop.services.communities import channel_label, community_zone
from learnloop.services.dashboard import Period, TopItem
from learnloop.services.outbox_kinds import CREATE_POST
from learnloop.services.prompts.timing import zone
from learnloop.storage.repositories import ChannelFacts
from learnloop.storage.tables import Community
from learnloop.storage.unit_of_work import UnitOfWork

TOP = 5
CHANGES_LOOKED_AT = 500
PAGES = 8
REFLECTIONS = 3
STAGE_WEEKS = 12
WEEK = timedelta(days=7)


@dataclass(frozen=True)
class Digest:
    community_id: int
    channel_id: str
    community: str
    first_day: date
    last_day: date
    top: list[TopItem] = field(default_factory=list)
    new_pages: list[TopItem] = field(default_factory=list)
    updated_pages: list[TopItem] = field(default_factory=list)
    reflections: list[TopItem] = field(default_factory=list)
    stage: Stage | None = None

    @property
    def empty(self) -> bool:
        return not (self.top or self.new_pages or self.updated_pages or self.reflections)


DigestPost = Callable[[Digest], dict[str, Any]]
"""Builds the digest's channel post (the Mattermost layer owns the format)."""


def _zone(uow: UnitOfWork, settings: Settings, community: Community) -> Any:
    return zone(community_zone(uow, settings, community.id), "UTC")


def posted_elsewhere(uow: UnitOfWork, settings: Settings, channel_id: str) -> tuple[str, str] | None:
    """(the community's name, its home channel's label) when the channel counts towards a community that started
    in another channel. A community has one digest, posted in that channel, so its owners there decide it: an
    admin of a channel that joined would otherwise start, stop or schedule weekly posts in a channel not theirs.
    Read only: asking makes no community (a direct message is none)."""
    community = uow.communities.by_channel(channel_id)
    configured = settings.community_for_channel(channel_id)
    if community is not None:
        name, home_id = community.name, community.channel_id
    elif configured is not None:
        name, home_id = configured.name, configured.channel_id
    else:
        return None
    if home_id == channel_id:
        return None
    return name, channel_label(uow.communities.channel(home_id) or ChannelFacts(home_id, None, None, None))


def switch_on(uow: UnitOfWork, settings: Settings, community_id: int, when: str, now: datetime) -> str:
    """Turn the digest on at a day and local time ('fri 09:00'); ValueError says what is wrong. A moment
    already past this week starts with next week's. Commits; says when the first one comes."""
    weekday, at = parse_weekly(when)
    community = uow.communities.get(community_id)
    assert community is not None
    tz = _zone(uow, settings, community)
    moment, monday = week_moment(weekday, at, tz, now)
    community.digest_weekday, community.digest_time = weekday, at.strftime("%H:%M")
    community.digest_week = monday if moment <= now else monday - WEEK
    uow.commit()
    first = moment if moment > now else moment + WEEK
    return local_moment(first, tz, now)


def switch_off(uow: UnitOfWork, community_id: int) -> bool:
    """Turn the digest off; False when it was off. Commits."""
    community = uow.communities.get(community_id)
    assert community is not None
    was_on = community.digest_weekday is not None
    community.digest_weekday = community.digest_time = None
    uow.commit()
    return was_on


def build(uow: UnitOfWork, community: Community, start: datetime, end: datetime, k: int, tz: Any) -> Digest:
    """The digest of what happened from `start` to `end` (UTC)."""
    store = uow.network
    rated = store.moved_scores_of(community.id, start, end)
    details = uow.dashboards.item_details(sorted(rated))
    contents = {item for item in rated if details[item][2] != "reflection"}
    reflections = rated - contents
    created, updated = changed_pages(uow, community.id, start, end)
    pages = uow.dashboards.item_details(created + updated)
    period = Period.last_weeks(end.astimezone(tz).date() - timedelta(days=1), STAGE_WEEKS)
    return Digest(
        community_id=community.id, channel_id=community.channel_id, community=community.name,
        first_day=start.astimezone(tz).date(), last_day=(end - timedelta(seconds=1)).astimezone(tz).date(),
        top=dashboard.ranked_among(uow, community.id, contents, k, TOP),
        new_pages=[_page(i, *pages[i]) for i in created[:PAGES] if i in pages],
        updated_pages=[_page(i, *pages[i]) for i in updated[:PAGES] if i in pages],
        reflections=dashboard.unranked_among(uow, community.id, reflections, k, REFLECTIONS),
        stage=dashboard.stage(uow, community.id, period, k),
    )


def changed_pages(uow: UnitOfWork, community_id: int, start: datetime, end: datetime) -> tuple[list[int], list[int]]:
    """The community's wiki pages created in the window, and those substantially updated (not created), newest
    first, but not its learning log; a page whose latest change in the window deleted it is neither (one restored
    since is back)."""
    created: dict[int, None] = {}
    updated: dict[int, None] = {}
    seen: set[int] = set()
    gone: set[int] = set()
    for item_id, kind, data in uow.events.page_changes(community_id, CHANGES_LOOKED_AT, start=start, end=end):
        if data.get("learning_log"):  # its sections are reflections, in the digest as such
            continue
        latest = item_id not in seen
        seen.add(item_id)
        if item_id in gone or kind == "wiki_page_deleted":
            if latest:
                gone.add(item_id)
            continue
        if kind == "wiki_page_created":
            created[item_id] = None
        elif data.get("major", not data.get("minor", False)):
            updated[item_id] = None
    return list(created), [item for item in updated if item not in created]


def _page(item_id: int, title: str | None, url: str, kind: str) -> TopItem:
    return TopItem(title or url, url, kind, 0.0, 0, item_id)


def preview(uow: UnitOfWork, settings: Settings, community_id: int, now: datetime, k: int) -> Digest:
    """What the next digest holds so far: the last seven days, up to and including now."""
    community = uow.communities.get(community_id)
    assert community is not None
    end = now + timedelta(microseconds=1)
    return build(uow, community, end - WEEK, end, k, _zone(uow, settings, community))


@dataclass(frozen=True)
class DueDigest:
    community_id: int
    week: date
    start: datetime
    end: datetime


def due(uow: UnitOfWork, settings: Settings, now: datetime) -> list[DueDigest]:
    """The communities whose digest moment of this week has passed and whose week is not done; before it, last
    week's where that is not done (its moment passed while the worker was down across the week's end), posted
    late."""
    found = []
    for community in uow.network.digest_communities():
        assert community.digest_weekday is not None and community.digest_time is not None
        hours, minutes = (int(part) for part in community.digest_time.split(":"))
        weekday, at, tz = community.digest_weekday, time(hours, minutes), _zone(uow, settings, community)
        done = community.digest_week
        last_moment, last_monday = week_moment(weekday, at, tz, now - WEEK)
        if done is not None and done < last_monday:
            found.append(DueDigest(community.id, last_monday, last_moment - WEEK, last_moment))
        moment, monday = week_moment(weekday, at, tz, now)
        if moment <= now and (done is None or done < monday):
            found.append(DueDigest(community.id, monday, moment - WEEK, moment))
    return found


def post_due(uow: UnitOfWork, settings: Settings, now: datetime, k: int, render: DigestPost) -> int:
    """Post each due digest that has something to say, in one transaction per community: the week is
    marked done in the same transaction as the post is queued, and the post's key names community and
    week, so a second worker or a restart posts nothing twice. The number queued."""
    queued = 0
    for item in due(uow, settings, now):
        community = uow.communities.get(item.community_id)
        assert community is not None
        if not uow.network.mark_digest_week(community.id, item.week):
            uow.rollback()
            continue
        digest = build(uow, community, item.start, item.end, k, _zone(uow, settings, community))
        if not digest.empty:
            queued += uow.outbox.enqueue(CREATE_POST, render(digest), key=f"digest:{community.id}:{item.week}",
                                         now=now)
        uow.commit()
    return queued

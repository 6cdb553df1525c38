"""Page owners, as Guru has verifiers: every page is heard about by someone. Community owners name a page's
owner or a space's owner (`/learn pages owner`); a page with no owner of its own goes to its space's owners,
and one with neither to the community's owners. An owner who says a page is not theirs (*Not mine*) stops
hearing about it; when nobody is left, the community's owners are told and hear about it again.

People are named here as Mattermost resolved them; nothing is stored when a request is refused."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from learnloop.config import Settings, WikiSpace, space_key
from learnloop.domain.keys import fit
from learnloop.domain.page_review import DEFAULT_INTERVAL_DAYS, ReviewRefused, page_owners, parse_interval
from learnloop.domain.urls import InvalidUrl, normalise_url
from learnloop.services.dashboard import title_of
from learnloop.services.outbox_kinds import SEND_DM
from learnloop.storage.tables import Community
from learnloop.storage.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class Target:
    """What an owner is named for: one page of the community, or a wiki space it maps."""

    kind: Literal["page", "space"]
    label: str
    item_id: int | None = None
    wiki: str | None = None
    space: str | None = None


@dataclass(frozen=True)
class Owners:
    """Who hears about a page: its own owners ('page'), its space's ('space'), else the community's owners
    ('community', whom Mattermost and the configuration name: `user_ids` is empty)."""

    by: Literal["page", "space", "community"]
    user_ids: list[str]
    community_id: int | None
    title: str
    url: str


@dataclass(frozen=True)
class Listing:
    spaces: list[tuple[str, list[str]]] = field(default_factory=list)
    """(space label, usernames)."""
    pages: list[tuple[str, str, list[str]]] = field(default_factory=list)
    """(title, url, usernames)."""
    interval_days: int = DEFAULT_INTERVAL_DAYS


def interval_days(community: Community | None) -> int:
    return (community.review_interval_days if community else None) or DEFAULT_INTERVAL_DAYS


def mapped_spaces(uow: UnitOfWork, settings: Settings, community_id: int) -> list[WikiSpace]:
    """The wiki spaces whose pages count towards the community: those of every configured community whose
    channel counts towards it (its own, and those of communities that joined it)."""
    found = []
    for configured in settings.communities:
        community = uow.communities.by_channel(configured.channel_id)
        if community is not None and community.id == community_id:
            found += configured.wiki_spaces
    return found


def space_label(wiki: str, space: str) -> str:
    return f"{space} ({wiki})"


def find_target(uow: UnitOfWork, settings: Settings, community_id: int, text: str) -> Target:
    """A page by its URL (one learnloop knows, of this community), else a space the community maps, by its
    name or `wiki:name`. Raises ReviewRefused saying what would do."""
    text = text.strip()
    if not text:
        raise ReviewRefused("name a page by its URL, or a wiki space this community maps by its name")
    if text.lower().startswith(("http://", "https://")):
        try:
            url = normalise_url(text)
        except InvalidUrl as exc:
            raise ReviewRefused(str(exc)) from None
        item = uow.items.known_to_all_by_url(url)  # not one only rated: a reply must not tell who rated what
        if item is None or item.retired_at is not None:
            raise ReviewRefused(f"learnloop does not know {url} as a page yet: a page is known once someone shares "
                                "it with `/learn share` or its wiki reports a change. To own every page of a wiki "
                                "space, name the space instead")
        if item.community_id != community_id:
            raise ReviewRefused(f"{url} is not one of this community's pages: name its owners in the channel of "
                                "the community it belongs to")
        return Target("page", title_of(item.title, item.url, "wiki_page"), item_id=item.id)
    spaces = mapped_spaces(uow, settings, community_id)
    wiki, _, name = text.partition(":")
    wanted = [s for s in spaces if space_key(s.space) == space_key(text)
              or (name and s.wiki == wiki.strip() and space_key(s.space) == space_key(name))]
    if not wanted:
        known = ", ".join(space_label(s.wiki, s.space) for s in spaces)
        maps = f"it maps {known}" if known else "it maps none: an admin maps spaces in learnloop's configuration"
        raise ReviewRefused(f"'{text[:60]}' is neither a page's URL nor a wiki space this community maps ({maps})")
    if len({(s.wiki, s.space) for s in wanted}) > 1:
        choices = " or ".join(f"`{s.wiki}:{s.space}`" for s in wanted)
        raise ReviewRefused(f"more than one wiki has a space called '{text[:60]}': name it as {choices}")
    space = wanted[0]
    return Target("space", space_label(space.wiki, space.space), wiki=space.wiki, space=space.space)


def assign(uow: UnitOfWork, settings: Settings, community_id: int, text: str, user_id: str, username: str,
           now: datetime) -> tuple[Target, bool]:
    """Name an owner of a page or space; whether they were not one already."""
    target = find_target(uow, settings, community_id, text)
    if target.kind == "page":
        uow.pages.remove_owner(kind="declined", user_id=user_id, item_id=target.item_id)
        added = uow.pages.add_owner(kind="page", user_id=user_id, username=username, now=now, item_id=target.item_id)
    else:
        added = uow.pages.add_owner(kind="space", user_id=user_id, username=username, now=now,
                                    community_id=community_id, wiki=target.wiki, space=target.space)
    uow.commit()
    return target, added


def unassign(uow: UnitOfWork, settings: Settings, community_id: int, text: str, user_id: str, username: str,
             ) -> Target:
    """Take an owner off a page or space. Raises ReviewRefused when they were not one."""
    target = find_target(uow, settings, community_id, text)
    if target.kind == "page":
        removed = uow.pages.remove_owner(kind="page", user_id=user_id, item_id=target.item_id)
    else:
        removed = uow.pages.remove_owner(kind="space", user_id=user_id, community_id=community_id, wiki=target.wiki,
                                         space=target.space)
    if not removed:
        raise ReviewRefused(f"@{username} is not named as an owner of {target.label}")
    uow.commit()
    return target


def listing(uow: UnitOfWork, community_id: int) -> Listing:
    """The community's spaces and pages with owners named, and its review interval."""
    spaces: dict[str, list[str]] = {}
    for wiki, space, username, user_id in uow.pages.space_owners_in(community_id):
        spaces.setdefault(space_label(wiki, space), []).append(username or user_id)
    pages: dict[tuple[str, str], list[str]] = {}
    for _, title, url, username, user_id in uow.pages.page_owners_in(community_id):
        pages.setdefault((title_of(title, url, "wiki_page"), url), []).append(username or user_id)
    return Listing(list(spaces.items()), [(t, u, names) for (t, u), names in pages.items()],
                   interval_days(uow.communities.get(community_id)))


def set_interval(uow: UnitOfWork, community_id: int, text: str) -> int:
    """The community's review interval, in days, from '180d' or '26w'. Raises ReviewRefused."""
    days = parse_interval(text)
    uow.pages.set_interval(community_id, days)
    uow.commit()
    return days


def owners_of(uow: UnitOfWork, item_id: int) -> Owners | None:
    """Who hears about a page now; None for an item learnloop no longer has."""
    item = uow.items.get(item_id)
    if item is None:
        return None
    named = uow.pages.item_owners([item_id]).get(item_id, {})
    space: set[str] = set()
    if item.community_id is not None and item.wiki and item.space:
        space = uow.pages.space_owners([item.community_id]).get((item.community_id, item.wiki, item.space), set())
    by, users = page_owners(named.get("page", set()), space, named.get("declined", set()))
    return Owners(by, users, item.community_id, title_of(item.title, item.url, item.kind), item.url)


def falls_back_without(uow: UnitOfWork, item_id: int, user_id: str) -> bool:
    """Whether the page would be left to its community's owners if this owner said it is not theirs."""
    owners = owners_of(uow, item_id)
    return owners is not None and owners.by != "community" and set(owners.user_ids) <= {user_id}


@dataclass(frozen=True)
class NotMine:
    title: str
    url: str
    fell_back: bool
    told: int


FallbackDM = Callable[[str, str, str], dict[str, Any]]
"""Builds the SEND_DM payload telling a community owner (user id) that a page (title, url) has nobody left."""


def not_mine(uow: UnitOfWork, item_id: int, user_id: str, now: datetime, community_owners: list[str],
             tell: FallbackDM) -> NotMine:
    """The person stops hearing about the page: off its owners, or (an owner of its space) no longer for this
    page. When nobody is left, the community's owners are told, in the same transaction. Raises
    ReviewRefused for someone who is not among its named owners."""
    owners = owners_of(uow, item_id)
    if owners is None:
        raise ReviewRefused("learnloop no longer has this page")
    if owners.by == "community" or user_id not in owners.user_ids:
        raise ReviewRefused(
            "you hear about this page as one of its community's owners, since nobody owns it by name: name its "
            "owner with `/learn pages owner <url> @person` in the community's channel"
            if owners.by == "community" else "you are no longer one of this page's owners")
    if owners.by == "page":
        uow.pages.remove_owner(kind="page", user_id=user_id, item_id=item_id)
    item = uow.items.get(item_id)
    assert item is not None
    if item.community_id is not None and item.wiki and item.space and user_id in uow.pages.space_owners(
            [item.community_id]).get((item.community_id, item.wiki, item.space), set()):
        uow.pages.add_owner(kind="declined", user_id=user_id, username=None, now=now, item_id=item_id)
    after = owners_of(uow, item_id)
    fell_back = after is not None and after.by == "community"
    told = 0
    if fell_back:
        for owner in sorted(set(community_owners) - {user_id}):
            told += uow.outbox.enqueue(SEND_DM, tell(owner, owners.title, owners.url),
                                       key=fit(f"page-unowned:{item_id}:{owner}:{now.isoformat()}"),
                                       now=now)
    uow.commit()
    return NotMine(owners.title, owners.url, fell_back, told)

"""Repositories: the only place that knows how records are queried and written.

Each works in its unit of work's one transaction (storage.transaction): Core statements on its connection for
the paths every request takes (a rating, a webhook delivery), the ORM's Session on the same connection where
a use case reads better with it."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast, get_args

from sqlalchemy import (
    CursorResult,
    Result,
    Row,
    String,
    Table,
    bindparam,
    case,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from learnloop.domain.keys import MAX_KEY_LENGTH
from learnloop.domain.page_review import OPEN_STATES
from learnloop.domain.wiki_events import PageAction
from learnloop.storage.tables import (
    Announcement,
    Community,
    CommunityChannel,
    ContentItem,
    Cursor,
    Event,
    Feedback,
    InstanceSecret,
    ItemAlias,
    ItemScore,
    ParkedRemoval,
    Rating,
    Reflection,
    SigninLink,
    table_of,
)
from learnloop.storage.transaction import Transaction


def insert_for(dialect: str) -> Callable[..., Any]:
    """The dialect's INSERT construct, which has ON CONFLICT (both backends' syntax is the same)."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def dialect_insert(tx: Transaction) -> Callable[..., Any]:
    return insert_for(tx.dialect)


def _partial_index_where(dialect: str, table: Table, keys: tuple[str, ...]) -> Any:
    """The WHERE clause of the unique index over `keys` when it is partial (an ON CONFLICT target must
    repeat it), else None."""
    for index in table.indexes:
        if index.unique and tuple(column.name for column in index.columns) == keys:
            return index.dialect_kwargs.get(f"{dialect}_where")
    return None


@functools.cache
def _insert_ignoring(dialect: str, table: Table, columns: tuple[str, ...], keys: tuple[str, ...],
                     returning: tuple[str, ...]) -> Any:
    """Built once per shape: building a statement costs more than SQLite takes to run it."""
    return (insert_for(dialect)(table).values({name: bindparam(name, type_=table.c[name].type) for name in columns})
            .on_conflict_do_nothing(index_elements=list(keys), index_where=_partial_index_where(dialect, table, keys))
            .returning(*(table.c[name] for name in returning)))


def insert_ignoring_conflicts(tx: Transaction, table: Table, values: dict[str, Any], keys: list[str],
                              returning: tuple[str, ...] | None = None) -> Row[Any] | None:
    """INSERT that does nothing when a row with the same unique keys exists; the inserted row's
    `returning` columns (by default the first key), or None when it inserted nothing."""
    statement = _insert_ignoring(tx.dialect, table, tuple(sorted(values)), tuple(keys), returning or (keys[0],))
    return tx.connection.execute(statement, values).first()


def insert_many_ignoring_conflicts(tx: Transaction, table: Table, rows: list[dict[str, Any]],
                                   keys: list[str]) -> None:
    """One executemany INSERT of rows of the same columns, each skipped when its unique keys exist."""
    if not rows:
        return
    tx.session.execute(dialect_insert(tx)(table).on_conflict_do_nothing(
        index_elements=keys, index_where=_partial_index_where(tx.dialect, table, tuple(keys))), rows)


def rowcount(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE changed (its result is a CursorResult, which typing cannot see)."""
    return int(cast(CursorResult[Any], result).rowcount or 0)


def check_key(key: str) -> str:
    if len(key) > MAX_KEY_LENGTH:
        raise ValueError(f"a key of {len(key)} characters does not fit; pass it through domain.keys.fit")
    return key


class Repository:
    def __init__(self, tx: Transaction) -> None:
        self.tx = tx

    @property
    def session(self) -> Session:
        return self.tx.session

    def run(self, statement: Any, params: Any = None) -> Any:
        """A Core statement (built once, with bind parameters) on the unit of work's connection: the way of
        the per-request paths, without the ORM's per-execution work."""
        return self.tx.connection.execute(statement, params)


class SecretRepository(Repository):
    def get(self, name: str) -> str | None:
        return self.session.scalars(select(InstanceSecret.value).where(InstanceSecret.name == name)).one_or_none()

    def get_or_create(self, name: str, candidate: str, now: datetime) -> str:
        insert_ignoring_conflicts(
            self.tx, table_of(InstanceSecret), {"name": name, "value": candidate, "created_at": now}, ["name"])
        return self.session.scalars(select(InstanceSecret.value).where(InstanceSecret.name == name)).one()


@dataclass(frozen=True)
class ItemRef:
    id: int
    url: str
    title: str | None
    community_id: int | None
    wiki: str | None = None
    page_ref: str | None = None
    """The wiki's id of the page, for items that are wiki pages learnloop has had an event for."""
    retired_at: datetime | None = None


@dataclass(frozen=True)
class RateableItem:
    """An item as a rating reply names it, with its shown score (ItemScore), if any."""

    id: int
    url: str
    title: str | None
    community_id: int | None
    retired_at: datetime | None
    shared_by: str | None
    shared: bool
    """Someone shared it in chat (its sharer may have erased their data since: shared_by is None then)."""
    shown_score: float | None
    shown_ratings: int | None
    known: bool
    """Everyone can know of it (KNOWN_TO_ALL)."""
    kind: str


_C, _I, _R, _E = table_of(Community), table_of(ContentItem), table_of(Rating), table_of(Event)
_M = table_of(CommunityChannel)
_COMMUNITY_BY_HOME = select(_C.c.id, _C.c.name, _C.c.team_id).where(_C.c.channel_id == bindparam("channel_id"))
_CHANNEL_COMMUNITY = (
    select(_M.c.community_id, _M.c.team_id, _M.c.channel_name, _C.c.channel_id.label("home"), _C.c.name,
           _C.c.team_id.label("community_team_id"))
    .join(_C, _C.c.id == _M.c.community_id).where(_M.c.channel_id == bindparam("channel_id")))
_RATED_COLUMNS = (_I.c.id, _I.c.url, _I.c.title, _I.c.community_id)
_ITEM_COLUMNS = (*_RATED_COLUMNS, _I.c.wiki, _I.c.page_ref, _I.c.retired_at)
_ITEM_BY_URL = select(*_ITEM_COLUMNS).where(_I.c.url == bindparam("url"))
_A = table_of(ItemAlias)
_ALIASED = select(_A.c.item_id).where(_A.c.url == bindparam("url")).scalar_subquery()
_ITEM_BY_ALIAS = select(*_ITEM_COLUMNS).where(_I.c.id == _ALIASED)
_ITEM_BY_ID = select(*_ITEM_COLUMNS).where(_I.c.id == bindparam("item_id"))
_P = table_of(ParkedRemoval)
_REFLECTIONS = table_of(Reflection)
KNOWN_TO_ALL = _I.c.shared_at.is_not(None) | _I.c.followed_at.is_not(None)
"""An item everyone can know of: shared in chat, or named by its wiki's events; not one known only because
someone rated it (a list or a reply that showed it would say so)."""
_ITEM_BY_PAGE = select(*_ITEM_COLUMNS).where(_I.c.wiki == bindparam("wiki"), _I.c.page_ref == bindparam("page_ref"))
_S = table_of(ItemScore)
_RATEABLE = (select(*_RATED_COLUMNS, _I.c.retired_at, _I.c.first_shared_by, _I.c.shared_at.is_not(None),
                    _S.c.score, _S.c.ratings_count, KNOWN_TO_ALL, _I.c.kind).outerjoin(_S, _S.c.item_id == _I.c.id))
_RATEABLE_BY_URL = _RATEABLE.where(_I.c.url == bindparam("url"))
_RATEABLE_BY_ALIAS = _RATEABLE.where(_I.c.id == _ALIASED)
_RATEABLE_BY_ID = _RATEABLE.where(_I.c.id == bindparam("item_id"))


def set_aside_url(url: str, item_id: int) -> str:
    """Where an item goes when a page it no longer names takes its URL: the same address with a fragment.
    normalise_url drops fragments, so no URL anyone rates or shares ever names it again."""
    suffix = f"#learnloop-retired-{item_id}"
    return url.partition("#")[0][:2048 - len(suffix)] + suffix


_SCORED = select(_S.c.item_id).where(_S.c.item_id == _I.c.id).exists()
_CLAIM_SHARER = update(_I).where(_I.c.id == bindparam("item_id"), _I.c.first_shared_by.is_(None)).values(
    first_shared_by=bindparam("shared_by"),
    shared_at=func.coalesce(_I.c.shared_at, bindparam("now", type_=_I.c.shared_at.type)),
    community_id=case((KNOWN_TO_ALL | _SCORED, _I.c.community_id),
                      else_=bindparam("community_id", type_=_I.c.community_id.type)),
    retired_at=case((KNOWN_TO_ALL, _I.c.retired_at), else_=None))
"""A share of an item nobody shares now: its sharer; and, unless everyone could know of it already (shared
before, or named by its wiki), what the share would have made of it had it created it: the sharer's community
(a scored item keeps its own, where its score is ranked) and not retired. The community a private rating gave
it, or a deletion found only through that rating, would tell that someone had rated it, and where."""
_EVENT_COLUMNS = ("kind", "occurred_at", "recorded_at", "community_id", "actor_id", "item_id", "dedupe_key", "data")
_EVENT_INSERT = insert(_E).values({name: bindparam(name, type_=_E.c[name].type) for name in _EVENT_COLUMNS})
_FEEDBACK_INSERT = insert(table_of(Feedback)).values({
    name: bindparam(name, type_=table_of(Feedback).c[name].type)
    for name in ("item_id", "community_id", "author_id", "stars", "comment", "reason", "status", "created_at")})


@functools.cache
def _rating_upsert(dialect: str) -> Any:
    """Insert a rating or change the one there, returning the stars it replaced (NULL for a new one): the SET
    list reads the row as it was, so `previous_stars` takes the old `stars`. The rating keeps the community of
    the channel it was given in, if learnloop knows that channel. `updated_at` is when the stars last changed:
    rating again the same changes nothing a shown score counts (domain.scores.may_release)."""
    channel_community = (select(_M.c.community_id).where(_M.c.channel_id == bindparam("channel_id"))
                         .scalar_subquery())
    statement = insert_for(dialect)(_R).values({
        **{name: bindparam(name, type_=_R.c[name].type) for name in (
            "item_id", "user_id", "stars", "created_at", "updated_at")},
        "community_id": channel_community})
    return statement.on_conflict_do_update(
        index_elements=["item_id", "user_id"],
        set_={"previous_stars": _R.c.stars, "stars": statement.excluded.stars,
              "updated_at": case((_R.c.stars == statement.excluded.stars, _R.c.updated_at),
                                 else_=statement.excluded.updated_at)}).returning(_R.c.previous_stars)


@dataclass(frozen=True)
class ChannelFacts:
    """A channel of a community, as learnloop last saw it."""

    channel_id: str
    team_id: str | None
    name: str | None
    member_count: int | None


class CommunityRepository(Repository):
    def by_channel(self, channel_id: str) -> Community | None:
        """The community the channel counts towards."""
        return self.session.scalars(select(Community).join(
            CommunityChannel, CommunityChannel.community_id == Community.id).where(
            CommunityChannel.channel_id == channel_id)).one_or_none()

    def get(self, community_id: int) -> Community | None:
        return self.session.get(Community, community_id)

    def ensure(self, channel_id: str, team_id: str | None, name: str | None, now: datetime, *,
               channel_name: str | None = None, home: str | None = None) -> int:
        """The id of the community the channel counts towards, created on first sight.

        `home` is the channel whose community it must be (a configured community's channel, for the other
        channels the configuration lists); otherwise a channel keeps the community it counts towards, its own
        or the one it joined. Only a community's home channel names it: a configured name replaces a guessed
        one. Without a name (a request that did not carry the channel's) a community keeps its own, and a new
        one is called `channel <id>`."""
        home = home or channel_id
        row = self.run(_CHANNEL_COMMUNITY, {"channel_id": channel_id}).first()
        if row is None and home == channel_id:
            return self.ensure_home(channel_id, team_id, name, now, channel_name=channel_name)
        if row is None or (home != channel_id and row.home != home):
            community_id = self.ensure_home(home, None, name, now)
            statement = dialect_insert(self.tx)(_M).values(
                channel_id=channel_id, community_id=community_id, team_id=team_id or None,
                channel_name=channel_name or None, joined_at=now)
            self.session.execute(statement.on_conflict_do_update(index_elements=["channel_id"], set_={
                "community_id": statement.excluded.community_id, "joined_at": statement.excluded.joined_at,
                "team_id": func.coalesce(statement.excluded.team_id, _M.c.team_id),
                "channel_name": func.coalesce(statement.excluded.channel_name, _M.c.channel_name)}))
            return community_id
        community_id = int(row.community_id)
        if row.home == channel_id:
            self._rename(community_id, row.name, row.community_team_id, name, team_id)
        changed = {key: value for key, value, seen in (("team_id", team_id, row.team_id),
                                                       ("channel_name", channel_name, row.channel_name))
                   if value and value != seen}
        if changed:
            self.session.execute(update(_M).where(_M.c.channel_id == channel_id).values(**changed))
        return community_id

    def ensure_home(self, channel_id: str, team_id: str | None, name: str | None, now: datetime, *,
                    channel_name: str | None = None) -> int:
        """The id of the community the channel started, whichever it counts towards (a channel not counting
        towards any yet counts towards it)."""
        row = self.run(_COMMUNITY_BY_HOME, {"channel_id": channel_id}).first()
        inserted = None if row is not None else insert_ignoring_conflicts(self.tx, _C, {
            "channel_id": channel_id, "team_id": team_id or None, "name": name or f"channel {channel_id}",
            "created_at": now}, ["channel_id"], returning=("id",))
        if inserted is not None:
            community_id = int(inserted.id)
        else:
            found, row_name, row_team_id = row or self.session.execute(
                _COMMUNITY_BY_HOME, {"channel_id": channel_id}).one()
            community_id = int(found)
            self._rename(community_id, row_name, row_team_id, name, team_id)
        insert_ignoring_conflicts(self.tx, _M, {
            "channel_id": channel_id, "community_id": community_id, "team_id": team_id or None,
            "channel_name": channel_name or None, "joined_at": now}, ["channel_id"])
        return community_id

    def _rename(self, community_id: int, row_name: str, row_team_id: str | None, name: str | None,
                team_id: str | None) -> None:
        new_name, new_team = name or row_name, row_team_id or team_id or None
        if row_name != new_name or new_team != row_team_id:
            self.session.execute(update(_C).where(_C.c.id == community_id).values(name=new_name, team_id=new_team))

    def channels(self, community_id: int) -> list[ChannelFacts]:
        """The channels that count towards a community, its home channel first."""
        rows = self.session.execute(
            select(_M.c.channel_id, _M.c.team_id, _M.c.channel_name, _M.c.member_count, _C.c.channel_id.label("home"))
            .join(_C, _C.c.id == _M.c.community_id).where(_M.c.community_id == community_id)
            .order_by(_M.c.joined_at, _M.c.channel_id))
        found = sorted(rows, key=lambda r: r.channel_id != r.home)
        return [ChannelFacts(r.channel_id, r.team_id, r.channel_name, r.member_count) for r in found]

    def channel(self, channel_id: str) -> ChannelFacts | None:
        row = self.session.execute(select(_M.c.channel_id, _M.c.team_id, _M.c.channel_name, _M.c.member_count)
                                   .where(_M.c.channel_id == channel_id)).first()
        return ChannelFacts(*row) if row else None

    def name_channel(self, channel_id: str, name: str) -> None:
        self.session.execute(update(_M).where(_M.c.channel_id == channel_id, _M.c.channel_name.is_distinct_from(name))
                             .values(channel_name=name))

    def set_member_count(self, channel_id: str, count: int, now: datetime) -> None:
        self.session.execute(update(_M).where(_M.c.channel_id == channel_id).values(
            member_count=count, member_count_at=now))


class ContentRepository(Repository):
    def by_url(self, url: str) -> ContentItem | None:
        """The item at the URL, or at the URL as its page was named before a move (`ItemAlias`)."""
        item = self.session.scalars(select(ContentItem).where(ContentItem.url == url)).one_or_none()
        if item is None:
            aliased = self.session.execute(select(_A.c.item_id).where(_A.c.url == url)).scalar()
            item = self.session.get(ContentItem, aliased) if aliased is not None else None
        return item

    def get(self, item_id: int, *, shared_lock: bool = False) -> ContentItem | None:
        """With `shared_lock`, its row is held (FOR KEY SHARE) until the transaction ends: an erase of its sharer,
        which holds it FOR UPDATE, waits or is waited for, while ordinary updates of the item (a community join
        moving it) do not conflict, so no lock order is at stake."""
        if shared_lock:
            return self.session.get(ContentItem, item_id, with_for_update={"read": True, "key_share": True},
                                    populate_existing=True)
        return self.session.get(ContentItem, item_id)

    def ensure(self, url: str, *, kind: str, community_id: int | None, shared_by: str | None,
               title: str | None, now: datetime) -> tuple[ItemRef, bool]:
        """The item for a normalised URL, and whether this call created it. Someone sharing an item nobody
        shared before (it was only rated, or came from the wiki) becomes its sharer (`_CLAIM_SHARER`)."""
        row = self.run(_ITEM_BY_URL, {"url": url}).first() or self.run(_ITEM_BY_ALIAS, {"url": url}).first()
        if row is not None:
            if shared_by is not None and rowcount(self.run(_CLAIM_SHARER, {
                    "item_id": row[0], "shared_by": shared_by, "community_id": community_id, "now": now})):
                row = self.run(_ITEM_BY_ID, {"item_id": row[0]}).one()
            return ItemRef(*row), False
        inserted = insert_ignoring_conflicts(self.tx, _I, {
            "url": url, "kind": kind, "community_id": community_id, "first_shared_by": shared_by, "title": title,
            "shared_at": now if shared_by is not None else None, "created_at": now}, ["url"],
            returning=("id", "url", "title", "community_id"))
        if inserted is not None:
            return ItemRef(inserted.id, inserted.url, inserted.title, inserted.community_id), True
        return ItemRef(*self.run(_ITEM_BY_URL, {"url": url}).one()), False

    def rateable(self, item_id: int) -> RateableItem | None:
        row = self.run(_RATEABLE_BY_ID, {"item_id": item_id}).first()
        return RateableItem(*row) if row else None

    def rateable_by_url(self, url: str) -> RateableItem | None:
        """The item at the URL, or at the URL as its page was named before a move (`ItemAlias`)."""
        row = self.run(_RATEABLE_BY_URL, {"url": url}).first() or self.run(_RATEABLE_BY_ALIAS, {"url": url}).first()
        return RateableItem(*row) if row else None

    def count(self) -> int:
        return self.session.scalar(select(func.count()).select_from(ContentItem)) or 0

    def set_space(self, item_id: int, space: str | None) -> None:
        """The mapped space the page lies in now (its space owners hear of it), None outside any."""
        self.session.execute(update(_I).where(_I.c.id == item_id, _I.c.space.is_distinct_from(space))
                             .values(space=space))

    def set_title(self, item_id: int, title: str) -> None:
        self.session.execute(update(_I).where(_I.c.id == item_id, _I.c.title.is_distinct_from(title))
                             .values(title=title))

    # -- wiki pages through their life ---------------------------------------------------------

    def by_page(self, wiki: str, page_ref: str) -> ItemRef | None:
        row = self.run(_ITEM_BY_PAGE, {"wiki": wiki, "page_ref": page_ref}).first()
        return ItemRef(*row) if row else None

    def pages_under(self, wiki: str, prefix: str, *, retired: bool) -> list[str]:
        """The wiki's ids of the pages learnloop follows on this wiki whose URL starts with `prefix`, retired or
        not."""
        return list(self.session.scalars(
            select(_I.c.page_ref).where(
                _I.c.wiki == wiki, _I.c.page_ref.is_not(None),
                _I.c.retired_at.is_not(None) if retired else _I.c.retired_at.is_(None),
                _I.c.url.startswith(prefix, autoescape=True)).order_by(_I.c.id)))

    def known_by_url_only(self, prefix: str, after: int, created_before: datetime, limit: int) -> list[tuple[int, str]]:
        """(id, url) of live items past id `after` whose URL starts with `prefix` and that no wiki page has
        claimed yet (rated or shared by URL), created before `created_before`, by id."""
        return [(int(item_id), url) for item_id, url in self.session.execute(
            select(_I.c.id, _I.c.url).where(
                _I.c.id > after, _I.c.page_ref.is_(None), _I.c.retired_at.is_(None), _I.c.created_at < created_before,
                _I.c.url.startswith(prefix, autoescape=True)).order_by(_I.c.id).limit(limit))]

    def known_to_all_by_url(self, url: str) -> ItemRef | None:
        """The item at `url` if everyone can know of it (KNOWN_TO_ALL)."""
        row = self.session.execute(select(*_ITEM_COLUMNS).where(_I.c.url == url, KNOWN_TO_ALL)).first()
        return ItemRef(*row) if row else None

    def ref_by_url(self, url: str) -> ItemRef | None:
        row = self.run(_ITEM_BY_URL, {"url": url}).first()
        return ItemRef(*row) if row else None

    def claim_page(self, item_id: int, wiki: str, page_ref: str) -> None:
        """The item is this page of this wiki from now on (a wiki page, whatever it was first rated as)."""
        self.session.execute(update(_I).where(_I.c.id == item_id).values(wiki=wiki, page_ref=page_ref,
                                                                          kind="wiki_page"))

    def mark_followed(self, item_id: int, now: datetime) -> None:
        """An event of the wiki's own named the page (the first one sets `followed_at`)."""
        self.session.execute(update(_I).where(_I.c.id == item_id, _I.c.followed_at.is_(None)).values(followed_at=now))

    def move(self, item_id: int, url: str) -> None:
        """The page is at a new URL; its ratings, feedback, events and score stay with the item, and its old URL
        stays an alias of it."""
        old = self.session.execute(select(_I.c.url).where(_I.c.id == item_id)).scalar()
        self.session.execute(update(_I).where(_I.c.id == item_id).values(url=url))
        self.release_alias(url)
        if old is not None and old != url:
            statement = dialect_insert(self.tx)(_A).values(url=old, item_id=item_id)
            self.session.execute(statement.on_conflict_do_update(index_elements=["url"],
                                                                 set_={"item_id": statement.excluded.item_id}))

    def park_removal(self, *, wiki: str, page_ref: str, marker: str, title: str, url: str, now: datetime) -> None:
        """Keep a removal asked for while the page was deleted, for when it comes back (once per section)."""
        insert_ignoring_conflicts(self.tx, _P, {"wiki": wiki, "page_ref": page_ref, "marker": marker,
                                                "title": title[:300], "url": url, "parked_at": now},
                                  ["wiki", "page_ref", "marker"])

    def published_to(self, wiki: str, page_ref: str) -> bool:
        """Whether learnloop published a reflection to the page (a learning log, wherever an admin moved it)."""
        to_page = select(_REFLECTIONS.c.id).where(_REFLECTIONS.c.published_wiki == wiki,
                                                  _REFLECTIONS.c.published_page_ref == page_ref)
        return self.session.execute(to_page.limit(1)).first() is not None

    def take_parked_removals(self, wiki: str, page_ref: str) -> list[dict[str, str]]:
        """The removals kept for the page (id, wiki, page_ref, marker, title, url each), no longer kept."""
        rows = self.session.execute(select(_P.c.id, _P.c.wiki, _P.c.page_ref, _P.c.marker, _P.c.title, _P.c.url)
                                    .where(_P.c.wiki == wiki, _P.c.page_ref == page_ref).order_by(_P.c.id)).all()
        if rows:
            self.session.execute(delete(_P).where(_P.c.id.in_([row.id for row in rows])))
        return [{name: str(value) for name, value in row._mapping.items()} for row in rows]

    def release_alias(self, url: str) -> None:
        """Another page (or link) is at `url` now: it no longer names the item that was there before a move."""
        self.session.execute(delete(_A).where(_A.c.url == url))

    def set_aside(self, item_id: int, url: str, now: datetime) -> None:
        """Free `url` (the item's own) for the page that is there now: the item is retired under a URL nobody
        can rate, with its ratings; its own page, if it still exists, brings it back with its next event."""
        self.session.execute(update(_I).where(_I.c.id == item_id).values(
            url=set_aside_url(url, item_id), retired_at=func.coalesce(_I.c.retired_at, now)))

    def retire(self, item_id: int, now: datetime) -> None:
        """The page was deleted from its wiki: no longer rateable nor ranked. Its ratings and shown score stay
        (and keep counting in its community's mean), so a restored page comes back as it was."""
        self.session.execute(update(_I).where(_I.c.id == item_id, _I.c.retired_at.is_(None)).values(retired_at=now))

    def restore(self, item_id: int) -> None:
        self.session.execute(update(_I).where(_I.c.id == item_id).values(retired_at=None))

    def set_community(self, item_id: int, community_id: int) -> None:
        self.session.execute(update(_I).where(_I.c.id == item_id).values(community_id=community_id))


class RatingRepository(Repository):
    def of(self, item_id: int, user_id: str) -> Rating | None:
        return self.session.scalars(
            select(Rating).where(Rating.item_id == item_id, Rating.user_id == user_id)).one_or_none()

    def put(self, item_id: int, user_id: str, stars: int, channel_id: str | None, now: datetime) -> int | None:
        """Set a person's rating of an item; returns the rating it replaced, if any.

        One upsert: two clicks at once from the same person meet at the unique key, and the second one
        changes the first one's row and returns its stars (the SET list reads the row as it was)."""
        previous = self.run(_rating_upsert(self.tx.dialect), {
            "item_id": item_id, "user_id": user_id, "stars": stars, "channel_id": channel_id, "created_at": now,
            "updated_at": now}).scalar_one()
        return None if previous is None else int(previous)


class FeedbackRepository(Repository):
    def add(self, feedback: Feedback) -> None:
        self.session.add(feedback)

    def record(self, *, item_id: int, community_id: int | None, author_id: str, stars: int, comment: str,
               now: datetime, reason: str | None = None) -> None:
        self.run(_FEEDBACK_INSERT, {
            "item_id": item_id, "community_id": community_id, "author_id": author_id, "stars": stars,
            "comment": comment, "reason": reason, "status": "new", "created_at": now})

    def open_reason(self, item_id: int, author_id: str) -> Feedback | None:
        """The open feedback (new or planned) with a reason this person gave for this item (one at most: giving
        a reason again replaces it)."""
        return self.session.scalars(select(Feedback).where(
            Feedback.item_id == item_id, Feedback.author_id == author_id, Feedback.reason.is_not(None),
            Feedback.status.in_(OPEN_STATES)).order_by(Feedback.id.desc()).limit(1)).one_or_none()

    def get(self, feedback_id: int) -> Feedback | None:
        return self.session.get(Feedback, feedback_id)

    def ids_in(self, community_id: int) -> list[int]:
        return list(self.session.scalars(select(Feedback.id).where(Feedback.community_id == community_id)))

    def follow_item(self, item_id: int, community_id: int) -> None:
        """An item's open feedback goes to the owners of the community it moved to (they own the page now);
        what the former owners resolved or hid stays with them."""
        table = table_of(Feedback)
        self.session.execute(update(table).where(table.c.item_id == item_id, table.c.status.in_(OPEN_STATES))
                             .values(community_id=community_id))


class EventLog(Repository):
    """Append-only: events are inserted, never updated (a person's erasure aside)."""

    def append(
        self, kind: str, *, occurred_at: datetime, recorded_at: datetime, community_id: int | None = None,
        actor_id: str | None = None, item_id: int | None = None, dedupe_key: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> bool:
        """True if recorded; False if an event with the same dedupe key was recorded before."""
        values = {
            "kind": kind, "occurred_at": occurred_at, "recorded_at": recorded_at, "community_id": community_id,
            "actor_id": actor_id, "item_id": item_id, "dedupe_key": dedupe_key, "data": data or {},
        }
        if dedupe_key is None:
            self.run(_EVENT_INSERT, values)
            return True
        check_key(dedupe_key)
        return insert_ignoring_conflicts(self.tx, _E, values, ["dedupe_key"]) is not None

    def last_deleted_at(self, item_id: int) -> datetime | None:
        """When the wiki last deleted the page (its newest wiki_page_deleted event), if still kept."""
        return cast("datetime | None", self.session.scalar(
            select(func.max(_E.c.occurred_at)).where(_E.c.item_id == item_id, _E.c.kind == "wiki_page_deleted")))

    def last_alive_at(self, item_id: int) -> datetime | None:
        """When the wiki last showed the page live (its newest wiki_page_* event but a deletion), if still kept."""
        return cast("datetime | None", self.session.scalar(
            select(func.max(_E.c.occurred_at)).where(_E.c.item_id == item_id, _E.c.kind.startswith("wiki_page_"),
                                                     _E.c.kind != "wiki_page_deleted")))

    def recorded(self, dedupe_key: str) -> bool:
        """Whether an event with this key was recorded (the unique index answers)."""
        return self.session.scalar(select(_E.c.id).where(_E.c.dedupe_key == check_key(dedupe_key))) is not None

    def append_many(self, kind: str, events: list[dict[str, Any]], *, recorded_at: datetime) -> None:
        """Several events of one kind in one statement; each dict has occurred_at, community_id, actor_id and
        dedupe_key. An event whose dedupe key was recorded before is skipped."""
        insert_many_ignoring_conflicts(self.tx, _E, [
            {"kind": kind, "recorded_at": recorded_at, "item_id": None, "data": {}, **event} for event in events],
            ["dedupe_key"])

    def held_between(self, after: int, last: int, kind: str | None = None) -> int:
        """How many events (of `kind`, if given) have ids past `after` up to `last`. They stay locked (shared)
        until the transaction ends, so an erase cannot delete them before a fold that counted them commits
        (PostgreSQL); a fold compares this with what it read."""
        held = select(_E.c.id).where(_E.c.id > after, _E.c.id <= last)
        if kind is not None:
            held = held.where(_E.c.kind == kind)
        return int(self.session.scalar(
            select(func.count()).select_from(held.with_for_update(read=True).subquery())) or 0)

    def of_kind(self, kind: str) -> list[Event]:
        return list(self.session.scalars(select(Event).where(Event.kind == kind).order_by(Event.id)))

    def page_changes(self, community_id: int, limit: int, *, start: datetime | None = None,
                     end: datetime | None = None) -> list[tuple[int, str, dict[str, Any]]]:
        """(item, kind, data) of a community's latest wiki page events (created, updated, moved, deleted,
        restored), newest first; only those that occurred from `start` up to `end`, when given."""
        statement = (select(Event.item_id, Event.kind, Event.data)
                     .where(Event.community_id == community_id, Event.item_id.is_not(None),
                            Event.kind.in_([f"wiki_page_{action}" for action in get_args(PageAction)])))
        if start is not None:
            statement = statement.where(Event.occurred_at >= start)
        if end is not None:
            statement = statement.where(Event.occurred_at < end)
        return [(int(item), kind, dict(data or {})) for item, kind, data in self.session.execute(
            statement.order_by(Event.occurred_at.desc(), Event.id.desc()).limit(limit))]

    def purge_folded(self, *, before: datetime, folded_through: int) -> int:
        """Events older than `before` that the dashboards' rollups have folded (retention)."""
        result = self.session.execute(delete(Event).where(Event.occurred_at < before, Event.id <= folded_through))
        return rowcount(result)


_CURSOR = table_of(Cursor)
_POSITION = select(_CURSOR.c.position).where(_CURSOR.c.name == bindparam("name"))


class CursorRepository(Repository):
    def get(self, name: str) -> str | None:
        position: str | None = self.run(_POSITION, {"name": name}).scalar()
        return position

    def move(self, name: str, position: str, now: datetime) -> None:
        statement = dialect_insert(self.tx)(table_of(Cursor)).values(name=name, position=position,
                                                                           updated_at=now)
        self.session.execute(statement.on_conflict_do_update(
            index_elements=["name"], set_={"position": statement.excluded.position,
                                           "updated_at": statement.excluded.updated_at}))

    def move_from(self, name: str, seen: str, position: str, now: datetime) -> bool:
        """Compare and set: move the cursor only if it is still where this caller read it. Two workers that
        folded the same events race here; the second finds the cursor moved (PostgreSQL re-reads the row
        after the first commits) and is refused."""
        insert_ignoring_conflicts(self.tx, table_of(Cursor),
                                  {"name": name, "position": seen, "updated_at": now}, ["name"])
        result = self.session.execute(update(Cursor).where(Cursor.name == name, Cursor.position == seen)
                                      .values(position=position, updated_at=now))
        return bool(rowcount(result))

    def updated_at(self, name: str) -> datetime | None:
        return self.session.scalar(select(Cursor.updated_at).where(Cursor.name == name))

    def lock(self, names: list[str]) -> None:
        """Hold these cursors until the transaction ends (PostgreSQL): a fold that moves one waits for it."""
        self.session.execute(select(Cursor.name).where(Cursor.name.in_(sorted(names))).order_by(Cursor.name)
                             .with_for_update())


class LinkRepository(Repository):
    """One-time links, found by the hash of their token."""

    def add(self, link: SigninLink) -> None:
        self.session.add(link)

    def by_hash(self, token_hash: str, purpose: str, *, for_update: bool = False) -> SigninLink | None:
        statement = select(SigninLink).where(SigninLink.token_hash == token_hash, SigninLink.purpose == purpose)
        return self.session.scalars(statement.with_for_update() if for_update else statement).one_or_none()

    def purge_spent(self, before: datetime) -> int:
        """Links used or expired before `before`."""
        result = self.session.execute(delete(SigninLink).where(
            (SigninLink.used_at < before) | (SigninLink.expires_at < before)))
        return rowcount(result)


class AnnouncementRepository(Repository):
    def add(self, announcement: Announcement) -> None:
        self.session.add(announcement)

    def purge_older(self, before: datetime) -> int:
        """Announcements whose burst began before `before` and that wait for nothing (they hold wiki authors'
        names and edit summaries)."""
        return rowcount(self.session.execute(delete(Announcement).where(
            Announcement.first_event_at < before, Announcement.status != "pending")))

    def open_for(self, item_id: int, now: datetime) -> Announcement | None:
        """The page's post whose burst window is still open: later changes update it."""
        return self.session.scalars(select(Announcement).where(
            Announcement.item_id == item_id, Announcement.status == "queued", Announcement.due_at > now)
            .order_by(Announcement.id.desc()).with_for_update()).first()

    def naming(self, author: str, *, lock: bool = True) -> list[Announcement]:
        """The posts that name this wiki author among a page's changers, in any case: a wiki can write the
        Mattermost user name (lower case, see `by_username`) otherwise, as MediaWiki's 'Ann' for 'ann'."""
        name = author.strip().lower()
        query = select(Announcement).where(
            sql_cast(Announcement.authors, String).icontains(name, autoescape=True))
        rows = self.session.scalars(query.with_for_update() if lock else query)
        return [row for row in rows if any(str(entry.get("name")).lower() == name for entry in row.authors)]

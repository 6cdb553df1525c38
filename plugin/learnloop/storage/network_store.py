"""What the network's jobs read and keep: co-ratings between items, the useful items each person (as a keyed
hash) counts towards them, what helped people (for recognising sharers), and a week's material for a digest."""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterator
from datetime import date, datetime
from itertools import groupby, islice
from typing import Any

from sqlalchemy import Row, bindparam, delete, func, or_, select, tuple_, update

from learnloop.chunks import chunks
from learnloop.domain.network import USEFUL
from learnloop.storage.repositories import Repository, insert_for, rowcount
from learnloop.storage.tables import (
    Community,
    ContentItem,
    CoRating,
    CoRatingLike,
    Event,
    ItemScore,
    Member,
    Rating,
    table_of,
)

NEIGHBOURS = 20
"""Partners read per item for suggestions: the strongest pairs, as item-to-item recommenders keep them."""


def _neighbours(side: Any, other: Any) -> Any:
    return (select(other, CoRating.people)
            .where(CoRating.community_id == bindparam("community_id"), side == bindparam("item"),
                   CoRating.people >= bindparam("min_people"))
            .order_by(CoRating.people.desc()).limit(NEIGHBOURS))


_NEIGHBOURS_AFTER = _neighbours(CoRating.item_a, CoRating.item_b)
_NEIGHBOURS_BEFORE = _neighbours(CoRating.item_b, CoRating.item_a)
@functools.cache
def _pair_upsert(dialect: str) -> Any:
    """Add to a pair's count, or start it; built once, run with many rows at a time."""
    table = table_of(CoRating)
    statement = insert_for(dialect)(table)
    return statement.on_conflict_do_update(index_elements=["community_id", "item_a", "item_b"],
                                           set_={"people": table.c.people + statement.excluded.people})


CHUNK = 2000
"""Rows per multi-row statement (PostgreSQL takes at most 65,535 parameters in one)."""


class NetworkStore(Repository):
    # -- co-ratings ---------------------------------------------------------------------------

    def settled_ratings_after(self, after: int, settled_before: datetime, limit: int) -> list[Any]:
        """Rating events past `after`, in id order, up to the first one still settling (see rollups.SETTLE)."""
        rows = list(self.session.execute(
            select(Event.id, Event.actor_id, Event.item_id, Event.recorded_at)
            .where(Event.id > after, Event.kind == "rating").order_by(Event.id).limit(limit)))
        settled = []
        for row in rows:
            if row.recorded_at > settled_before:
                break
            settled.append(row)
        return settled

    def last_event_id(self) -> int:
        return int(self.session.scalar(select(func.coalesce(func.max(Event.id), 0))) or 0)

    def item_communities(self, item_ids: set[int]) -> dict[int, int]:
        if not item_ids:
            return {}
        return {int(i): int(c or 0) for i, c in self.session.execute(
            select(ContentItem.id, ContentItem.community_id)
            .where(ContentItem.id.in_(item_ids), ContentItem.community_id.is_not(None)))}

    def useful_items(self, community_id: int, user_ids: list[str], limit: int) -> dict[str, set[int]]:
        """Each person's `limit` most recently rated items of the community that they rated useful."""
        found: dict[str, set[int]] = {user: set() for user in user_ids}
        for some in chunks(user_ids, CHUNK):
            ranked = (select(Rating.user_id, Rating.item_id, func.row_number().over(
                partition_by=Rating.user_id, order_by=(Rating.updated_at.desc(), Rating.item_id.desc())).label("n"))
                .join(ContentItem, ContentItem.id == Rating.item_id)
                .where(Rating.user_id.in_(some), Rating.stars >= USEFUL,
                       ContentItem.community_id == community_id).subquery())
            recent = select(ranked.c.user_id, ranked.c.item_id).where(ranked.c.n <= limit)
            for user, item in self.session.execute(recent):
                found[user].add(int(item))
        return found

    def rated_communities(self) -> list[int]:
        return [int(c or 0) for c in self.session.scalars(
            select(ContentItem.community_id).join(Rating, Rating.item_id == ContentItem.id)
            .where(ContentItem.community_id.is_not(None)).distinct().order_by(ContentItem.community_id))]

    def useful_by_person(self, community_id: int, limit: int) -> Iterator[tuple[str, list[int]]]:
        """Each person's most recent `limit` useful items of the community, read as one stream."""
        rows = self.session.execute(
            select(Rating.user_id, Rating.item_id).join(ContentItem, ContentItem.id == Rating.item_id)
            .where(Rating.stars >= USEFUL, ContentItem.community_id == community_id)
            .order_by(Rating.user_id, Rating.updated_at.desc(), Rating.item_id.desc())
            .execution_options(yield_per=10_000))
        for person, group in groupby(rows, key=lambda row: row[0]):
            yield person, [int(row[1]) for row in islice(group, limit)]

    def useful_raters(self, community_id: int) -> set[str]:
        """The people who found something of the community useful."""
        return set(self.session.scalars(
            select(Rating.user_id).distinct().join(ContentItem, ContentItem.id == Rating.item_id)
            .where(Rating.stars >= USEFUL, ContentItem.community_id == community_id)))

    def likes(self, community_id: int, members: list[str]) -> dict[str, set[int]]:
        """The useful items last counted for each of these people (keyed hashes)."""
        found: dict[str, set[int]] = {member: set() for member in members}
        for some in chunks(members, CHUNK):
            for member, item in self.session.execute(select(CoRatingLike.member, CoRatingLike.item_id).where(
                    CoRatingLike.community_id == community_id, CoRatingLike.member.in_(some))):
                found[member].add(int(item))
        return found

    def likes_of(self, member: str) -> dict[int, set[int]]:
        found: dict[int, set[int]] = defaultdict(set)
        for community_id, item_id in self.session.execute(
                select(CoRatingLike.community_id, CoRatingLike.item_id).where(CoRatingLike.member == member)):
            found[int(community_id)].add(int(item_id))
        return dict(found)

    def liked_communities(self, members: list[str]) -> dict[str, set[int]]:
        """The communities in which each of these people (keyed hashes) has useful items counted."""
        found: dict[str, set[int]] = defaultdict(set)
        for some in chunks(members, CHUNK):
            for member, community_id in self.session.execute(
                    select(CoRatingLike.member, CoRatingLike.community_id).where(CoRatingLike.member.in_(some))
                    .distinct()):
                found[member].add(int(community_id))
        return dict(found)

    def replace_likes(self, community_id: int, likes: dict[str, set[int]]) -> None:
        members = sorted(likes)
        for some in chunks(members, CHUNK):
            self.session.execute(delete(CoRatingLike).where(CoRatingLike.community_id == community_id,
                                                            CoRatingLike.member.in_(some)))
        self.add_likes(community_id, likes)

    def add_likes(self, community_id: int, likes: dict[str, set[int]]) -> None:
        rows = [{"community_id": community_id, "member": member, "item_id": item}
                for member, items in sorted(likes.items()) for item in sorted(items)]
        for some_rows in chunks(rows, CHUNK):
            self.session.execute(table_of(CoRatingLike).insert(), some_rows)

    def add_pairs(self, community_id: int, changes: dict[tuple[int, int], int]) -> None:
        """Move pair counts by `changes`; a pair nobody shares any more is removed."""
        if not changes:
            return
        rows = [{"community_id": community_id, "item_a": a, "item_b": b, "people": delta}
                for (a, b), delta in sorted(changes.items())]
        statement = _pair_upsert(self.tx.dialect)
        for some_rows in chunks(rows, CHUNK):
            self.run(statement, some_rows)
        dropped = [pair for pair, delta in sorted(changes.items()) if delta < 0]
        for some_pairs in chunks(dropped, CHUNK):
            self.session.execute(delete(CoRating).where(
                CoRating.community_id == community_id, CoRating.people <= 0,
                tuple_(CoRating.item_a, CoRating.item_b).in_(some_pairs)))

    def forget_community(self, community_id: int) -> None:
        self.session.execute(delete(CoRating).where(CoRating.community_id == community_id))
        self.session.execute(delete(CoRatingLike).where(CoRatingLike.community_id == community_id))

    def pairs_with(self, community_id: int, items: set[int], min_people: int) -> dict[tuple[int, int], int]:
        """Each item's NEIGHBOURS strongest pairs that at least `min_people` share (an index by people answers
        each, so a popular item's thousands of pairs are never read)."""
        connection = self.tx.connection
        found = {}
        for item in sorted(items):
            params = {"community_id": community_id, "item": item, "min_people": min_people}
            for partner, people in connection.execute(_NEIGHBOURS_AFTER, params):
                found[(item, int(partner))] = int(people)
            for partner, people in connection.execute(_NEIGHBOURS_BEFORE, params):
                found[(int(partner), item)] = int(people)
        return found

    def rated_by(self, user_id: str) -> set[int]:
        return set(self.session.scalars(select(Rating.item_id).where(Rating.user_id == user_id)))

    def scores(self, item_ids: set[int], k: int) -> dict[int, float]:
        """The shown scores of these items (at least k people stand behind each)."""
        if not item_ids:
            return {}
        return {int(i): float(score) for i, score in self.session.execute(
            select(ItemScore.item_id, ItemScore.score).where(ItemScore.item_id.in_(item_ids),
                                                             ItemScore.shown(k)))}

    # -- recognition ----------------------------------------------------------------------------

    def useful_to_others(self, item_ids: set[int]) -> dict[int, int]:
        """How many people other than its sharer rated each shared item useful (4 or more), among the ratings its
        shown score holds: the count moves only when the score does, once k people changed it, so the message a
        milestone brings never follows one person's rating."""
        if not item_ids:
            return {}
        return {int(i): int(n) for i, n in self.session.execute(
            select(Rating.item_id, func.count()).join(ContentItem, ContentItem.id == Rating.item_id)
            .join(ItemScore, ItemScore.item_id == Rating.item_id)
            .where(Rating.item_id.in_(item_ids), Rating.stars >= USEFUL, ContentItem.first_shared_by.is_not(None),
                   Rating.user_id != ContentItem.first_shared_by, Rating.updated_at <= ItemScore.released_through,
                   Rating.created_at <= ItemScore.counted_through)
            .group_by(Rating.item_id))}

    def owe_recognition(self, milestones: dict[int, int]) -> None:
        """Note the milestone each item reached, where it is higher than any noted or told before."""
        for item_id, milestone in sorted(milestones.items()):
            self.session.execute(update(ContentItem).where(
                ContentItem.id == item_id, ContentItem.recognition_due < milestone,
                ContentItem.recognised < milestone).values(recognition_due=milestone))

    def shared_rated_items(self) -> set[int]:
        rated = select(Rating.item_id).where(Rating.item_id == ContentItem.id)
        return set(self.session.scalars(select(ContentItem.id).where(
            ContentItem.first_shared_by.is_not(None), rated.exists())))

    def settle_all_owed(self) -> None:
        self.session.execute(update(ContentItem).where(ContentItem.recognition_due > ContentItem.recognised)
                             .values(recognised=ContentItem.recognition_due))

    def owed_recognition(self, limit: int, after: int) -> list[Row[Any]]:
        """(id, sharer, milestone, title, url, kind) of up to `limit` shared items whose sharer is owed a message,
        in item order from the first after `after`, then round to the first items."""
        owed = (select(ContentItem.id, ContentItem.first_shared_by.label("sharer"),
                       ContentItem.recognition_due.label("milestone"), ContentItem.title, ContentItem.url,
                       ContentItem.kind)
                .where(ContentItem.recognition_due > ContentItem.recognised, ContentItem.first_shared_by.is_not(None))
                .order_by(ContentItem.id))
        found: list[Row[Any]] = list(self.session.execute(owed.where(ContentItem.id > after).limit(limit)))
        if len(found) < limit and after:
            found += self.session.execute(owed.where(ContentItem.id <= after).limit(limit - len(found)))
        return found

    def settle_recognition(self, item_id: int, milestone: int, sharer: str) -> bool:
        """Mark the milestone told (or not wanted); False when another worker did first, or when the item's sharer
        is no longer `sharer` (they erased their data since it was read)."""
        result = self.session.execute(update(ContentItem).where(
            ContentItem.id == item_id, ContentItem.recognised < milestone, ContentItem.first_shared_by == sharer)
            .values(recognised=milestone))
        return bool(rowcount(result))

    # -- weekly messages --------------------------------------------------------------------------

    def digest_communities(self) -> list[Community]:
        return list(self.session.scalars(select(Community).where(Community.digest_weekday.is_not(None))
                                         .order_by(Community.id)))

    def mark_digest_week(self, community_id: int, week: date) -> bool:
        """Compare-and-set: the week's digest is this worker's to post; False when it was done."""
        result = self.session.execute(update(Community).where(
            Community.id == community_id,
            or_(Community.digest_week.is_(None), Community.digest_week < week)).values(digest_week=week))
        return bool(rowcount(result))

    def suggestion_members(self, before_week: date) -> list[Member]:
        """People who asked for suggestions and have not had this week's."""
        return list(self.session.scalars(select(Member).where(
            Member.suggestions.is_(True),
            or_(Member.suggested_week.is_(None), Member.suggested_week < before_week)).order_by(Member.user_id)))

    def mark_suggested_week(self, user_id: str, week: date) -> bool:
        result = self.session.execute(update(Member).where(
            Member.user_id == user_id,
            or_(Member.suggested_week.is_(None), Member.suggested_week < week)).values(suggested_week=week))
        return bool(rowcount(result))

    def moved_scores_of(self, community_id: int, start: datetime, end: datetime) -> set[int]:
        """The community's items whose shown score moved between `start` and `end`. A score moves only once k
        people changed it, and only when a week ends, so no one person's rating, nor when they gave it, puts an
        item here."""
        return {int(i) for i in self.session.scalars(
            select(ItemScore.item_id).where(ItemScore.community_id == community_id,
                                            ItemScore.released_at >= start, ItemScore.released_at < end))}

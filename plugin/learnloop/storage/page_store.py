"""What page owners and the weekly review read and keep: page and space owners, the week's review list with
the community owners it falls back to, when pages were reviewed, and the feedback a review message counts."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, update

from learnloop.chunks import chunks
from learnloop.domain.page_review import OPEN_STATES, REVIEW_REASONS
from learnloop.storage.repositories import Repository, insert_ignoring_conflicts, rowcount
from learnloop.storage.tables import (
    Community,
    ContentItem,
    Feedback,
    ItemScore,
    Member,
    PageOwner,
    PageReview,
    ReviewOwner,
    table_of,
)

CHUNK = 2000
"""Ids per IN list (PostgreSQL takes at most 65,535 parameters in one statement)."""
_O = table_of(PageOwner)


class PageStore(Repository):
    # -- owners ---------------------------------------------------------------------------------

    def add_owner(self, *, kind: str, user_id: str, username: str | None, now: datetime, item_id: int | None = None,
                  community_id: int | None = None, wiki: str | None = None, space: str | None = None) -> bool:
        """Name an owner; False when they already were (the same row twice is one)."""
        keys = ["item_id", "user_id"] if item_id is not None else ["community_id", "wiki", "space", "user_id"]
        row = insert_ignoring_conflicts(self.tx, _O, {
            "kind": kind, "item_id": item_id, "community_id": community_id, "wiki": wiki, "space": space,
            "user_id": user_id, "username": username, "created_at": now}, keys, returning=("id",))
        return row is not None

    def remove_owner(self, *, kind: str, user_id: str, item_id: int | None = None, community_id: int | None = None,
                     wiki: str | None = None, space: str | None = None) -> bool:
        statement = delete(_O).where(_O.c.kind == kind, _O.c.user_id == user_id)
        if item_id is not None:
            statement = statement.where(_O.c.item_id == item_id)
        else:
            statement = statement.where(_O.c.community_id == community_id, _O.c.wiki == wiki, _O.c.space == space)
        return bool(rowcount(self.session.execute(statement)))

    def item_owners(self, item_ids: list[int]) -> dict[int, dict[str, set[str]]]:
        """Item id to its named owners by kind ('page', 'declined')."""
        found: dict[int, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        for chunk in chunks(sorted(set(item_ids)), CHUNK):
            for item_id, kind, user_id in self.session.execute(
                    select(_O.c.item_id, _O.c.kind, _O.c.user_id).where(_O.c.item_id.in_(chunk))):
                found[int(item_id)][kind].add(user_id)
        return found

    def space_owners(self, community_ids: list[int]) -> dict[tuple[int, str, str], set[str]]:
        """(community, wiki, space) to the space's owners."""
        found: dict[tuple[int, str, str], set[str]] = defaultdict(set)
        for community_id, wiki, space, user_id in self.session.execute(
                select(_O.c.community_id, _O.c.wiki, _O.c.space, _O.c.user_id)
                .where(_O.c.kind == "space", _O.c.community_id.in_(sorted(set(community_ids))))):
            found[(int(community_id), wiki, space)].add(user_id)
        return found

    def space_owners_in(self, community_id: int) -> list[Any]:
        """(wiki, space, username, user id) of the owners of a community's spaces."""
        return list(self.session.execute(
            select(_O.c.wiki, _O.c.space, _O.c.username, _O.c.user_id)
            .where(_O.c.kind == "space", _O.c.community_id == community_id)
            .order_by(_O.c.wiki, _O.c.space, _O.c.username)))

    def page_owners_in(self, community_id: int) -> list[Any]:
        """(item id, title, url, username, user id) of the owners of a community's pages."""
        return list(self.session.execute(
            select(_O.c.item_id, ContentItem.title, ContentItem.url, _O.c.username, _O.c.user_id)
            .join(ContentItem, ContentItem.id == _O.c.item_id)
            .where(_O.c.kind == "page", ContentItem.community_id == community_id)
            .order_by(ContentItem.url, _O.c.username)))

    # -- the week's review list -----------------------------------------------------------------

    def communities_to_review(self, week: date) -> list[int]:
        """Communities (not retired) whose review list for `week` is not worked out yet."""
        return [int(c) for c in self.session.scalars(select(Community.id).where(
            Community.joined_into.is_(None), or_(Community.review_week.is_(None), Community.review_week < week))
            .order_by(Community.id))]

    def mark_community_week(self, community_id: int, week: date) -> bool:
        """Compare-and-set: this worker works out the week's list; False when it was done."""
        result = self.session.execute(update(Community).where(
            Community.id == community_id,
            or_(Community.review_week.is_(None), Community.review_week < week)).values(review_week=week))
        return bool(rowcount(result))

    def reason_people(self, community_id: int) -> dict[int, int]:
        """Item to how many different people gave it an open "outdated" or "broken link" reason."""
        return {int(i): int(n) for i, n in self.session.execute(
            select(Feedback.item_id, func.count(func.distinct(Feedback.author_id)))
            .where(Feedback.community_id == community_id, Feedback.status.in_(OPEN_STATES),
                   Feedback.reason.in_(REVIEW_REASONS))
            .group_by(Feedback.item_id))}

    def reviewable(self, community_id: int, *, overdue_before: datetime, min_ratings: int,
                   item_ids: set[int]) -> list[Any]:
        """(id, kind, created_at, followed_at, reviewed_at, and of its shown score: stars_sum, ratings_count,
        released_at, before_stars_sum, before_ratings_count; None where none is shown) of the community's
        items that are not retired nor reflections and could need review: wiki pages not reviewed since
        `overdue_before` (counted from when the wiki named them), items whose shown score at least `min_ratings`
        people stand behind, and `item_ids`."""
        last = func.coalesce(ContentItem.reviewed_at, ContentItem.followed_at)
        wanted = or_(ItemScore.ratings_count >= min_ratings,
                     (ContentItem.kind == "wiki_page") & (last < overdue_before))
        columns = (ContentItem.id, ContentItem.kind, ContentItem.created_at, ContentItem.followed_at,
                   ContentItem.reviewed_at,
                   ItemScore.stars_sum, ItemScore.ratings_count, ItemScore.released_at,
                   ItemScore.before_stars_sum, ItemScore.before_ratings_count)
        base = (select(*columns).outerjoin(ItemScore, ItemScore.item_id == ContentItem.id)
                .where(ContentItem.community_id == community_id, ContentItem.retired_at.is_(None),
                       ContentItem.kind != "reflection"))
        found = {int(row.id): row for row in self.session.execute(base.where(wanted))}
        for chunk in chunks(sorted(item_ids - set(found)), CHUNK):
            found.update({int(row.id): row for row in self.session.execute(base.where(ContentItem.id.in_(chunk)))})
        return [found[i] for i in sorted(found)]

    def replace_reviews(self, community_id: int, week: date, rows: list[dict[str, Any]], owners: list[str]) -> None:
        """The community's review list and fallback owners for `week`, instead of the last week's."""
        self.session.execute(delete(PageReview).where(PageReview.community_id == community_id))
        for chunk in chunks([row["item_id"] for row in rows], CHUNK):
            self.session.execute(delete(PageReview).where(PageReview.item_id.in_(chunk)))
        if rows:
            self.session.execute(table_of(PageReview).insert(), rows)
        self.session.execute(delete(ReviewOwner).where(ReviewOwner.community_id == community_id))
        if owners:
            self.session.execute(table_of(ReviewOwner).insert(), [
                {"community_id": community_id, "week": week, "user_id": user} for user in sorted(set(owners))])

    def reviews(self) -> list[Any]:
        """The review lists (one week per community), with what each page's owners and message need."""
        return list(self.session.execute(
            select(PageReview, ContentItem.title, ContentItem.url, ContentItem.kind, ContentItem.wiki,
                   ContentItem.space, ContentItem.community_id.label("item_community"), ContentItem.reviewed_at,
                   ContentItem.retired_at)
            .join(ContentItem, ContentItem.id == PageReview.item_id).order_by(PageReview.item_id)))

    def fallback_owners(self) -> dict[tuple[int, date], set[str]]:
        found: dict[tuple[int, date], set[str]] = defaultdict(set)
        for community_id, week, user_id in self.session.execute(
                select(ReviewOwner.community_id, ReviewOwner.week, ReviewOwner.user_id)):
            found[(int(community_id), week)].add(user_id)
        return found

    def open_reasons(self, item_ids: list[int]) -> dict[int, dict[str, int]]:
        """Item to its open reasons, counted (never who)."""
        found: dict[int, dict[str, int]] = defaultdict(dict)
        for chunk in chunks(item_ids, CHUNK):
            for item_id, reason, count in self.session.execute(
                    select(Feedback.item_id, Feedback.reason, func.count())
                    .where(Feedback.item_id.in_(chunk), Feedback.status.in_(OPEN_STATES), Feedback.reason.is_not(None))
                    .group_by(Feedback.item_id, Feedback.reason)):
                found[int(item_id)][str(reason)] = int(count)
        return found

    def notes(self, item_ids: list[int], after: datetime | None, until: datetime) -> dict[int, list[tuple[int, str]]]:
        """Item to (feedback id, note) of its open notes written after `after` (all when None) up to `until`:
        the text only, never who, their stars or when."""
        found: dict[int, list[tuple[int, str]]] = defaultdict(list)
        for chunk in chunks(item_ids, CHUNK):
            statement = (select(Feedback.item_id, Feedback.id, Feedback.comment)
                         .where(Feedback.item_id.in_(chunk), Feedback.status.in_(OPEN_STATES), Feedback.comment != "",
                                Feedback.created_at <= until))
            if after is not None:
                statement = statement.where(Feedback.created_at > after)
            for item_id, feedback_id, comment in self.session.execute(statement):
                found[int(item_id)].append((int(feedback_id), comment))
        return found

    def mark_person_week(self, user_id: str, week: date, notes_until: datetime | None) -> bool:
        """Compare-and-set the person's week marker (and, with a message, how far its notes went)."""
        values: dict[str, Any] = {"review_week": week}
        if notes_until is not None:
            values["review_notes_after"] = notes_until
        result = self.session.execute(update(Member).where(
            Member.user_id == user_id, or_(Member.review_week.is_(None), Member.review_week < week)).values(**values))
        return bool(rowcount(result))

    # -- a page reviewed ------------------------------------------------------------------------

    def mark_reviewed(self, item_id: int, now: datetime) -> int:
        """The page is reviewed now: off the review list, and its open reasons resolved (how many)."""
        self.session.execute(update(ContentItem).where(ContentItem.id == item_id).values(reviewed_at=now))
        self.session.execute(delete(PageReview).where(PageReview.item_id == item_id))
        result = self.session.execute(update(Feedback).where(
            Feedback.item_id == item_id, Feedback.status.in_(OPEN_STATES), Feedback.reason.is_not(None))
            .values(status="resolved"))
        return rowcount(result)

    def set_interval(self, community_id: int, days: int) -> None:
        self.session.execute(update(Community).where(Community.id == community_id).values(review_interval_days=days))

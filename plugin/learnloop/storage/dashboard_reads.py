"""What a dashboard page reads: release blocks, weekly totals, distinct counts over released weeks, the
score index and the feedback list. Never the event log's history."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from sqlalchemy import case, func, select

from learnloop.domain.disclosure import Block
from learnloop.domain.page_review import OPEN_STATES
from learnloop.storage.repositories import KNOWN_TO_ALL, Repository
from learnloop.storage.tables import (
    ContentItem,
    Feedback,
    ItemScore,
    ReleaseBlock,
    WeeklyCount,
    WeeklyMember,
    table_of,
)


class DashboardReads(Repository):
    def blocks(self, community_id: int, metrics: list[str], since: date) -> dict[str, list[Block]]:
        """These measures' blocks that reach the week `since` or later (a figure from `since` on is a sum of
        whole blocks among them)."""
        found: dict[str, list[Block]] = {metric: [] for metric in metrics}
        b = table_of(ReleaseBlock)
        for metric, first, last, value, people, closed in self.session.execute(
                select(b.c.metric, b.c.first_week, b.c.last_week, b.c.value, b.c.people, b.c.closed)
                .where(b.c.community_id == community_id, b.c.metric.in_(metrics), b.c.last_week >= since)
                .order_by(b.c.metric, b.c.first_week)):
            found[metric].append(Block(first, last, value, people, closed))
        return found

    def weekly_values(self, community_id: int, metrics: list[str], first: date,
                      last: date) -> dict[str, dict[date, int]]:
        found: dict[str, dict[date, int]] = defaultdict(dict)
        for week, metric, value in self.session.execute(
                select(WeeklyCount.week, WeeklyCount.metric, WeeklyCount.value).where(
                    WeeklyCount.community_id == community_id, WeeklyCount.metric.in_(metrics),
                    WeeklyCount.week >= first, WeeklyCount.week <= last)):
            found[metric][week] = int(value)
        return found

    def distinct_members(self, community_id: int, metric: str, first: date, last: date) -> int:
        return int(self.session.scalar(select(func.count(func.distinct(WeeklyMember.member))).where(
            WeeklyMember.community_id == community_id, WeeklyMember.metric == metric, WeeklyMember.week >= first,
            WeeklyMember.week <= last)) or 0)

    def top_scores(self, community_id: int, k: int, limit: int, item_ids: set[int] | None = None,
                   ) -> list[tuple[float, int, int]]:
        """(shown score, ratings, item) best first, of the community's items whose shown score at least k people
        stand behind, not retired, and not shared reflections (a colleague's own writing, never ranked against
        another's); only these items, if given."""
        query = (select(ItemScore.score, ItemScore.ratings_count, ItemScore.item_id)
                 .join(ContentItem, ContentItem.id == ItemScore.item_id)
                 .where(ItemScore.community_id == community_id, ItemScore.shown(k),
                        ContentItem.retired_at.is_(None), ContentItem.kind != "reflection"))
        if item_ids is not None:
            query = query.where(ItemScore.item_id.in_(item_ids))
        return [(float(score), int(n), int(i)) for score, n, i in self.session.execute(
            query.order_by(ItemScore.score.desc(), ItemScore.ratings_count.desc(), ItemScore.item_id).limit(limit))]

    def shown_among(self, community_id: int, k: int, item_ids: set[int], limit: int) -> list[int]:
        """Which of these items of the community have a shown score at least k people stand behind, not retired,
        oldest first: in no order of merit."""
        return list(self.session.scalars(
            select(ItemScore.item_id).join(ContentItem, ContentItem.id == ItemScore.item_id)
            .where(ItemScore.community_id == community_id, ItemScore.shown(k), ContentItem.retired_at.is_(None),
                   ItemScore.item_id.in_(item_ids)).order_by(ItemScore.item_id).limit(limit)))

    def unscored(self, community_id: int, k: int, limit: int) -> list[tuple[str | None, str, str]]:
        """(title, url, kind) of the community's items that everyone can know of, shared in chat or followed
        on its wiki, with no score shown yet, by title. Whether anyone rated one is not asked: an item listed
        for a rating or two would say that someone rated it, and when."""
        shown = select(ItemScore.item_id).where(ItemScore.item_id == ContentItem.id, ItemScore.shown(k))
        return [(t, u, kind) for t, u, kind in self.session.execute(
            select(ContentItem.title, ContentItem.url, ContentItem.kind)
            .where(ContentItem.community_id == community_id, ContentItem.retired_at.is_(None),
                   KNOWN_TO_ALL, ~shown.exists(), ContentItem.kind != "reflection")
            .order_by(func.coalesce(ContentItem.title, ContentItem.url), ContentItem.id).limit(limit))]

    def item_details(self, item_ids: list[int], *, current: bool = False) -> dict[int, tuple[str | None, str, str]]:
        """Item id to (title, url, kind); of items not retired only, if `current`."""
        if not item_ids:
            return {}
        query = select(ContentItem.id, ContentItem.title, ContentItem.url, ContentItem.kind).where(
            ContentItem.id.in_(item_ids))
        if current:
            query = query.where(ContentItem.retired_at.is_(None))
        return {i: (title, url, kind) for i, title, url, kind in self.session.execute(query)}

    def feedback(self, community_id: int, states: list[str], limit: int,
                 ) -> list[tuple[int, int, str, str | None, str, date]]:
        """(feedback id, item id, comment, reason, state, day written) of a community's feedback in these
        states, the open ones (new, planned) first, then newest first; never who wrote it or their stars."""
        is_open = case((Feedback.status.in_(OPEN_STATES), 0), else_=1)
        return [(int(f), int(i), comment, reason, state, created.date())
                for f, i, comment, reason, state, created in self.session.execute(
                    select(Feedback.id, Feedback.item_id, Feedback.comment, Feedback.reason, Feedback.status,
                           Feedback.created_at)
                    .where(Feedback.community_id == community_id, Feedback.status.in_(states))
                    .order_by(is_open, Feedback.created_at.desc()).limit(limit))]

    def feedback_counts(self, community_id: int) -> list[tuple[int, str, str | None, int]]:
        """(item id, state, reason, how many) over all of a community's feedback."""
        return [(int(i), state, reason, int(n)) for i, state, reason, n in self.session.execute(
            select(Feedback.item_id, Feedback.status, Feedback.reason, func.count())
            .where(Feedback.community_id == community_id)
            .group_by(Feedback.item_id, Feedback.status, Feedback.reason))]

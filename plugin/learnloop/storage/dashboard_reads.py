"""What a dashboard page reads: release blocks, weekly totals, distinct counts over released weeks, the
score index and the feedback list. Never the event log's history.

Each read is a Core statement built once and run on the unit of work's connection (`Repository.run`): a page
load opens no ORM Session, and its statements are compiled once per process."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from sqlalchemy import BindParameter, bindparam, case, func, select

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

_B, _W, _M = table_of(ReleaseBlock), table_of(WeeklyCount), table_of(WeeklyMember)
_I, _S, _F = table_of(ContentItem), table_of(ItemScore), table_of(Feedback)
_COMMUNITY: BindParameter[int] = bindparam("community_id")
_METRICS: BindParameter[list[str]] = bindparam("metrics", expanding=True)
_SHOWN = ItemScore.shown(bindparam("k"))
_BLOCKS = (select(_B.c.metric, _B.c.first_week, _B.c.last_week, _B.c.value, _B.c.people, _B.c.closed)
           .where(_B.c.community_id == _COMMUNITY, _B.c.metric.in_(_METRICS), _B.c.last_week >= bindparam("since"))
           .order_by(_B.c.metric, _B.c.first_week))
_WEEKLY = select(_W.c.week, _W.c.metric, _W.c.value).where(
    _W.c.community_id == _COMMUNITY, _W.c.metric.in_(_METRICS), _W.c.week >= bindparam("first"),
    _W.c.week <= bindparam("last"))
_DISTINCT = select(func.count(func.distinct(_M.c.member))).where(
    _M.c.community_id == _COMMUNITY, _M.c.metric == bindparam("metric"), _M.c.week >= bindparam("first"),
    _M.c.week <= bindparam("last"))
_RANKABLE = (select(_S.c.score, _S.c.ratings_count, _S.c.item_id).join(_I, _I.c.id == _S.c.item_id)
             .where(_S.c.community_id == _COMMUNITY, _SHOWN, _I.c.retired_at.is_(None), _I.c.kind != "reflection"))
_BEST_FIRST = (_S.c.score.desc(), _S.c.ratings_count.desc(), _S.c.item_id)
_TOP = _RANKABLE.order_by(*_BEST_FIRST).limit(bindparam("limit"))
_TOP_AMONG = (_RANKABLE.where(_S.c.item_id.in_(bindparam("item_ids", expanding=True))).order_by(*_BEST_FIRST)
              .limit(bindparam("limit")))
_SHOWN_AMONG = (select(_S.c.item_id).join(_I, _I.c.id == _S.c.item_id)
                .where(_S.c.community_id == _COMMUNITY, _SHOWN, _I.c.retired_at.is_(None),
                       _S.c.item_id.in_(bindparam("item_ids", expanding=True)))
                .order_by(_S.c.item_id).limit(bindparam("limit")))
_UNSCORED = (select(_I.c.title, _I.c.url, _I.c.kind)
             .where(_I.c.community_id == _COMMUNITY, _I.c.retired_at.is_(None), KNOWN_TO_ALL,
                    ~select(_S.c.item_id).where(_S.c.item_id == _I.c.id, _SHOWN).exists(), _I.c.kind != "reflection")
             .order_by(func.coalesce(_I.c.title, _I.c.url), _I.c.id).limit(bindparam("limit")))
_DETAILS = select(_I.c.id, _I.c.title, _I.c.url, _I.c.kind).where(_I.c.id.in_(bindparam("item_ids", expanding=True)))
_CURRENT_DETAILS = _DETAILS.where(_I.c.retired_at.is_(None))
_FEEDBACK = (select(_F.c.id, _F.c.item_id, _F.c.comment, _F.c.reason, _F.c.status, _F.c.created_at)
             .where(_F.c.community_id == _COMMUNITY, _F.c.status.in_(bindparam("states", expanding=True)))
             .order_by(case((_F.c.status.in_(OPEN_STATES), 0), else_=1), _F.c.created_at.desc())
             .limit(bindparam("limit")))
_FEEDBACK_COUNTS = (select(_F.c.item_id, _F.c.status, _F.c.reason, func.count()).where(_F.c.community_id == _COMMUNITY)
                    .group_by(_F.c.item_id, _F.c.status, _F.c.reason))


class DashboardReads(Repository):
    def blocks(self, community_id: int, metrics: list[str], since: date) -> dict[str, list[Block]]:
        """These measures' blocks that reach the week `since` or later (a figure from `since` on is a sum of
        whole blocks among them)."""
        found: dict[str, list[Block]] = {metric: [] for metric in metrics}
        for metric, first, last, value, people, closed in self.run(
                _BLOCKS, {"community_id": community_id, "metrics": metrics, "since": since}):
            found[metric].append(Block(first, last, value, people, closed))
        return found

    def weekly_values(self, community_id: int, metrics: list[str], first: date,
                      last: date) -> dict[str, dict[date, int]]:
        found: dict[str, dict[date, int]] = defaultdict(dict)
        for week, metric, value in self.run(
                _WEEKLY, {"community_id": community_id, "metrics": metrics, "first": first, "last": last}):
            found[metric][week] = int(value)
        return found

    def distinct_members(self, community_id: int, metric: str, first: date, last: date) -> int:
        return int(self.run(_DISTINCT, {"community_id": community_id, "metric": metric, "first": first,
                                        "last": last}).scalar() or 0)

    def top_scores(self, community_id: int, k: int, limit: int, item_ids: set[int] | None = None,
                   ) -> list[tuple[float, int, int]]:
        """(shown score, ratings, item) best first, of the community's items whose shown score at least k people
        stand behind, not retired, and not shared reflections (a colleague's own writing, never ranked against
        another's); only these items, if given."""
        params = {"community_id": community_id, "k": k, "limit": limit}
        if item_ids is None:
            rows = self.run(_TOP, params)
        else:
            rows = self.run(_TOP_AMONG, {**params, "item_ids": list(item_ids)})
        return [(float(score), int(n), int(i)) for score, n, i in rows]

    def shown_among(self, community_id: int, k: int, item_ids: set[int], limit: int) -> list[int]:
        """Which of these items of the community have a shown score at least k people stand behind, not retired,
        oldest first: in no order of merit."""
        return list(self.run(_SHOWN_AMONG, {"community_id": community_id, "k": k, "item_ids": list(item_ids),
                                            "limit": limit}).scalars())

    def unscored(self, community_id: int, k: int, limit: int) -> list[tuple[str | None, str, str]]:
        """(title, url, kind) of the community's items that everyone can know of, shared in chat or followed
        on its wiki, with no score shown yet, by title. Whether anyone rated one is not asked: an item listed
        for a rating or two would say that someone rated it, and when."""
        return [(t, u, kind) for t, u, kind in self.run(_UNSCORED, {"community_id": community_id, "k": k,
                                                                    "limit": limit})]

    def item_details(self, item_ids: list[int], *, current: bool = False) -> dict[int, tuple[str | None, str, str]]:
        """Item id to (title, url, kind); of items not retired only, if `current`."""
        if not item_ids:
            return {}
        return {i: (title, url, kind) for i, title, url, kind in self.run(
            _CURRENT_DETAILS if current else _DETAILS, {"item_ids": item_ids})}

    def feedback(self, community_id: int, states: list[str], limit: int,
                 ) -> list[tuple[int, int, str, str | None, str, date]]:
        """(feedback id, item id, comment, reason, state, day written) of a community's feedback in these
        states, the open ones (new, planned) first, then newest first; never who wrote it or their stars."""
        return [(int(f), int(i), comment, reason, state, created.date())
                for f, i, comment, reason, state, created in self.run(
                    _FEEDBACK, {"community_id": community_id, "states": states, "limit": limit})]

    def feedback_counts(self, community_id: int) -> list[tuple[int, str, str | None, int]]:
        """(item id, state, reason, how many) over all of a community's feedback."""
        return [(int(i), state, reason, int(n)) for i, state, reason, n in self.run(
            _FEEDBACK_COUNTS, {"community_id": community_id})]

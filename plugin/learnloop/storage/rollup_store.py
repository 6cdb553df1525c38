"""What the dashboards' fold reads from the event log and writes to the rollups: weekly totals, weekly
member sets (keyed hashes), release blocks and stored item scores."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import Double, Row, case, delete, func, literal, or_, select, update

from learnloop.domain.disclosure import Block, WeekFacts
from learnloop.domain.measures import week_of
from learnloop.domain.scores import Prior, shown
from learnloop.storage.repositories import Repository, dialect_insert, rowcount
from learnloop.storage.tables import (
    Community,
    ContentItem,
    Event,
    ItemScore,
    OutboxMessage,
    Rating,
    Reflection,
    ReleaseBlock,
    ScoreBasis,
    WeeklyCount,
    WeeklyMember,
    table_of,
)

_B, _S = table_of(ReleaseBlock), table_of(ItemScore)


@dataclass(frozen=True)
class Kept:
    """A reflection as the reflections' release blocks see it: the week it was written, its author, whether nobody
    else sees it now (kept private, or a wiki section that never got there) and whether it answered a prompt."""

    week: date
    user_id: str
    private: bool
    prompted: bool


@dataclass(frozen=True)
class Changes:
    """How many people changed an item's ratings since its score was shown, and what is shown."""

    item_id: int
    changed_by: int
    """The people who rated or re-rated it after the stored totals' `released_through`, or first rated it after their
    `counted_through` (all, if none are stored)."""
    ratings: int
    stored_ratings: int | None
    """How many ratings the stored totals hold, if any are stored."""
    counted: int
    """The ratings of the people the stored totals count (less those who erased theirs); 0 if none are stored."""
    counted_changed_by: int
    """Of those, the ones changed since the totals were stored."""


@dataclass(frozen=True)
class RatingFacts:
    """An item's ratings as they are now, with what is shown of them."""

    item_id: int
    community_id: int | None
    stars_sum: int
    ratings_count: int
    newest: datetime
    counted_through: datetime
    """Who the totals count: the people who rated the item by then (ItemScore.counted_through)."""
    shown: tuple[int, int] | None


def _score_of(prior: Prior) -> Any:
    """The score column for a prior, in SQL (domain.scores.bayesian_average)."""
    return (literal(prior.weight * prior.mean, Double) + _S.c.stars_sum) / \
        (literal(prior.weight, Double) + _S.c.ratings_count)


def _block(row: Any) -> Block:
    return Block(row.first_week, row.last_week, int(row.value), int(row.people), bool(row.closed))


class RollupStore(Repository):
    # -- the event log, read -----------------------------------------------------------------

    def events_after(self, after: int, recorded_before: datetime, limit: int) -> list[Row[Any]]:
        """Up to `limit` events past `after` in id order, stopping at the first one recorded after
        `recorded_before`. The cursor moves past what is returned, so it must not step over an event still
        settling: a request that read the clock first can take the next id after one that read it later."""
        rows = self.session.execute(
            select(Event.id, Event.kind, Event.occurred_at, Event.community_id, Event.actor_id, Event.item_id,
                   Event.data, Event.recorded_at)
            .where(Event.id > after).order_by(Event.id).limit(limit)).all()
        settled = next((n for n, row in enumerate(rows) if row.recorded_at > recorded_before), len(rows))
        return list(rows[:settled])

    def item_kinds(self, item_ids: set[int]) -> dict[int, str]:
        if not item_ids:
            return {}
        return {item: kind for item, kind in self.session.execute(
            select(ContentItem.id, ContentItem.kind).where(ContentItem.id.in_(item_ids)))}

    # -- weekly totals and member sets -------------------------------------------------------

    def add_counts(self, counts: dict[tuple[int, date, str], int]) -> None:
        if not counts:
            return
        table = table_of(WeeklyCount)
        statement = dialect_insert(self.tx)(table)
        self.session.execute(statement.on_conflict_do_update(
            index_elements=["community_id", "week", "metric"],
            set_={"value": table.c.value + statement.excluded.value}),
            [{"community_id": c, "week": w, "metric": m, "value": v} for (c, w, m), v in counts.items()])

    def add_members(self, members: set[tuple[int, date, str, str]]) -> None:
        if members:
            self.session.execute(dialect_insert(self.tx)(table_of(WeeklyMember)).on_conflict_do_nothing(), [
                {"community_id": c, "week": w, "metric": m, "member": who} for c, w, m, who in members])

    def forget_member(self, member: str, stand_in: Callable[[], str]) -> int:
        """`member` leaves every weekly member set; how many rows. In the weeks already released (covered by a
        closed block of their measure) a stand-in takes its place, so what was shown stays as shown: a new one
        (`stand_in()`) per community and measure, since one stand-in in every measure would tie the person's
        public acts (their replies, still in Mattermost) to their private ones. From the weeks not released yet
        it goes, so someone who erases and then acts again that week counts once."""
        members = table_of(WeeklyMember)
        released = select(_B.c.first_week).where(
            _B.c.community_id == members.c.community_id, _B.c.metric == members.c.metric, _B.c.closed.is_(True),
            _B.c.last_week >= members.c.week).exists()
        replaced = 0
        for community_id, metric in self.session.execute(
                select(members.c.community_id, members.c.metric).where(members.c.member == member, released)
                .distinct().order_by(members.c.community_id, members.c.metric)).all():
            replaced += rowcount(self.session.execute(
                update(members).where(members.c.member == member, members.c.community_id == community_id,
                                      members.c.metric == metric, released).values(member=stand_in())))
        return replaced + rowcount(self.session.execute(delete(members).where(members.c.member == member)))

    def first_week(self, community_id: int, metric: str) -> date | None:
        return self.session.scalar(select(func.min(WeeklyCount.week)).where(
            WeeklyCount.community_id == community_id, WeeklyCount.metric == metric))

    def week_facts(self, community_id: int, metric: str, since: date) -> list[WeekFacts]:
        """Each week's total and member set from `since` on (only weeks with anything)."""
        values = dict(self.session.execute(select(WeeklyCount.week, WeeklyCount.value).where(
            WeeklyCount.community_id == community_id, WeeklyCount.metric == metric, WeeklyCount.week >= since)).all())
        members: dict[date, set[str]] = defaultdict(set)
        for week, member in self.session.execute(select(WeeklyMember.week, WeeklyMember.member).where(
                WeeklyMember.community_id == community_id, WeeklyMember.metric == metric,
                WeeklyMember.week >= since)):
            members[week].add(member)
        return [WeekFacts(week, int(value), frozenset(members.get(week, ()))) for week, value in values.items()]

    def written_between(self, community_id: int, since: date, before: date) -> list[Kept]:
        """The community's reflections written from the week `since` until the week `before`, as they stand now."""
        r = table_of(Reflection)
        private = (r.c.visibility == "private") | (
            (r.c.visibility == "wiki") & r.c.publish_state.in_(("failed", "no_wiki_space")))
        return [Kept(week_of(created), user, bool(hidden), bool(prompted))
                for created, user, hidden, prompted in self.session.execute(
                    select(r.c.created_at, r.c.user_id, private, r.c.answered_prompt)
                    .where(r.c.community_id == community_id,
                           r.c.created_at >= datetime.combine(since, time(), tzinfo=UTC),
                           r.c.created_at < datetime.combine(before, time(), tzinfo=UTC)))]

    def oldest_unsent(self, key_prefixes: tuple[str, ...]) -> datetime | None:
        """When the oldest outbox message still to be sent whose key begins with one of these was queued."""
        o = table_of(OutboxMessage)
        return self.session.scalar(select(func.min(o.c.created_at)).where(
            o.c.status == "pending", or_(*(o.c.idempotency_key.startswith(prefix) for prefix in key_prefixes))))

    def totals(self, community_id: int, metric: str, first: date, last: date) -> tuple[int, int]:
        """(sum of the weekly totals, distinct members) over the weeks `first` to `last`."""
        value = self.session.scalar(select(func.coalesce(func.sum(WeeklyCount.value), 0)).where(
            WeeklyCount.community_id == community_id, WeeklyCount.metric == metric, WeeklyCount.week >= first,
            WeeklyCount.week <= last))
        people = self.session.scalar(select(func.count(func.distinct(WeeklyMember.member))).where(
            WeeklyMember.community_id == community_id, WeeklyMember.metric == metric, WeeklyMember.week >= first,
            WeeklyMember.week <= last))
        return int(value or 0), int(people or 0)

    def merge_weeks(self, source: int, target: int, metrics: list[str], after: date | None) -> set[date]:
        """Add the source's weekly totals and member sets of these measures into the target's, for the weeks
        after `after` (every week when None); the weeks added. Member sets are keyed hashes with the same key
        in every community, so their union is exact."""
        counts, members = table_of(WeeklyCount), table_of(WeeklyMember)
        chosen = [counts.c.community_id == source, counts.c.metric.in_(metrics)]
        if after is not None:
            chosen.append(counts.c.week > after)
        weeks = set(self.session.scalars(select(counts.c.week).where(*chosen).distinct()))
        if not weeks:
            return weeks
        target_id = literal(target, counts.c.community_id.type)
        statement = dialect_insert(self.tx)(counts).from_select(
            ["community_id", "week", "metric", "value"],
            select(target_id, counts.c.week, counts.c.metric, counts.c.value).where(*chosen))
        self.session.execute(statement.on_conflict_do_update(
            index_elements=["community_id", "week", "metric"],
            set_={"value": counts.c.value + statement.excluded.value}))
        picked = [members.c.community_id == source, members.c.metric.in_(metrics)]
        if after is not None:
            picked.append(members.c.week > after)
        self.session.execute(dialect_insert(self.tx)(members).from_select(
            ["community_id", "week", "metric", "member"],
            select(literal(target, members.c.community_id.type), members.c.week, members.c.metric, members.c.member)
            .where(*picked)).on_conflict_do_nothing())
        return weeks

    def move_rollups(self, source: int, target: int, metrics: list[str]) -> None:
        """The source's weekly totals, member sets and release blocks of these measures replace the target's."""
        for table in (table_of(WeeklyCount), table_of(WeeklyMember), _B):
            self.session.execute(delete(table).where(table.c.community_id == target, table.c.metric.in_(metrics)))
            self.session.execute(update(table).where(table.c.community_id == source, table.c.metric.in_(metrics))
                                 .values(community_id=target))

    def drop_community(self, community_id: int) -> None:
        """Every rollup of a community: its weekly totals and member sets, release blocks and stored scores."""
        for table in (WeeklyCount, WeeklyMember, ReleaseBlock, ItemScore, ScoreBasis):
            core = table_of(table)
            self.session.execute(delete(core).where(core.c.community_id == community_id))

    # -- release blocks ----------------------------------------------------------------------

    def blocks(self, community_id: int, metric: str) -> list[Block]:
        return [_block(row) for row in self.session.execute(select(_B).where(
            _B.c.community_id == community_id, _B.c.metric == metric).order_by(_B.c.first_week))]

    def replace_blocks(self, community_id: int, metric: str, since: date, blocks: list[Block]) -> None:
        """Blocks from `since` on are these (the open stretch re-cut); earlier ones stay."""
        self.session.execute(delete(_B).where(_B.c.community_id == community_id, _B.c.metric == metric,
                                              _B.c.first_week >= since))
        self.put_blocks(community_id, metric, blocks)

    def put_blocks(self, community_id: int, metric: str, blocks: list[Block]) -> None:
        """Insert or update blocks by their first week."""
        if not blocks:
            return
        statement = dialect_insert(self.tx)(_B)
        self.session.execute(statement.on_conflict_do_update(
            index_elements=["community_id", "metric", "first_week"],
            set_={name: getattr(statement.excluded, name) for name in ("last_week", "value", "people", "closed")}),
            [{"community_id": community_id, "metric": metric, "first_week": b.first, "last_week": b.last,
              "value": b.value, "people": b.people, "closed": b.closed} for b in blocks])

    def drop_blocks(self) -> None:
        self.session.execute(delete(_B))

    def released_through(self, community_ids: set[int]) -> dict[tuple[int, str], date]:
        """(community, measure) to the last week of its last closed block: every week up to it is released."""
        if not community_ids:
            return {}
        return {(c, m): last for c, m, last in self.session.execute(
            select(_B.c.community_id, _B.c.metric, func.max(_B.c.last_week))
            .where(_B.c.community_id.in_(community_ids), _B.c.closed.is_(True))
            .group_by(_B.c.community_id, _B.c.metric))}

    def open_blocks(self, metrics: list[str]) -> list[tuple[int, str, date]]:
        """(community, measure, first week) of the open block of each of these measures that has one."""
        return [(c, m, first) for c, m, first in self.session.execute(
            select(_B.c.community_id, _B.c.metric, _B.c.first_week).where(_B.c.metric.in_(metrics),
                                                                          _B.c.closed.is_(False)))]

    def block_measures(self) -> list[tuple[int, str]]:
        """Every (community, measure) with weekly totals."""
        return [(c, m) for c, m in self.session.execute(
            select(WeeklyCount.community_id, WeeklyCount.metric).distinct())]

    # -- shown item scores -------------------------------------------------------------------

    def changes(self, item_ids: set[int]) -> list[Changes]:
        """How many people changed each of these items' ratings since its totals were stored (all its raters,
        where they never were), and how many rate it, in all and among the people the totals count; items not
        retired only. Each count is a range of `ix_ratings_item_changed` or `ix_ratings_item_created` (an OR of
        the two, or a `<=` bound, would read every rating of the item), combined by inclusion-exclusion."""
        if not item_ids:
            return []
        r, i = table_of(Rating), table_of(ContentItem)
        counted = select(func.count()).select_from(r).where(r.c.item_id == i.c.id)
        every = counted.scalar_subquery()
        updated = counted.where(r.c.updated_at > _S.c.released_through).scalar_subquery()
        newcomers = counted.where(r.c.created_at > _S.c.counted_through)
        new_and_updated = newcomers.where(r.c.updated_at > _S.c.released_through).scalar_subquery()
        since = case((_S.c.released_through.is_(None), every),
                     else_=updated + newcomers.scalar_subquery() - new_and_updated)
        of_counted = case((_S.c.counted_through.is_(None), 0), else_=every - newcomers.scalar_subquery())
        rows = self.session.execute(
            select(i.c.id, since, every, _S.c.ratings_count, of_counted, updated - new_and_updated)
            .outerjoin(_S, _S.c.item_id == i.c.id).where(i.c.id.in_(item_ids), i.c.retired_at.is_(None)))
        return [Changes(int(item), int(changed), int(ratings), None if count is None else int(count), int(kept),
                        int(kept_changed)) for item, changed, ratings, count, kept, kept_changed in rows]

    def rating_facts(self, item_ids: set[int], counted_only: Collection[int]) -> list[RatingFacts]:
        """The totals of these items' ratings as they are now, with what is shown of them; of `counted_only` those
        of the people their stored totals count."""
        if not item_ids and not counted_only:
            return []
        r, i = table_of(Rating), table_of(ContentItem)
        newest = func.max(r.c.updated_at)
        rows = self.session.execute(
            select(r.c.item_id, i.c.community_id, func.sum(r.c.stars), func.count(), newest,
                   case((r.c.item_id.in_(counted_only), _S.c.counted_through), else_=newest),
                   _S.c.stars_sum, _S.c.ratings_count)
            .join(i, i.c.id == r.c.item_id).outerjoin(_S, _S.c.item_id == r.c.item_id)
            .where(or_(r.c.item_id.in_(item_ids),
                       r.c.item_id.in_(counted_only) & (r.c.created_at <= _S.c.counted_through)))
            .group_by(r.c.item_id, i.c.community_id, _S.c.stars_sum, _S.c.ratings_count, _S.c.counted_through))
        return [RatingFacts(int(item), community, int(stars), int(count), newest, through,
                            None if shown_count is None else (int(shown_stars), int(shown_count)))
                for item, community, stars, count, newest, through, shown_stars, shown_count in rows]

    def release(self, facts: list[RatingFacts], k: int, now: datetime) -> None:
        """These items' totals are shown from now on, scored later (`score_released`); the totals shown before,
        if k or more people stood behind them, become the ones before."""
        if not facts:
            return
        before = {f.item_id: f.shown if f.shown and shown(f.shown[1], k) else (None, None) for f in facts}
        statement = dialect_insert(self.tx)(_S)
        self.session.execute(statement.on_conflict_do_update(
            index_elements=["item_id"], set_={name: getattr(statement.excluded, name) for name in (
                "stars_sum", "ratings_count", "released_through", "counted_through", "released_at",
                "before_stars_sum", "before_ratings_count")}),
            [{"item_id": f.item_id, "community_id": f.community_id, "stars_sum": f.stars_sum,
              "ratings_count": f.ratings_count, "score": 0.0, "released_through": f.newest,
              "counted_through": f.counted_through, "released_at": now,
              "before_stars_sum": before[f.item_id][0], "before_ratings_count": before[f.item_id][1]}
             for f in facts])

    def shown_totals(self, community_ids: set[int], k: int) -> dict[int, tuple[int, int]]:
        """Community to the sums of its items' shown totals (those at least k people stand behind): what its
        prior comes from, so it too moves only when a shown score does."""
        if not community_ids:
            return {}
        found = {c: (int(stars), int(count)) for c, stars, count in self.session.execute(
            select(_S.c.community_id, func.sum(_S.c.stars_sum), func.sum(_S.c.ratings_count))
            .where(_S.c.community_id.in_(community_ids), ItemScore.shown(k)).group_by(_S.c.community_id))}
        return {c: found.get(c, (0, 0)) for c in community_ids}

    def rated_items(self) -> list[int]:
        return list(self.session.scalars(select(Rating.item_id).distinct().order_by(Rating.item_id)))

    def unscored_communities(self) -> set[int]:
        """Communities with stored scores and no stored basis for them (after an upgrade)."""
        based = select(ScoreBasis.community_id).where(ScoreBasis.community_id == Community.id)
        scored = select(_S.c.item_id).where(_S.c.community_id == Community.id)
        return set(self.session.scalars(select(Community.id).where(~based.exists(), scored.exists())))

    def score_bases(self, community_ids: set[int]) -> dict[int, float]:
        return {c: float(m) for c, m in self.session.execute(
            select(ScoreBasis.community_id, ScoreBasis.prior_mean).where(ScoreBasis.community_id.in_(community_ids)))}

    def score_released(self, item_ids: set[int], basis: Prior) -> None:
        """These items' scores computed with their community's stored basis."""
        if not item_ids:
            return
        self.session.execute(update(_S).where(_S.c.item_id.in_(item_ids)).values(score=_score_of(basis)))

    def rebase_scores(self, community_id: int, prior: Prior, now: datetime) -> None:
        """Every shown score of the community computed again with its prior as it is now, kept as its basis."""
        self.session.execute(update(_S).where(_S.c.community_id == community_id).values(score=_score_of(prior)))
        statement = dialect_insert(self.tx)(table_of(ScoreBasis)).values(
            community_id=community_id, prior_mean=prior.mean, updated_at=now)
        self.session.execute(statement.on_conflict_do_update(
            index_elements=["community_id"], set_={"prior_mean": statement.excluded.prior_mean,
                                                   "updated_at": statement.excluded.updated_at}))

    def move_scores(self, item_ids: set[int], community_id: int) -> set[int | None]:
        """These items' shown scores now count in another community; the communities they counted in."""
        if not item_ids:
            return set()
        left = set(self.session.scalars(select(_S.c.community_id).where(_S.c.item_id.in_(item_ids)).distinct()))
        self.session.execute(update(_S).where(_S.c.item_id.in_(item_ids)).values(community_id=community_id))
        return left

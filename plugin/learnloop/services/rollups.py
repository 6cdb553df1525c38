"""Weekly rollups maintained from the event log, so a dashboard never rescans history.

The worker folds new events (after the `rollups` cursor) into weekly totals and weekly member
sets; people enter those sets only as keyed hashes, enough to count distinct people. In the same
transaction it keeps what a page would otherwise count or sort over the whole catalogue: each
week's distinct members, the distinct members of the fixed periods (the last 4 and 12 weeks), and
the scores of the items rated, in an index by score."""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Double, delete, func, literal, select, update

from learnloop.domain.scores import Prior, bayesian_average, community_prior, needs_rebase
from learnloop.storage.repositories import dialect_insert
from learnloop.storage.tables import (
    Community,
    ContentItem,
    Event,
    ItemScore,
    PeriodMember,
    ScoreBasis,
    WeeklyCount,
    WeeklyMember,
)
from learnloop.storage.unit_of_work import UnitOfWork

CURSOR = "rollups"
BATCH = 5000
SETTLE = timedelta(seconds=30)
"""Events younger than this wait for the next pass: on PostgreSQL a smaller id can commit after a
larger one, and the cursor must never step over an event that is still to come."""

PEOPLE_METRICS = frozenset({
    "ratings", "links_shared", "posts", "replies", "mentions", "reflections", "reflections_shared",
    "reflections_published", "prompts_sent", "prompts_answered",
})
"""Measures that describe what people did: shown only when at least k distinct people stand behind them."""
DISTINCT_THINGS = frozenset({"items_rated", "threads"})
"""Measures that count distinct things (items, threads), read from the member sets, not summed per week."""
MEMBER_METRICS = sorted(PEOPLE_METRICS | DISTINCT_THINGS)
"""Every measure with a member set."""
FIXED_PERIOD_WEEKS = (4, 12)
"""The page's fixed periods, whose distinct members the worker keeps (a custom period counts them)."""


def week_of(moment: datetime) -> date:
    day = moment.date()
    return day - timedelta(days=day.weekday())


def last_weeks(today: date, weeks: int) -> list[date]:
    """The weeks (Mondays) of the last `weeks` weeks up to and including today's."""
    this_week = today - timedelta(days=today.weekday())
    return [this_week - timedelta(weeks=n) for n in range(weeks - 1, -1, -1)]


@functools.lru_cache(maxsize=8192)
def member_key(user_id: str, key: bytes) -> str:
    return hmac.new(key, user_id.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


@dataclass(frozen=True)
class Contribution:
    metric: str
    member: str | None = None


class EventFacts(Protocol):
    """What a fold reads of an event: an Event, or a row of its columns."""

    kind: str
    actor_id: str | None
    item_id: int | None
    data: dict[str, Any] | None


def contributions(event: EventFacts, item_kind: str | None, key: bytes) -> list[Contribution]:
    person = member_key(event.actor_id, key) if event.actor_id else None
    data = event.data or {}
    kind = event.kind
    if kind == "rating":
        found = [Contribution("ratings", person), Contribution("items_rated", f"item:{event.item_id}")]
        if item_kind == "reflection" and data.get("previous") is None:
            found.append(Contribution("reflection_ratings"))
        return found
    if kind == "reply":
        return [Contribution("replies", person), Contribution("threads", f"root:{data.get('root_id')}")]
    if kind == "reflection":
        found = [Contribution("reflections", person)]
        if data.get("answered_prompt"):
            found.append(Contribution("prompts_answered", person))
        return found
    simple = {"link_shared": "links_shared", "chat_post": "posts", "mention": "mentions",
              "reflection_shared": "reflections_shared", "reflection_published": "reflections_published",
              "prompt_sent": "prompts_sent", "wiki_page_created": "new_pages", "wiki_page_updated": "page_updates"}
    metric = simple.get(kind)
    if metric is None:
        return []
    return [Contribution(metric, person if metric in PEOPLE_METRICS else None)]


def _insert(uow: UnitOfWork) -> Callable[..., Any]:
    return dialect_insert(uow.session.connection().dialect.name)


def _upsert_counts(uow: UnitOfWork, counts: dict[tuple[int, date, str], int]) -> None:
    if not counts:
        return
    connection = uow.session.connection()
    insert = _insert(uow)
    table = WeeklyCount.__table__
    rows = [{"community_id": c, "week": w, "metric": m, "value": v} for (c, w, m), v in counts.items()]
    statement = insert(table).values(rows)
    statement = statement.on_conflict_do_update(
        index_elements=["community_id", "week", "metric"], set_={"value": table.c.value + statement.excluded.value})
    connection.execute(statement)


def _insert_members(uow: UnitOfWork, members: set[tuple[int, date, str, str]]) -> None:
    if not members:
        return
    rows = [{"community_id": c, "week": w, "metric": m, "member": who} for c, w, m, who in members]
    uow.session.connection().execute(_insert(uow)(WeeklyMember.__table__).on_conflict_do_nothing(), rows)


def _recount_members(uow: UnitOfWork, weeks: dict[int, set[date]]) -> None:
    """Each touched week's distinct members, counted again from its member sets (exact however often
    a member comes back)."""
    members = WeeklyMember.__table__
    counts = WeeklyCount.__table__
    counted = select(func.count()).select_from(members).where(
        members.c.community_id == counts.c.community_id, members.c.week == counts.c.week,
        members.c.metric == counts.c.metric).scalar_subquery()
    connection = uow.session.connection()
    for community_id, touched in weeks.items():
        connection.execute(update(counts).where(counts.c.community_id == community_id, counts.c.week.in_(touched))
                           .values(members=counted))


def distinct_members(uow: UnitOfWork, community_id: int, weeks: list[date]) -> dict[str, int]:
    """Distinct members per measure over some weeks, counted from the member sets."""
    return {metric: int(count) for metric, count in uow.session.execute(
        select(WeeklyMember.metric, func.count(func.distinct(WeeklyMember.member)))
        .where(WeeklyMember.community_id == community_id, WeeklyMember.week.in_(weeks),
               WeeklyMember.metric.in_(MEMBER_METRICS))
        .group_by(WeeklyMember.metric)).all()}


def store_period_members(uow: UnitOfWork, community_id: int, today: date) -> None:
    """Replace a community's stored periods by today's fixed periods, every measure counted (zeros too,
    so that a stored period is known to be complete)."""
    uow.session.execute(delete(PeriodMember).where(PeriodMember.community_id == community_id))
    rows = []
    for size in FIXED_PERIOD_WEEKS:
        weeks = last_weeks(today, size)
        found = distinct_members(uow, community_id, weeks)
        rows += [{"community_id": community_id, "first_week": weeks[0], "weeks": size, "metric": metric,
                  "value": found.get(metric, 0)} for metric in MEMBER_METRICS]
    uow.session.connection().execute(PeriodMember.__table__.insert(), rows)


def _refresh_periods(uow: UnitOfWork, weeks: dict[int, set[date]], today: date) -> None:
    """After a fold: recount the stored periods of every community whose new members fall in them,
    or in today's fixed periods, so that no stored period is ever behind its member sets."""
    stored = dict(uow.session.execute(
        select(PeriodMember.community_id, func.min(PeriodMember.first_week))
        .where(PeriodMember.community_id.in_(weeks)).group_by(PeriodMember.community_id)).all())
    current = last_weeks(today, max(FIXED_PERIOD_WEEKS))[0]
    for community_id, touched in weeks.items():
        start = min(current, stored.get(community_id, current))
        if max(touched) >= start:
            store_period_members(uow, community_id, today)


def rebase_scores(uow: UnitOfWork, community_id: int, prior: Prior, now: datetime) -> None:
    """Every rated item's score recomputed with the community's prior as it is now."""
    connection = uow.session.connection()
    scores, items = ItemScore.__table__, ContentItem.__table__
    connection.execute(delete(scores).where(scores.c.community_id == community_id))
    score = (literal(prior.weight * prior.mean, Double) + items.c.stars_sum) / \
        (literal(prior.weight, Double) + items.c.ratings_count)
    connection.execute(scores.insert().from_select(
        ["item_id", "community_id", "stars_sum", "ratings_count", "score"],
        select(items.c.id, items.c.community_id, items.c.stars_sum, items.c.ratings_count, score)
        .where(items.c.community_id == community_id, items.c.ratings_count > 0)))
    insert = _insert(uow)
    statement = insert(ScoreBasis.__table__).values(community_id=community_id, prior_mean=prior.mean, updated_at=now)
    connection.execute(statement.on_conflict_do_update(
        index_elements=["community_id"], set_={"prior_mean": statement.excluded.prior_mean,
                                               "updated_at": statement.excluded.updated_at}))


def _refresh_scores(uow: UnitOfWork, rated: dict[int, tuple[int, int, int]], now: datetime) -> None:
    """The stored scores of the items rated in this batch (`rated`: item id -> community, stars, count,
    as the items hold them now); all of a community's when its mean has drifted from the stored basis."""
    communities = {community_id for community_id, _, _ in rated.values()}
    if not communities:
        return
    totals = {c: community_prior(stars, count) for c, stars, count in uow.session.execute(
        select(Community.id, Community.stars_sum, Community.ratings_count).where(Community.id.in_(communities)))}
    bases = dict(uow.session.execute(
        select(ScoreBasis.community_id, ScoreBasis.prior_mean).where(ScoreBasis.community_id.in_(communities))).all())
    stored = {item: (stars, count) for item, stars, count in uow.session.execute(
        select(ItemScore.item_id, ItemScore.stars_sum, ItemScore.ratings_count).where(ItemScore.item_id.in_(rated)))}
    rows = []
    for community_id in communities:
        prior = totals[community_id]
        if needs_rebase(bases.get(community_id), prior.mean):
            rebase_scores(uow, community_id, prior, now)
            continue
        basis = Prior(bases[community_id], prior.weight)
        rows += [{"item_id": item, "community_id": c, "stars_sum": stars, "ratings_count": count,
                  "score": bayesian_average(stars, count, basis)}
                 for item, (c, stars, count) in rated.items()
                 if c == community_id and count > 0 and stored.get(item) != (stars, count)]
    if rows:
        insert = _insert(uow)
        statement = insert(ItemScore.__table__).values(rows)
        uow.session.connection().execute(statement.on_conflict_do_update(
            index_elements=["item_id"], set_={name: getattr(statement.excluded, name)
                                              for name in ("stars_sum", "ratings_count", "score")}))


@dataclass(frozen=True)
class Fold:
    """What a batch of new events adds to the rollups, worked out from the event log alone (it is
    append-only), so without the write lock; `apply_fold` then writes it."""

    after: int  # the cursor the batch starts after
    last: int  # the last event id in it
    size: int
    counts: dict[tuple[int, date, str], int]
    members: set[tuple[int, date, str, str]]
    rated: dict[int, tuple[int, int, int]]  # item id -> community, stars, count, as read


def read_fold(uow: UnitOfWork, key: bytes, now: datetime, *, batch: int = BATCH) -> Fold | None:
    """Up to `batch` events past the cursor, folded in memory; None when there are none."""
    after = int(uow.cursors.get(CURSOR) or 0)
    events = uow.session.execute(
        select(Event.id, Event.kind, Event.occurred_at, Event.community_id, Event.actor_id, Event.item_id, Event.data)
        .where(Event.id > after, Event.recorded_at <= now - SETTLE).order_by(Event.id).limit(batch)).all()
    if not events:
        return None
    item_ids = {event.item_id for event in events if event.kind == "rating" and event.item_id}
    items = {item: (kind, community, stars, count) for item, kind, community, stars, count in uow.session.execute(
        select(ContentItem.id, ContentItem.kind, ContentItem.community_id, ContentItem.stars_sum,
               ContentItem.ratings_count).where(ContentItem.id.in_(item_ids)))} if item_ids else {}
    kinds = {item: kind for item, (kind, _, _, _) in items.items()}
    counts: dict[tuple[int, date, str], int] = defaultdict(int)
    members: set[tuple[int, date, str, str]] = set()
    for event in events:
        if event.community_id is None:
            continue
        week = week_of(event.occurred_at)
        for part in contributions(event, kinds.get(event.item_id), key):
            counts[(event.community_id, week, part.metric)] += 1
            if part.member:
                members.add((event.community_id, week, part.metric, part.member))
    rated = {item: (community, stars, count) for item, (_, community, stars, count) in items.items()
             if community is not None}
    return Fold(after, events[-1].id, len(events), dict(counts), members, rated)


def apply_fold(uow: UnitOfWork, fold: Fold, now: datetime) -> bool:
    """Write a fold and move the cursor past it, in one transaction; False (nothing written) when the
    cursor has moved since the fold was read, as when another worker folded the same events."""
    if int(uow.cursors.get(CURSOR) or 0) != fold.after:
        return False
    _upsert_counts(uow, fold.counts)
    _insert_members(uow, fold.members)
    weeks: dict[int, set[date]] = defaultdict(set)
    for community_id, week, _, _ in fold.members:
        weeks[community_id].add(week)
    _recount_members(uow, weeks)
    _refresh_periods(uow, weeks, now.date())
    _refresh_scores(uow, fold.rated, now)
    uow.cursors.move(CURSOR, str(fold.last), now)
    uow.commit()
    return True


def fold_new_events(uow: UnitOfWork, key: bytes, now: datetime, *, batch: int = BATCH) -> int:
    """Fold up to `batch` events past the cursor into the rollups, in one transaction with the cursor."""
    fold = read_fold(uow, key, now, batch=batch)
    return fold.size if fold is not None and apply_fold(uow, fold, now) else 0


def fold_all(uow_factory: Callable[[], UnitOfWork], key: bytes, now: datetime,
             reader: Callable[[], UnitOfWork] | None = None) -> int:
    """Fold every settled event. With `reader` (a unit of work that only reads), each batch is read and
    worked out before the write transaction begins, so on SQLite the writer lock, which every rating
    waits for, is held only while the fold is written."""
    total = 0
    while True:
        with (reader or uow_factory)() as uow:
            fold = read_fold(uow, key, now)
        if fold is None:
            return total
        with uow_factory() as uow:
            applied = apply_fold(uow, fold, now)
        if applied:
            total += fold.size
            if fold.size < BATCH:
                return total


def keep_current(uow: UnitOfWork, now: datetime) -> None:
    """What the fold keeps, brought up to date where no new event does it: each active community's
    fixed periods once a new week begins, and the stored scores of communities rated before they
    were kept (after an upgrade)."""
    today = now.date()
    first = last_weeks(today, max(FIXED_PERIOD_WEEKS))[0]
    active = set(uow.session.scalars(select(WeeklyCount.community_id).where(WeeklyCount.week >= first).distinct()))
    current = set(uow.session.scalars(select(PeriodMember.community_id).where(
        PeriodMember.first_week == first, PeriodMember.weeks == max(FIXED_PERIOD_WEEKS)).distinct()))
    for community_id in sorted(active - current):
        store_period_members(uow, community_id, today)
    unscored = uow.session.execute(
        select(Community.id, Community.stars_sum, Community.ratings_count)
        .outerjoin(ScoreBasis, ScoreBasis.community_id == Community.id)
        .where(ScoreBasis.community_id.is_(None), Community.ratings_count > 0)).all()
    for community_id, stars, count in unscored:
        rebase_scores(uow, community_id, community_prior(stars, count), now)
    uow.commit()


def weeks_between(first: date, last: date) -> Iterable[date]:
    week = first - timedelta(days=first.weekday())
    while week <= last:
        yield week
        week += timedelta(days=7)

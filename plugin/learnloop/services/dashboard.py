"""A community's dashboard: read from the weekly rollups, every people figure held to k."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import func, select

from learnloop.domain.learning_metrics import Stage, from_each_other_share, maturity, response_rate
from learnloop.domain.privacy import Figure, guarded
from learnloop.domain.scores import community_prior
from learnloop.services.rollups import PEOPLE_METRICS, weeks_between
from learnloop.storage.tables import ContentItem, Feedback, WeeklyCount, WeeklyMember
from learnloop.storage.unit_of_work import UnitOfWork

TOP_CONTENT = 10
SHOWN_METRICS = (
    "ratings", "items_rated", "links_shared", "new_pages", "page_updates", "threads", "replies", "mentions",
    "reflections", "reflections_shared", "reflections_published", "reflection_ratings", "prompts_sent",
    "prompts_answered",
)
PEOPLE_BEHIND = {"items_rated": "ratings", "threads": "replies", "reflection_ratings": "ratings"}
DISTINCT_THINGS = frozenset({"items_rated", "threads"})
"""Measures that count distinct things (items, threads), read from the member sets, not summed per week."""
COUNTED_MEMBERS = sorted(PEOPLE_METRICS | DISTINCT_THINGS)
"""Only the member sets a page reads are counted."""
"""Content counts that still come from people: they are held to k by the people behind them."""


@dataclass(frozen=True)
class Period:
    first: date
    last: date

    @property
    def weeks(self) -> list[date]:
        return list(weeks_between(self.first, self.last))

    @classmethod
    def last_weeks(cls, today: date, weeks: int) -> Period:
        this_week = today - timedelta(days=today.weekday())
        return cls(this_week - timedelta(weeks=weeks - 1), today)


@dataclass(frozen=True)
class TopItem:
    title: str
    url: str
    kind: str
    score: float
    ratings: int


@dataclass(frozen=True)
class FeedbackEntry:
    id: int
    url: str
    title: str | None
    stars: int
    comment: str
    created: date


@dataclass
class Dashboard:
    community_id: int
    period: Period
    k: int
    totals: dict[str, Figure]
    weekly: dict[date, dict[str, Figure]]
    from_each_other: Figure
    weekly_from_each_other: dict[date, Figure]
    response_rate: Figure
    reflection_split: dict[str, Figure]
    stage: Stage
    top: list[TopItem] = field(default_factory=list)
    feedback: list[FeedbackEntry] = field(default_factory=list)


def _totals(uow: UnitOfWork, community_id: int, period: Period) -> tuple[dict[str, int], dict[str, int]]:
    weeks = period.weeks
    sums = dict(uow.session.execute(
        select(WeeklyCount.metric, func.sum(WeeklyCount.value))
        .where(WeeklyCount.community_id == community_id, WeeklyCount.week.in_(weeks))
        .group_by(WeeklyCount.metric)).all())
    people = dict(uow.session.execute(
        select(WeeklyMember.metric, func.count(func.distinct(WeeklyMember.member)))
        .where(WeeklyMember.community_id == community_id, WeeklyMember.week.in_(weeks),
               WeeklyMember.metric.in_(COUNTED_MEMBERS))
        .group_by(WeeklyMember.metric)).all())
    return {m: int(v or 0) for m, v in sums.items()}, {m: int(v) for m, v in people.items()}


def _weekly(uow: UnitOfWork, community_id: int, period: Period) -> tuple[dict, dict]:
    weeks = period.weeks
    values: dict[date, dict[str, int]] = {week: {} for week in weeks}
    for week, metric, value in uow.session.execute(
            select(WeeklyCount.week, WeeklyCount.metric, WeeklyCount.value)
            .where(WeeklyCount.community_id == community_id, WeeklyCount.week.in_(weeks))):
        values[week][metric] = int(value)
    people: dict[date, dict[str, int]] = {week: {} for week in weeks}
    for week, metric, count in uow.session.execute(
            select(WeeklyMember.week, WeeklyMember.metric, func.count())
            .where(WeeklyMember.community_id == community_id, WeeklyMember.week.in_(weeks),
                   WeeklyMember.metric.in_(COUNTED_MEMBERS))
            .group_by(WeeklyMember.week, WeeklyMember.metric)):
        people[week][metric] = int(count)
    return values, people


def _figure(metric: str, values: dict[str, int], people: dict[str, int], k: int) -> Figure:
    value = people.get(metric, 0) if metric in DISTINCT_THINGS else values.get(metric, 0)
    behind = PEOPLE_BEHIND.get(metric, metric)
    if behind in PEOPLE_METRICS:
        return guarded(value, people.get(behind, 0), k)
    return Figure(value, None, k)


def _split_figure(values: dict[str, int], people: dict[str, int], k: int) -> Figure:
    share = from_each_other_share(values)
    contributors = max(people.get(m, 0) for m in ("ratings", "links_shared", "replies", "mentions",
                                                  "reflections_shared"))
    if share is None:
        return Figure(None, None, k) if contributors < k else Figure(0.0, contributors, k)
    return guarded(share * 100, contributors, k)


def top_content(uow: UnitOfWork, community_id: int) -> list[TopItem]:
    community = uow.communities.get(community_id)
    prior = community_prior(community.stars_sum if community else 0, community.ratings_count if community else 0)
    score = (prior.weight * prior.mean + ContentItem.stars_sum) / (prior.weight + ContentItem.ratings_count)
    rows = uow.session.execute(
        select(ContentItem.title, ContentItem.url, ContentItem.kind, score.label("score"), ContentItem.ratings_count)
        .where(ContentItem.community_id == community_id, ContentItem.ratings_count > 0)
        .order_by(score.desc(), ContentItem.ratings_count.desc()).limit(TOP_CONTENT)).all()
    return [TopItem(title or url, url, kind, float(s), int(n)) for title, url, kind, s, n in rows]


def open_feedback(uow: UnitOfWork, community_id: int, limit: int = 50) -> list[FeedbackEntry]:
    rows = uow.session.execute(
        select(Feedback.id, ContentItem.url, ContentItem.title, Feedback.stars, Feedback.comment, Feedback.created_at)
        .join(ContentItem, ContentItem.id == Feedback.item_id)
        .where(Feedback.community_id == community_id, Feedback.status == "open")
        .order_by(Feedback.created_at.desc()).limit(limit)).all()
    return [FeedbackEntry(i, u, t, s, c, created.date()) for i, u, t, s, c, created in rows]


def triage(uow: UnitOfWork, community_id: int, feedback_id: int, status: str) -> bool:
    """Resolve or hide one feedback item of this community; False if it is not one of its own."""
    if status not in ("resolved", "hidden", "open"):
        raise ValueError(f"'{status}' is not a feedback status")
    row = uow.session.get(Feedback, feedback_id)
    if row is None or row.community_id != community_id:
        return False
    row.status = status
    uow.commit()
    return True


def build(uow: UnitOfWork, community_id: int, period: Period, k: int) -> Dashboard:
    values, people = _totals(uow, community_id, period)
    weekly_values, weekly_people = _weekly(uow, community_id, period)
    totals = {metric: _figure(metric, values, people, k) for metric in SHOWN_METRICS}
    weekly = {week: {metric: _figure(metric, weekly_values[week], weekly_people[week], k)
                     for metric in SHOWN_METRICS} for week in period.weeks}
    rate = response_rate(values.get("prompts_sent", 0), values.get("prompts_answered", 0))
    reflections = values.get("reflections", 0)
    shared, published = values.get("reflections_shared", 0), values.get("reflections_published", 0)
    reflectors = people.get("reflections", 0)
    split = {
        "private": guarded(max(0, reflections - shared - published), reflectors, k),
        "shared": guarded(shared, reflectors, k),
        "published": guarded(published, reflectors, k),
    }
    return Dashboard(
        community_id=community_id, period=period, k=k, totals=totals, weekly=weekly,
        from_each_other=_split_figure(values, people, k),
        weekly_from_each_other={week: _split_figure(weekly_values[week], weekly_people[week], k)
                                for week in period.weeks},
        response_rate=guarded(rate * 100, people.get("prompts_answered", 0), k) if rate is not None
        else Figure(None, None, k),
        reflection_split=split,
        stage=maturity(people, values, len(period.weeks), k),
        top=top_content(uow, community_id),
        feedback=open_feedback(uow, community_id),
    )

"""A community's dashboard: read from the weekly rollups, every people figure held to k."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import func, select

from learnloop.domain.learning_metrics import Stage, from_each_other_share, maturity, response_rate
from learnloop.domain.privacy import Figure, guarded
from learnloop.domain.scores import Prior, bayesian_average, community_prior, ranking_settled, score_drift
from learnloop.services.rollups import CURSOR, DISTINCT_THINGS, PEOPLE_METRICS, distinct_members, weeks_between
from learnloop.storage.tables import ContentItem, Event, Feedback, ItemScore, PeriodMember, ScoreBasis, WeeklyCount
from learnloop.storage.unit_of_work import UnitOfWork

TOP_CONTENT = 10
UNFOLDED_RATINGS = 2000
"""Beyond this many ratings not folded yet (the worker is behind), top content sorts every rated item."""
SHOWN_METRICS = (
    "ratings", "items_rated", "links_shared", "new_pages", "page_updates", "threads", "replies", "mentions",
    "reflections", "reflections_shared", "reflections_published", "reflection_ratings", "prompts_sent",
    "prompts_answered",
)
PEOPLE_BEHIND = {"items_rated": "ratings", "threads": "replies", "reflection_ratings": "ratings"}
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


def _weekly(uow: UnitOfWork, community_id: int, period: Period) -> tuple[dict, dict]:
    """Each week's values and distinct members, as the fold keeps them."""
    weeks = period.weeks
    values: dict[date, dict[str, int]] = {week: {} for week in weeks}
    people: dict[date, dict[str, int]] = {week: {} for week in weeks}
    for week, metric, value, members in uow.session.execute(
            select(WeeklyCount.week, WeeklyCount.metric, WeeklyCount.value, WeeklyCount.members)
            .where(WeeklyCount.community_id == community_id, WeeklyCount.week.in_(weeks))):
        values[week][metric] = int(value)
        people[week][metric] = int(members)
    return values, people


def _totals(uow: UnitOfWork, community_id: int, period: Period,
            weekly_values: dict[date, dict[str, int]]) -> tuple[dict[str, int], dict[str, int]]:
    """The period's sums (from the weeks) and distinct members: stored by the worker for the fixed
    periods, counted from the member sets for any other."""
    sums: dict[str, int] = {}
    for week in weekly_values.values():
        for metric, value in week.items():
            sums[metric] = sums.get(metric, 0) + value
    weeks = period.weeks
    stored = dict(uow.session.execute(
        select(PeriodMember.metric, PeriodMember.value).where(
            PeriodMember.community_id == community_id, PeriodMember.first_week == weeks[0],
            PeriodMember.weeks == len(weeks))).all())
    people = {m: int(v) for m, v in stored.items()} if stored else distinct_members(uow, community_id, weeks)
    return sums, people


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


Ranked = tuple[float, int, int]
"""(score, ratings, item id): ranked by score, then ratings, then the oldest item first."""


def _rank(found: list[Ranked]) -> list[Ranked]:
    return sorted(found, key=lambda r: (-r[0], -r[1], r[2]))


def _sorted_scan(uow: UnitOfWork, community_id: int, prior: Prior) -> list[Ranked]:
    """Every rated item scored and sorted: what the stored scores spare a page."""
    score = (prior.weight * prior.mean + ContentItem.stars_sum) / (prior.weight + ContentItem.ratings_count)
    rows = uow.session.execute(
        select(ContentItem.stars_sum, ContentItem.ratings_count, ContentItem.id)
        .where(ContentItem.community_id == community_id, ContentItem.ratings_count > 0)
        .order_by(score.desc(), ContentItem.ratings_count.desc(), ContentItem.id).limit(TOP_CONTENT)).all()
    return _rank([(bayesian_average(s, n, prior), int(n), int(i)) for s, n, i in rows])


def _from_stored_scores(uow: UnitOfWork, community_id: int, prior: Prior, basis_mean: float) -> list[Ranked] | None:
    """The top items read from the score index: its first rows, then more while an item further down
    could still rank (the community mean has moved since the scores were stored). Items rated since
    the last fold are read as they are now. None when too many are (the worker is behind)."""
    after = int(uow.cursors.get(CURSOR) or 0)
    # by id alone, the primary key's range (the event log has no other index to read)
    recent = uow.session.execute(select(Event.item_id, Event.community_id).where(
        Event.id > after, Event.kind == "rating").limit(UNFOLDED_RATINGS + 1)).all()
    if len(recent) > UNFOLDED_RATINGS:
        return None
    unfolded = {item for item, community in recent if community == community_id and item is not None}
    found: list[Ranked] = [(bayesian_average(s, n, prior), int(n), int(i)) for s, n, i in uow.session.execute(
        select(ContentItem.stars_sum, ContentItem.ratings_count, ContentItem.id)
        .where(ContentItem.id.in_(unfolded), ContentItem.ratings_count > 0))] if unfolded else []
    drift = score_drift(prior.weight, basis_mean, prior.mean)
    offset, chunk = 0, TOP_CONTENT * 2
    while True:
        rows = uow.session.execute(
            select(ItemScore.stars_sum, ItemScore.ratings_count, ItemScore.item_id, ItemScore.score)
            .where(ItemScore.community_id == community_id)
            .order_by(ItemScore.score.desc()).offset(offset).limit(chunk)).all()
        found += [(bayesian_average(s, n, prior), int(n), int(i)) for s, n, i, _ in rows if i not in unfolded]
        found = _rank(found)[:TOP_CONTENT]
        if len(rows) < chunk or ranking_settled([r[0] for r in found], TOP_CONTENT, rows[-1][3] + drift):
            return found
        offset, chunk = offset + chunk, chunk * 4


def top_content(uow: UnitOfWork, community_id: int) -> list[TopItem]:
    community = uow.communities.get(community_id)
    prior = community_prior(community.stars_sum if community else 0, community.ratings_count if community else 0)
    basis = uow.session.get(ScoreBasis, community_id)
    ranked = _from_stored_scores(uow, community_id, prior, basis.prior_mean) if basis is not None else None
    if ranked is None:
        ranked = _sorted_scan(uow, community_id, prior)
    ids = [item for _, _, item in ranked]
    details = {i: (title, url, kind) for i, title, url, kind in uow.session.execute(
        select(ContentItem.id, ContentItem.title, ContentItem.url, ContentItem.kind).where(ContentItem.id.in_(ids)))
    } if ids else {}
    return [TopItem(details[i][0] or details[i][1], details[i][1], details[i][2], s, n) for s, n, i in ranked]


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
    weekly_values, weekly_people = _weekly(uow, community_id, period)
    values, people = _totals(uow, community_id, period, weekly_values)
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

"""What the worker keeps for the dashboard (weekly and fixed-period distinct members, stored item
scores) always equals a fresh computation from the event log: across week boundaries, over several
folds, when the week rolls over, and with ratings not folded yet. On both backends."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from learnloop.bootstrap import Runtime, build_runtime
from learnloop.domain.scores import bayesian_average, community_prior, score_drift
from learnloop.jobs.worker import run_rollups
from learnloop.services import dashboard, rollups
from learnloop.services.rating import Rater, rate_url
from learnloop.storage.tables import Community, ContentItem, Event, ItemScore, PeriodMember, ScoreBasis, WeeklyCount
from tests.conftest import FakeClock, make_settings

UTC = timezone.utc
CHANNEL = "fukk3xq1bbn8fgmsiwh4xprwdh"


@pytest.fixture
def kept(engine, clock: FakeClock) -> Runtime:
    settings = make_settings(communities=[{"name": "Data guild", "channel_id": CHANNEL, "owners": []}])
    return build_runtime(settings, clock=clock, engine=engine)


def rate(runtime: Runtime, user: str, page: str, stars: int) -> None:
    with runtime.uow() as uow:
        rate_url(uow, runtime.settings, Rater(user.ljust(26, "x"), CHANNEL, channel_name="data-guild"),
                 f"https://wiki.acme.example/{page}", stars, None, runtime.clock())


def chat(runtime: Runtime, kind: str, user: str, **data: object) -> None:
    with runtime.uow() as uow:
        community = uow.communities.by_channel(CHANNEL).id
        uow.events.append(kind, occurred_at=runtime.clock(), recorded_at=runtime.clock(), community_id=community,
                          actor_id=user.ljust(26, "x"), data=dict(data))
        uow.commit()


def fold(runtime: Runtime, clock: FakeClock) -> int:
    clock.advance(minutes=1)
    return run_rollups(runtime)


def community(runtime: Runtime) -> int:
    with runtime.uow() as uow:
        return uow.communities.by_channel(CHANNEL).id


def fresh_members(runtime: Runtime) -> tuple[dict[tuple[date, str], int], dict[tuple[date, str], set[str]]]:
    """Weekly values and member sets computed from the event log up to the fold's cursor, as if folded
    for the first time (top content, by contrast, is always as of now)."""
    values: dict[tuple[date, str], int] = defaultdict(int)
    members: dict[tuple[date, str], set[str]] = defaultdict(set)
    cid = community(runtime)
    with runtime.reader() as uow:
        kinds = dict(uow.session.execute(select(ContentItem.id, ContentItem.kind)).all())
        folded = int(uow.cursors.get(rollups.CURSOR) or 0)
        for event in uow.session.scalars(select(Event).where(Event.community_id == cid, Event.id <= folded)):
            for part in rollups.contributions(event, kinds.get(event.item_id), runtime.signing_key):
                key = (rollups.week_of(event.occurred_at), part.metric)
                values[key] += 1
                if part.member:
                    members[key].add(part.member)
    return values, members


def distinct_over(members: dict[tuple[date, str], set[str]], weeks: list[date]) -> dict[str, int]:
    union: dict[str, set[str]] = defaultdict(set)
    for (week, metric), found in members.items():
        if week in weeks:
            union[metric] |= found
    return {metric: len(found) for metric, found in union.items()}


def fresh_top(runtime: Runtime) -> list[tuple[str, float, int]]:
    """Top content sorted from every rated item with the community's prior as it is now."""
    cid = community(runtime)
    with runtime.reader() as uow:
        row = uow.session.get(Community, cid)
        prior = community_prior(row.stars_sum, row.ratings_count)
        items = uow.session.execute(select(ContentItem.url, ContentItem.stars_sum, ContentItem.ratings_count,
                                           ContentItem.id).where(ContentItem.ratings_count > 0)).all()
    ranked = sorted(items, key=lambda r: (-bayesian_average(r[1], r[2], prior), -r[2], r[3]))
    return [(url, bayesian_average(s, n, prior), n) for url, s, n, _ in ranked[:dashboard.TOP_CONTENT]]


def assert_as_fresh(runtime: Runtime, today: date) -> None:
    """Every kept count and the page's figures equal a fresh computation from the log."""
    values, members = fresh_members(runtime)
    cid = community(runtime)
    expected_top = fresh_top(runtime)
    with runtime.reader() as uow:
        stored = {(w, m): (v, n) for w, m, v, n in uow.session.execute(
            select(WeeklyCount.week, WeeklyCount.metric, WeeklyCount.value, WeeklyCount.members)
            .where(WeeklyCount.community_id == cid))}
        assert stored == {key: (value, len(members.get(key, ()))) for key, value in values.items()}
        periods: dict[tuple[date, int], dict[str, int]] = defaultdict(dict)
        for first, weeks, metric, value in uow.session.execute(
                select(PeriodMember.first_week, PeriodMember.weeks, PeriodMember.metric, PeriodMember.value)
                .where(PeriodMember.community_id == cid)):
            periods[(first, weeks)][metric] = value
        for (first, weeks), found in periods.items():
            expected = distinct_over(members, [first + timedelta(weeks=n) for n in range(weeks)])
            assert {m: v for m, v in found.items() if v} == expected, f"stored period from {first}, {weeks} weeks"
        for weeks in rollups.FIXED_PERIOD_WEEKS:
            period = dashboard.Period.last_weeks(today, weeks)
            weekly_values, weekly_people = dashboard._weekly(uow, cid, period)
            sums, people = dashboard._totals(uow, cid, period, weekly_values)
            assert {m: v for m, v in people.items() if v} == distinct_over(members, period.weeks)
            assert sums == {m: sum(v for (w, mm), v in values.items() if mm == m and w in period.weeks)
                            for m in {mm for (w, mm) in values if w in period.weeks}}
            for week in period.weeks:
                assert {m: v for m, v in weekly_people[week].items() if v} == \
                    {m: len(s) for (w, m), s in members.items() if w == week and s}
        top = dashboard.top_content(uow, cid)
    assert [(t.url, t.ratings) for t in top] == [(url, n) for url, _, n in expected_top]
    assert [t.score for t in top] == pytest.approx([s for _, s, _ in expected_top], abs=1e-12)


def test_weekly_distinct_members_across_a_week_boundary(kept: Runtime, clock: FakeClock) -> None:
    clock.now = datetime(2026, 11, 8, 23, 58, tzinfo=UTC)  # a Sunday, the last minutes of a week
    for n in range(4):
        rate(kept, f"user{n}", f"p{n % 2}", 4)
        chat(kept, "reply", f"user{n}", root_id="thread-1")
    clock.advance(minutes=3)  # Monday: a new week; the same people again, and one more
    for n in range(5):
        rate(kept, f"user{n}", f"p{n % 3}", 5)
        chat(kept, "reply", f"user{n}", root_id="thread-1")
    assert fold(kept, clock) == 18
    with kept.reader() as uow:
        members = {(w.isoformat(), m): n for w, m, n in uow.session.execute(
            select(WeeklyCount.week, WeeklyCount.metric, WeeklyCount.members))}
    assert members == {("2026-11-02", "ratings"): 4, ("2026-11-02", "items_rated"): 2,
                       ("2026-11-02", "replies"): 4, ("2026-11-02", "threads"): 1,
                       ("2026-11-09", "ratings"): 5, ("2026-11-09", "items_rated"): 3,
                       ("2026-11-09", "replies"): 5, ("2026-11-09", "threads"): 1}
    assert_as_fresh(kept, clock.now.date())
    cid, period = community(kept), dashboard.Period.last_weeks(clock.now.date(), 4)
    with kept.reader() as uow:
        _, people = dashboard._totals(uow, cid, period, dashboard._weekly(uow, cid, period)[0])
    assert (people["ratings"], people["items_rated"], people["threads"]) == (5, 3, 1), "distinct over both weeks"


def test_folding_in_several_passes_and_again_changes_nothing(kept: Runtime, clock: FakeClock) -> None:
    for rounds in range(3):
        for n in range(6):
            rate(kept, f"user{n}", f"p{(n + rounds) % 4}", 1 + (n + rounds) % 5)
            chat(kept, "mention", f"user{n}")
        clock.advance(hours=30)
        fold(kept, clock)
        assert_as_fresh(kept, clock.now.date())
    assert fold(kept, clock) == 0
    with kept.uow() as uow:
        rollups.keep_current(uow, clock.now)
    assert_as_fresh(kept, clock.now.date())


def test_small_batches_count_members_exactly(kept: Runtime, clock: FakeClock) -> None:
    for n in range(12):
        rate(kept, f"user{n % 5}", f"p{n % 7}", 3 + n % 3)
    clock.advance(minutes=1)
    with kept.uow() as uow:
        assert rollups.fold_new_events(uow, kept.signing_key, clock.now, batch=5) == 5
    with kept.uow() as uow:
        assert rollups.fold_new_events(uow, kept.signing_key, clock.now, batch=5) == 5
    assert fold(kept, clock) == 2
    assert_as_fresh(kept, clock.now.date())


def test_a_new_week_gets_its_fixed_periods_without_new_events(kept: Runtime, clock: FakeClock) -> None:
    for n in range(6):
        rate(kept, f"user{n}", "p", 4)
    fold(kept, clock)
    clock.now = clock.now + timedelta(weeks=2)
    today = clock.now.date()
    first = rollups.last_weeks(today, 12)[0]
    with kept.reader() as uow:
        stale = uow.session.scalars(select(PeriodMember.first_week).distinct()).all()
    assert first not in stale
    assert_as_fresh(kept, today)  # before the worker's pass: the page counts, and gets the same
    fold(kept, clock)
    with kept.reader() as uow:
        assert uow.session.scalars(select(PeriodMember.weeks).where(PeriodMember.first_week == first)).all()
    assert_as_fresh(kept, today)


def test_a_late_event_in_an_earlier_week_updates_the_stored_periods(kept: Runtime, clock: FakeClock) -> None:
    for n in range(6):
        rate(kept, f"user{n}", "p", 4)
    clock.advance(weeks=1)
    fold(kept, clock)
    with kept.uow() as uow:  # a reply delivered late: it happened last week
        uow.events.append("reply", occurred_at=clock.now - timedelta(days=8), recorded_at=clock.now,
                          community_id=community(kept), actor_id="late".ljust(26, "x"), data={"root_id": "t9"})
        uow.commit()
    fold(kept, clock)
    assert_as_fresh(kept, clock.now.date())


def test_top_content_reads_stored_scores_and_stays_exact(kept: Runtime, clock: FakeClock) -> None:
    for n in range(40):
        rate(kept, f"user{n % 9}", f"p{n % 23}", 1 + (n * 7) % 5)
    fold(kept, clock)
    assert_as_fresh(kept, clock.now.date())
    with kept.reader() as uow:
        stored = uow.session.execute(select(ItemScore.item_id)).all()
    assert len(stored) == 23
    for n in range(15):  # rated since the last fold: read as they are now, the mean has moved too
        rate(kept, f"user{n % 4}", f"p{n % 6}", 5)
    assert_as_fresh(kept, clock.now.date())
    fold(kept, clock)
    assert_as_fresh(kept, clock.now.date())


def test_top_content_when_the_mean_drifts_within_the_tolerance(kept: Runtime, clock: FakeClock) -> None:
    for n in range(300):
        rate(kept, f"user{n % 30}", f"p{n % 41}", 3 + n % 2)
    fold(kept, clock)
    cid = community(kept)
    with kept.reader() as uow:
        basis = uow.session.get(ScoreBasis, cid).prior_mean
    rate(kept, "user99", "p7", 5)  # moves the mean a little: no rescore of every item
    fold(kept, clock)
    with kept.reader() as uow:
        row = uow.session.get(Community, cid)
        prior = community_prior(row.stars_sum, row.ratings_count)
        assert uow.session.get(ScoreBasis, cid).prior_mean == basis
    assert 0 < score_drift(prior.weight, basis, prior.mean) < 0.01
    assert_as_fresh(kept, clock.now.date())


def test_ties_rank_by_ratings_then_the_older_item(kept: Runtime, clock: FakeClock) -> None:
    for page in ("a", "b", "c"):
        for n in range(3):
            rate(kept, f"user{n}", page, 4)
    rate(kept, "user9", "d", 4)
    fold(kept, clock)
    cid = community(kept)
    with kept.reader() as uow:
        top = dashboard.top_content(uow, cid)
    assert [t.url.rsplit("/", 1)[1] for t in top] == ["a", "b", "c", "d"]
    assert_as_fresh(kept, clock.now.date())


def test_communities_rated_before_the_upgrade_get_stored_scores(kept: Runtime, clock: FakeClock) -> None:
    for n in range(8):
        rate(kept, f"user{n}", f"p{n % 3}", 2 + n % 4)
    fold(kept, clock)
    with kept.uow() as uow:  # as just after migration 0007: nothing stored yet
        uow.session.execute(ItemScore.__table__.delete())
        uow.session.execute(ScoreBasis.__table__.delete())
        uow.commit()
    assert_as_fresh(kept, clock.now.date())  # the page sorts every item meanwhile
    fold(kept, clock)
    with kept.reader() as uow:
        assert len(uow.session.execute(select(ItemScore.item_id)).all()) == 3
    assert_as_fresh(kept, clock.now.date())


def test_when_the_worker_is_far_behind_top_content_sorts_every_item(
    kept: Runtime, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(10):
        rate(kept, f"user{n}", f"p{n % 4}", 1 + n % 5)
    fold(kept, clock)
    monkeypatch.setattr(dashboard, "UNFOLDED_RATINGS", 2)
    for n in range(5):
        rate(kept, f"user{n}", f"p{4 + n}", 5)
    assert_as_fresh(kept, clock.now.date())


def test_a_custom_period_over_the_same_weeks_reads_the_same_counts(kept: Runtime, clock: FakeClock) -> None:
    for day in range(20):
        rate(kept, f"user{day % 7}", f"p{day % 5}", 2 + day % 4)
        chat(kept, "reply", f"user{day % 6}", root_id=f"t{day % 3}")
        clock.advance(days=1)
    fold(kept, clock)
    _, members = fresh_members(kept)
    weeks = rollups.last_weeks(clock.now.date(), 4)
    custom = dashboard.Period(weeks[0] + timedelta(days=2), clock.now.date())  # a Wednesday: the same four weeks
    cid = community(kept)
    with kept.reader() as uow:
        _, people = dashboard._totals(uow, cid, custom, dashboard._weekly(uow, cid, custom)[0])
    assert custom.weeks == weeks
    assert {m: v for m, v in people.items() if v} == distinct_over(members, weeks)


def test_a_tie_across_the_first_rows_read_is_read_to_its_end(kept: Runtime, clock: FakeClock) -> None:
    for n in range(45):  # 45 items with the same score: the first rows read cannot settle the top 10
        rate(kept, f"user{n % 5}", f"same{n:02d}", 4)
    fold(kept, clock)
    cid = community(kept)
    with kept.reader() as uow:
        top = dashboard.top_content(uow, cid)
    assert [t.url.rsplit("/", 1)[1] for t in top] == [f"same{n:02d}" for n in range(10)], "the oldest items first"
    assert_as_fresh(kept, clock.now.date())


def test_a_fold_read_before_another_was_written_is_not_written_twice(kept: Runtime, clock: FakeClock) -> None:
    for n in range(6):
        rate(kept, f"user{n}", f"p{n % 3}", 2 + n % 4)
    clock.advance(minutes=1)
    with kept.reader() as uow:
        first = rollups.read_fold(uow, kept.signing_key, clock.now)
    with kept.reader() as uow:
        second = rollups.read_fold(uow, kept.signing_key, clock.now)
    assert first is not None and second is not None and first.size == second.size == 6
    with kept.uow() as uow:
        assert rollups.apply_fold(uow, first, clock.now)
    with kept.uow() as uow:
        assert not rollups.apply_fold(uow, second, clock.now)  # the cursor moved: a second worker's copy
    assert_as_fresh(kept, clock.now.date())
    assert fold(kept, clock) == 0


def test_reading_a_fold_does_not_wait_for_a_rating_in_progress(kept: Runtime, clock: FakeClock) -> None:
    """The worker works a batch out before it takes the writer lock, so ratings never queue behind that."""
    import threading

    for n in range(4):
        rate(kept, f"user{n}", "p", 4)
    clock.advance(minutes=1)
    read: list[int] = []
    community_id = community(kept)
    with kept.uow() as writer:  # an open write transaction (on SQLite: the writer lock), as a rating holds
        writer.events.append("mention", occurred_at=clock.now, recorded_at=clock.now, community_id=community_id,
                             actor_id="user9".ljust(26, "x"))

        def work_out() -> None:
            with kept.reader() as uow:
                found = rollups.read_fold(uow, kept.signing_key, clock.now)
                read.append(found.size if found else 0)

        thread = threading.Thread(target=work_out)
        thread.start()
        thread.join(5)
        assert read == [4], "the fold's reading waited for the writer"
        writer.commit()

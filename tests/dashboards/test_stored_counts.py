"""What the worker keeps for the dashboard (weekly totals, release blocks, shown item scores) equals a fresh
computation from the event log and the shown totals: across week boundaries and over several folds; a week
closes a block only once it has ended, and a late event for a released week changes no block. On both
backends."""

from __future__ import annotations

import threading
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from learnloop.bootstrap import Runtime, build_runtime
from learnloop.domain.disclosure import Block, WeekFacts, split_open
from learnloop.domain.measures import PEOPLE_METRICS, contributions, week_of
from learnloop.domain.scores import REBASE_TOLERANCE, Prior, bayesian_average, community_prior
from learnloop.jobs.worker import Worker
from learnloop.services import dashboard, rollups
from learnloop.services.rating import Rater, rate_url
from learnloop.storage.tables import (
    ContentItem,
    Event,
    ItemScore,
    Rating,
    ReleaseBlock,
    ScoreBasis,
    WeeklyCount,
    WeeklyMember,
)
from tests.conftest import FakeClock, make_settings

UTC = UTC
CHANNEL = "fukk3xq1bbn8fgmsiwh4xprwdh"
K = 3


@pytest.fixture
def kept(engine, clock: FakeClock) -> Runtime:
    settings = make_settings(communities=[{"name": "Data guild", "channel_id": CHANNEL, "owners": []}],
                             min_group_size=K)
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
    return Worker(runtime).run_rollups()


def community(runtime: Runtime) -> int:
    with runtime.uow() as uow:
        return uow.communities.by_channel(CHANNEL).id


def fresh_weeks(runtime: Runtime) -> tuple[dict[tuple[date, str], int], dict[tuple[date, str], set[str]]]:
    """Weekly values and member sets computed from the event log up to the fold's cursor, as if folded for
    the first time (top content, by contrast, is always as of now)."""
    values: dict[tuple[date, str], int] = defaultdict(int)
    members: dict[tuple[date, str], set[str]] = defaultdict(set)
    cid = community(runtime)
    with runtime.reader() as uow:
        kinds = dict(uow.session.execute(select(ContentItem.id, ContentItem.kind)).all())
        folded = int(uow.cursors.get(rollups.CURSOR) or 0)
        for event in uow.session.scalars(select(Event).where(Event.community_id == cid, Event.id <= folded)):
            for part in contributions(event, kinds.get(event.item_id), runtime.signing_key):
                key = (week_of(event.occurred_at), part.metric)
                values[key] += 1
                if part.member:
                    members[key].add(part.member)
    return values, members


def fresh_blocks(values: dict[tuple[date, str], int], members: dict[tuple[date, str], set[str]],
                 metric: str, until: date) -> list[Block]:
    """A people measure's blocks cut in one go from its first week, none closing at `until` (this week) or later."""
    weeks = sorted(w for (w, m) in values if m == metric)
    if not weeks:
        return []
    facts = [WeekFacts(w, values[(w, metric)], frozenset(members.get((w, metric), ()))) for w in weeks]
    closed, remaining = split_open(weeks[0], facts, K, until=until)
    return closed + ([remaining] if remaining else [])


def fresh_top(runtime: Runtime) -> list[tuple[str, float, int]]:
    """Top content sorted again from the shown scores, with the community's stored basis (within the tolerance
    of the mean of the shown scores). The shown scores themselves are checked against the ratings: every page
    rated by at least k people before the last week's end the worker passed has one, holding its ratings' totals
    where none changed since it was released."""
    cid = community(runtime)
    with runtime.reader() as uow:
        ratings = {item: (int(count), int(stars)) for item, count, stars in uow.session.execute(
            select(Rating.item_id, func.count(), func.sum(Rating.stars)).group_by(Rating.item_id))}
        passed = uow.cursors.get(rollups.BLOCKS_UNTIL)
        week_end = datetime.combine(date.fromisoformat(passed), datetime.min.time(), UTC) if passed else None
        rated_by_then = {item for item, count in uow.session.execute(
            select(Rating.item_id, func.count()).where(Rating.created_at < week_end).group_by(Rating.item_id))
            if count >= K} if week_end else set()
        for score in uow.session.scalars(select(ItemScore)):
            changed = uow.session.scalar(select(func.count()).select_from(Rating).where(
                Rating.item_id == score.item_id, (Rating.updated_at > score.released_through)
                | (Rating.created_at > score.counted_through)))
            if not changed:
                assert ratings[score.item_id] == (score.ratings_count, score.stars_sum), score.item_id
        scored = set(uow.session.scalars(select(ItemScore.item_id)))
        assert rated_by_then <= scored
        shown = uow.session.execute(select(ContentItem.url, ItemScore.stars_sum, ItemScore.ratings_count,
                                           ContentItem.id).join(ItemScore, ItemScore.item_id == ContentItem.id)
                                    .where(ItemScore.ratings_count >= K, ItemScore.community_id == cid)).all()
        basis = uow.session.get(ScoreBasis, cid)
    if not shown:
        return []
    mean = community_prior(sum(r[1] for r in shown), sum(r[2] for r in shown)).mean
    assert abs(basis.prior_mean - mean) <= REBASE_TOLERANCE
    prior = Prior(basis.prior_mean)
    ranked = sorted(shown, key=lambda r: (-bayesian_average(r[1], r[2], prior), -r[2], r[3]))
    return [(url, bayesian_average(s, n, prior), n) for url, s, n, _ in ranked[:dashboard.TOP_CONTENT]]


def stored_blocks(runtime: Runtime, metric: str) -> list[Block]:
    with runtime.reader() as uow:
        return [Block(b.first_week, b.last_week, b.value, b.people, b.closed) for b in uow.session.scalars(
            select(ReleaseBlock).where(ReleaseBlock.community_id == community(runtime), ReleaseBlock.metric == metric)
            .order_by(ReleaseBlock.first_week))]


def assert_as_fresh(runtime: Runtime) -> None:
    """Every kept count and release block equals a fresh computation from the log, and top content one from the
    shown scores, themselves checked against the ratings (`fresh_top`)."""
    values, members = fresh_weeks(runtime)
    cid, until = community(runtime), week_of(runtime.clock())
    with runtime.reader() as uow:
        stored = {(w, m): v for w, m, v in uow.session.execute(
            select(WeeklyCount.week, WeeklyCount.metric, WeeklyCount.value).where(WeeklyCount.community_id == cid))}
        top = dashboard.top_content(uow, cid, K)
    assert stored == dict(values)
    for metric in sorted(PEOPLE_METRICS):
        assert stored_blocks(runtime, metric) == fresh_blocks(values, members, metric, until), metric
    for thing in ("items_rated", "threads"):
        assert stored_blocks(runtime, thing) == [], f"{thing} is counted over the blocks of the people behind it"
    expected_top = fresh_top(runtime)
    assert [(t.url, t.ratings) for t in top] == [(url, n) for url, _, n in expected_top]
    assert [t.score for t in top] == pytest.approx([s for _, s, _ in expected_top], abs=1e-12)


def test_a_block_closes_once_k_people_took_part_across_a_week_boundary(kept: Runtime, clock: FakeClock) -> None:
    clock.now = datetime(2026, 11, 8, 23, 58, tzinfo=UTC)  # a Sunday, the last minutes of a week
    for n in range(2):
        rate(kept, f"user{n}", f"p{n % 2}", 4)
        chat(kept, "reply", f"user{n}", root_id="thread-1")
    clock.advance(minutes=3)  # Monday: a new week; the same people again, and one more
    for n in range(3):
        rate(kept, f"user{n}", f"p{n % 3}", 5)
        chat(kept, "reply", f"user{n}", root_id="thread-1")
    assert fold(kept, clock) == 10
    first, second = date(2026, 11, 2), date(2026, 11, 9)
    assert stored_blocks(kept, "ratings") == [Block(first, second, 5, 3, False)], "not before the week has ended"
    clock.next_week()
    assert fold(kept, clock) == 0
    assert stored_blocks(kept, "ratings") == [Block(first, second, 5, 3, True)], "two people, then three: one block"
    assert_as_fresh(kept)
    with kept.reader() as uow:
        view = dashboard.build(uow, community(kept), dashboard.Period.last_weeks(clock.now.date(), 4), K)
    assert (view.totals["ratings"].value, view.totals["items_rated"].value) == (5, 3)
    assert (view.totals["replies"].value, view.totals["threads"].value) == (5, 1)
    assert view.weekly["ratings"][first].withheld and view.weekly["ratings"][second].withheld, \
        "neither week is shown alone"


def test_a_week_is_released_when_it_ends_though_nothing_more_happens(kept: Runtime, clock: FakeClock) -> None:
    for n in range(K):
        rate(kept, f"user{n}", f"p{n}", 4)
    fold(kept, clock)

    def released() -> tuple[float | None, float | None]:
        with kept.reader() as uow:
            totals = dashboard.build(uow, community(kept), dashboard.Period.last_weeks(clock.now.date(), 4), K).totals
        return totals["ratings"].value, totals["items_rated"].value

    assert released() == (None, None), "k people took part, but this week is still running"
    clock.next_week()
    assert fold(kept, clock) == 0, "no new event: the worker's pass closes the week"
    assert released() == (K, K)
    assert_as_fresh(kept)


def test_folding_in_several_passes_and_again_changes_nothing(kept: Runtime, clock: FakeClock) -> None:
    for rounds in range(3):
        for n in range(6):
            rate(kept, f"user{n}", f"p{(n + rounds) % 4}", 1 + (n + rounds) % 5)
            chat(kept, "mention", f"user{n}")
        clock.advance(hours=30)
        fold(kept, clock)
        assert_as_fresh(kept)
    assert fold(kept, clock) == 0
    with kept.uow() as uow:
        rollups.keep_current(uow, K, clock.now)
    assert_as_fresh(kept)


def test_small_batches_count_exactly(kept: Runtime, clock: FakeClock) -> None:
    for n in range(12):
        rate(kept, f"user{n % 5}", f"p{n % 7}", 3 + n % 3)
        clock.advance(days=2)
    clock.advance(minutes=1)
    with kept.uow() as uow:
        assert rollups.fold_new_events(uow, kept.signing_key, K, clock.now, batch=5) == 5
    with kept.uow() as uow:
        assert rollups.fold_new_events(uow, kept.signing_key, K, clock.now, batch=5) == 5
    assert fold(kept, clock) == 2
    assert_as_fresh(kept)


def test_another_k_cuts_the_blocks_again(kept: Runtime, clock: FakeClock) -> None:
    for day in range(21):
        rate(kept, f"user{day % 4}", "p", 4)
        clock.advance(days=1)
    fold(kept, clock)
    assert [b.weeks for b in stored_blocks(kept, "ratings") if b.closed] == [1, 1, 1]
    with kept.uow() as uow:
        rollups.keep_current(uow, 4, clock.now)
    assert all(b.people >= 4 for b in stored_blocks(kept, "ratings") if b.closed)
    with kept.uow() as uow:
        rollups.keep_current(uow, K, clock.now)
    assert_as_fresh(kept)


def test_a_late_event_counts_in_the_first_week_not_yet_released(kept: Runtime, clock: FakeClock) -> None:
    for n in range(4):
        rate(kept, f"user{n}", "p", 4)
        chat(kept, "reply", f"user{n}", root_id="t1")
    clock.advance(weeks=1)
    fold(kept, clock)
    released = [b for b in stored_blocks(kept, "replies") if b.closed]
    assert [b.value for b in released] == [4]
    with kept.uow() as uow:  # a reply delivered late: it happened last week
        uow.events.append("reply", occurred_at=clock.now - timedelta(days=7), recorded_at=clock.now,
                          community_id=community(kept), actor_id="late".ljust(26, "x"), data={"root_id": "t9"})
        uow.commit()
    fold(kept, clock)
    assert [b for b in stored_blocks(kept, "replies") if b.closed] == released, "a released block never changes"
    with kept.reader() as uow:
        weeks = dict(uow.session.execute(select(WeeklyCount.week, WeeklyCount.value).where(
            WeeklyCount.metric == "replies")).all())
        threads = dict(uow.session.execute(select(WeeklyMember.week, func.count()).where(
            WeeklyMember.metric == "threads").group_by(WeeklyMember.week)).all())
    assert weeks == {week_of(clock.now - timedelta(days=7)): 4, week_of(clock.now): 1}, \
        "the late reply counts in this week, the first one not released"
    assert threads == {week_of(clock.now - timedelta(days=7)): 1, week_of(clock.now): 1}, "its thread too"


def test_top_content_reads_stored_scores_and_stays_exact(kept: Runtime, clock: FakeClock) -> None:
    for n in range(80):
        rate(kept, f"user{n % 9}", f"p{n % 23}", 1 + (n * 7) % 5)
    fold(kept, clock)
    assert_as_fresh(kept)
    with kept.reader() as uow:
        stored = uow.session.execute(select(ItemScore.item_id)).all()
    assert len(stored) == 23
    for n in range(15):
        rate(kept, f"user{n % 4}", f"p{n % 6}", 5)
    assert_as_fresh(kept)
    fold(kept, clock)
    assert_as_fresh(kept)


def test_top_content_when_the_mean_drifts_within_the_tolerance(kept: Runtime, clock: FakeClock) -> None:
    for n in range(300):
        rate(kept, f"user{n % 30}", f"p{n % 41}", 3 + n % 2)
    fold(kept, clock)
    cid = community(kept)
    with kept.reader() as uow:
        basis = uow.session.get(ScoreBasis, cid).prior_mean
    for n in range(K):  # moves p7's shown score, and the mean a little: no rescore of every item
        rate(kept, f"user{90 + n}", "p7", 4)
    clock.next_week()
    fold(kept, clock)
    with kept.reader() as uow:
        prior = community_prior(*uow.rollups.shown_totals({cid}, K)[cid])
        assert uow.session.get(ScoreBasis, cid).prior_mean == basis
    assert 0 < abs(prior.mean - basis) < REBASE_TOLERANCE
    assert_as_fresh(kept)


def test_a_rescore_moves_no_number_of_raters(kept: Runtime, clock: FakeClock) -> None:
    """When the community's mean drifts, every shown score is computed again from the totals shown: a page whose
    number of raters may not move yet keeps its totals, and its score follows the mean."""
    for n in range(K):
        rate(kept, f"user{n}", "w", 4)
        rate(kept, f"user{n}", "m", 2)
    fold(kept, clock)
    cid = community(kept)
    with kept.reader() as uow:
        basis = uow.session.get(ScoreBasis, cid).prior_mean
    rate(kept, "newcomer", "w", 1)
    for n in range(K - 1):  # k people changed w, one of them new: its count may not move, nor its totals
        rate(kept, f"user{n}", "w", 5)
    for n in range(K, 4 * K):
        rate(kept, f"user{n}", "m", 5)
    clock.next_week()
    fold(kept, clock)
    with kept.reader() as uow:
        w = uow.session.get(ItemScore, uow.items.by_url("https://wiki.acme.example/w").id)
        rebased = uow.session.get(ScoreBasis, cid).prior_mean
    assert abs(rebased - basis) > REBASE_TOLERANCE
    assert (w.stars_sum, w.ratings_count) == (4 * K, K)
    assert w.score == pytest.approx(bayesian_average(4 * K, K, Prior(rebased)))
    assert_as_fresh(kept)


def test_ties_rank_by_ratings_then_the_older_item_and_few_raters_rank_nothing(kept: Runtime, clock: FakeClock) -> None:
    for page in ("a", "b", "c"):
        for n in range(K):
            rate(kept, f"user{n}", page, 4)
    for n in range(K - 1):
        rate(kept, f"user{n}", "d", 5)
    fold(kept, clock)
    with kept.reader() as uow:
        top = dashboard.top_content(uow, community(kept), K)
    assert [t.url.rsplit("/", 1)[1] for t in top] == ["a", "b", "c"], "d has fewer than k raters: not ranked"
    assert_as_fresh(kept)


def test_a_custom_period_over_the_same_weeks_reads_the_same_figures(kept: Runtime, clock: FakeClock) -> None:
    for day in range(20):
        rate(kept, f"user{day % 7}", f"p{day % 5}", 2 + day % 4)
        chat(kept, "reply", f"user{day % 6}", root_id=f"t{day % 3}")
        clock.advance(days=1)
    fold(kept, clock)
    four = dashboard.Period.last_weeks(clock.now.date(), 4)
    custom = dashboard.Period.whole_weeks(four.first + timedelta(days=2), clock.now.date())
    with kept.reader() as uow:
        a = dashboard.build(uow, community(kept), four, K)
        b = dashboard.build(uow, community(kept), custom, K)
    assert custom.weeks == four.weeks and a.totals == b.totals


def test_a_tie_across_the_first_rows_read_is_read_to_its_end(kept: Runtime, clock: FakeClock) -> None:
    for n in range(45):  # 45 items with the same score: the first rows read cannot settle the top 10
        for user in range(K):
            rate(kept, f"user{user}", f"same{n:02d}", 4)
    fold(kept, clock)
    with kept.reader() as uow:
        top = dashboard.top_content(uow, community(kept), K)
    assert [t.url.rsplit("/", 1)[1] for t in top] == [f"same{n:02d}" for n in range(10)], "the oldest items first"
    assert_as_fresh(kept)


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
        assert rollups.apply_fold(uow, first, K, clock.now)
    with kept.uow() as uow:
        assert not rollups.apply_fold(uow, second, K, clock.now)  # the cursor moved: a second worker's copy
    assert_as_fresh(kept)
    assert fold(kept, clock) == 0


def test_reading_a_fold_does_not_wait_for_a_rating_in_progress(kept: Runtime, clock: FakeClock) -> None:
    """The worker works a batch out before it takes the writer lock, so ratings never queue behind that."""
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


def test_a_new_k_keeps_the_blocks_already_released(kept: Runtime, clock: FakeClock) -> None:
    """Cut again with another k, a released block could join the weeks after it: the new figure less the one
    seen before would be those weeks' few people."""
    first = week_of(clock.now)
    for n in range(K):
        rate(kept, f"user{n}", "p", 4)
        chat(kept, "reply", f"user{n}", root_id="t1")
    clock.advance(weeks=1)
    for _ in range(3):  # one person alone, three times
        chat(kept, "reply", "loner", root_id="t2")
        clock.advance(hours=1)
    fold(kept, clock)
    released = [b for b in stored_blocks(kept, "replies") if b.closed]
    assert released == [Block(first, first, K, K, True)]
    for k in (K + 2, K + 1, K):
        with kept.uow() as uow:
            rollups.keep_current(uow, k, clock.now)
        blocks = stored_blocks(kept, "replies")
        assert [b for b in blocks if b.closed] == released, f"k={k}"
        assert [b.value for b in blocks if not b.closed] == [3], "the loner's week is not released with any k"


def test_too_early_lists_what_everyone_can_know_of_and_never_what_a_rating_brought(
        kept: Runtime, clock: FakeClock) -> None:
    rate(kept, "user0", "rated-once", 4)  # learnloop knows this page from one person's rating alone
    with kept.uow() as uow:
        uow.items.ensure("https://wiki.acme.example/shared", kind="wiki_page", shared_by="user1".ljust(26, "x"),
                         title=None, now=clock.now, community_id=community(kept))
        uow.commit()
    for n in range(K):
        rate(kept, f"user{n}", "scored", 4)
    fold(kept, clock)

    def early() -> list[str]:
        with kept.reader() as uow:
            return [t.url.rsplit("/", 1)[1] for t in dashboard.too_early(uow, community(kept), K)]

    assert early() == ["shared"], "a page with a score is ranked, one known from a rating alone is not listed"
    rate(kept, "user2", "shared", 5)
    fold(kept, clock)
    assert early() == ["shared"], "a rating changes nothing here until k people have rated"


def _reflection_rows(runtime: Runtime, period: dashboard.Period) -> list[tuple[date, date, float | None, str]]:
    with runtime.reader() as uow:
        view = dashboard.build(uow, community(runtime), period, K)
    return [(row.first, row.last, row.figure.value, row.note) for row in view.rows["reflections"]]


def test_one_private_reflection_after_the_last_release_changes_no_row(kept: Runtime, clock: FakeClock) -> None:
    """The weeks after the last released block are one withheld row whether or not anyone wrote since."""
    rate(kept, "seed", "p", 4)
    for n in range(K):
        chat(kept, "reflection", f"user{n}", visibility="private", answered_prompt=False)
    clock.next_week()
    fold(kept, clock)
    clock.advance(days=1)
    fold(kept, clock)
    period = dashboard.Period.last_weeks(clock.now.date(), 4)
    before = _reflection_rows(kept, period)
    chat(kept, "reflection", "dave", visibility="private", answered_prompt=False)
    fold(kept, clock)
    assert _reflection_rows(kept, period) == before
    assert before[-1][2:] == (None, f"shown once {K} people took part and the week has ended, and those kept "
                                    f"private are by nobody or by {K} people or more")


def test_no_one_week_period_tells_the_week_of_a_lone_reflection(kept: Runtime, clock: FakeClock) -> None:
    rate(kept, "seed", "p", 4)
    start = week_of(clock.now)
    clock.advance(weeks=3)
    chat(kept, "reflection", "dave", visibility="private", answered_prompt=False)
    clock.advance(weeks=3)
    fold(kept, clock)
    shown = [_reflection_rows(kept, dashboard.Period(week, week)) for week in (start + timedelta(weeks=n)
                                                                              for n in range(7))]
    assert all(rows == [(week, week, None, rows[0][3])] for rows, week in
               zip(shown, (start + timedelta(weeks=n) for n in range(7)), strict=True)), shown

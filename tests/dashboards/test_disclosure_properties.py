"""No figure a viewer can obtain, and no difference of two figures of the same measure, describes a group of
1 to k-1 people: checked on generated communities (sizes around k, skewed activity, quiet weeks), over the
4-week and 12-week views and custom ranges, through the page's JSON and CSV exports, against the truth
computed from what was generated."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import combinations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from learnloop.bootstrap import Runtime, build_runtime
from learnloop.domain.disclosure import Block, WeekFacts, over_period, split_open
from learnloop.services import links, rollups
from learnloop.services.rating import Rater, rate_url
from learnloop.wiring import create_app
from tests.conftest import START, FakeClock, _empty_all_tables, make_settings
from tests.web.links import confirm

K = 5
WEEKS = 14
CHANNEL = "fukk3xq1bbn8fgmsiwh4xprwdh"
OWNER = "ownerdana00000000000000000"
MONDAY = START.date() - timedelta(days=START.weekday())


def week_start(n: int) -> date:
    """The Monday n weeks before this one."""
    return MONDAY - timedelta(weeks=n)


# ------------------------------------------------------------------------------- the pure rules

week_activity = st.lists(st.lists(st.integers(0, 11), max_size=6, unique=True), min_size=1, max_size=20)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(week_activity, st.integers(3, 6), st.data())
def test_any_two_released_figures_differ_by_whole_groups_of_k(weeks: list[list[int]], k: int, data: st.DataObject) -> None:
    monday = date(2026, 1, 5)
    days = [monday + timedelta(weeks=n) for n in range(len(weeks))]
    facts = [WeekFacts(day, len(people), frozenset(map(str, people))) for day, people in zip(days, weeks, strict=True) if people]
    if not facts:
        return
    closed, remaining = split_open(facts[0].week, facts, k, until=date.max)
    blocks: list[Block] = closed + ([remaining] if remaining else [])
    people_in = {day: set(map(str, people)) for day, people in zip(days, weeks, strict=True)}

    def people_over(first: date, last: date) -> set[str]:
        return set().union(*(found for day, found in people_in.items() if first <= day <= last))

    ranges = [(days[a], days[b]) for a, b in data.draw(st.lists(
        st.tuples(st.integers(0, len(days) - 1), st.integers(0, len(days) - 1)).map(sorted), min_size=2,
        max_size=8))]
    released = []
    for first, last in ranges:
        figure = over_period(blocks, first, last, k)
        if figure.withheld:
            continue
        assert figure.first is not None and figure.last is not None
        assert first <= figure.first and figure.last <= last, "a figure covers only weeks that were asked for"
        covered = {day for day in days if figure.first <= day <= figure.last}
        assert figure.value == sum(len(people_in[day]) for day in covered), "the exact sum over its weeks"
        assert len(people_over(figure.first, figure.last)) in (0, *range(k, 1000))
        released.append(covered)
    for one, other in combinations(released, 2):
        for part in (one - other, other - one):
            assert len(set().union(*(people_in[day] for day in part))) in (0, *range(k, 1000)), \
                "a difference of two figures describes a group of fewer than k"


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(st.lists(st.tuples(st.integers(0, 11), st.booleans()), max_size=6, unique_by=lambda p: p[0]),
                min_size=1, max_size=20), st.integers(3, 6), st.data())
def test_a_released_total_less_what_anyone_can_count_is_nobody_or_k_people(
    weeks: list[list[tuple[int, bool]]], k: int, data: st.DataObject
) -> None:
    """Each person writes one reflection a week, shared (anyone can count it) or private: whatever weeks a figure
    covers, the private ones in it, its value less the shared ones, are by nobody or by k people or more."""
    monday = date(2026, 1, 5)
    days = [monday + timedelta(weeks=n) for n in range(len(weeks))]
    kept = {day: {str(p) for p, private in people if private} for day, people in zip(days, weeks, strict=True)}
    facts = [WeekFacts(day, len(people), frozenset(str(p) for p, _ in people))
             for day, people in zip(days, weeks, strict=True) if people]
    if not facts:
        return
    unseen = [WeekFacts(day, len(found), frozenset(found)) for day, found in kept.items() if found]
    closed, remaining = split_open(facts[0].week, facts, k, until=date.max, unseen=unseen)
    blocks = closed + ([remaining] if remaining else [])
    for a, b in data.draw(st.lists(st.tuples(st.integers(0, len(days) - 1), st.integers(0, len(days) - 1))
                                   .map(sorted), min_size=1, max_size=8)):
        figure = over_period(blocks, days[a], days[b], k)
        if figure.withheld:
            continue
        assert figure.first is not None and figure.last is not None
        private = set().union(*(found for day, found in kept.items() if figure.first <= day <= figure.last))
        assert len(private) in (0, *range(k, 1000))


# ------------------------------------------------------------------------------- through the exports

@dataclass
class Community:
    """Who rated and who replied in which week (weeks counted back from this one)."""

    ratings: dict[int, list[int]]
    replies: dict[int, list[int]]


def people(size: int) -> st.SearchStrategy[list[int]]:
    """Some of the community's members; low numbers far more often (skewed activity)."""
    return st.lists(st.integers(0, size - 1).map(lambda n: n if n % 3 else n // 3), max_size=size, unique=True)


communities = st.integers(K - 1, 12).flatmap(lambda size: st.builds(
    Community,
    ratings=st.dictionaries(st.integers(0, WEEKS - 1), people(size), max_size=WEEKS),
    replies=st.dictionaries(st.integers(0, WEEKS - 1), people(size), max_size=WEEKS)))


def user(n: int) -> str:
    return f"member{n}".ljust(26, "0")


def seed(runtime: Runtime, community: Community) -> int:
    for weeks_ago, raters in community.ratings.items():
        when = datetime.combine(week_start(weeks_ago), datetime.min.time(), UTC) + timedelta(hours=10)
        for n in raters:
            with runtime.uow() as uow:
                rate_url(uow, runtime.settings, Rater(user(n), CHANNEL, channel_name="guild"),
                         f"https://wiki.acme.example/p{n % 3}", 1 + n % 5, None, when)
    with runtime.uow() as uow:
        community_id = uow.communities.ensure(CHANNEL, None, "Guild", runtime.clock())
        for weeks_ago, repliers in community.replies.items():
            when = datetime.combine(week_start(weeks_ago), datetime.min.time(), UTC) + timedelta(hours=11)
            for n in repliers:
                uow.events.append("reply", occurred_at=when, recorded_at=when, community_id=community_id,
                                  actor_id=user(n), data={"root_id": f"t{n % 2}"})
        uow.commit()
    rollups.fold_all(runtime.uow, runtime.signing_key, K, runtime.clock() + timedelta(minutes=1))
    return community_id


def truth(community: Community, measure: str) -> dict[date, set[int]]:
    found = community.ratings if measure == "ratings" else community.replies
    return {week_start(n): set(who) for n, who in found.items() if who}


def released(client, community_id: int, query: str) -> list[tuple[str, date, date, float]]:
    """Every numeric figure of ratings and replies the JSON and CSV exports give, with the weeks it covers."""
    found = []
    body = client.get(f"/dashboard/{community_id}/export.json?{query}").get_json()
    rows = body["rows"] + list(csv.DictReader(io.StringIO(
        client.get(f"/dashboard/{community_id}/export.csv?{query}").get_data(as_text=True))))
    for row in rows:
        if row["measure"] in ("ratings", "replies") and row["from_week"] and str(row["value"]).replace(".", "").isdigit():
            found.append((row["measure"], date.fromisoformat(row["from_week"]), date.fromisoformat(row["to_week"]),
                          float(row["value"])))
    page = client.get(f"/dashboard/{community_id}?{query}").get_data(as_text=True)
    assert "@" not in page.replace("@media", ""), "nobody is named on the page"
    return found


QUERIES = ["period=4w", "period=12w"] + [
    f"period=custom&start={week_start(a)}&end={week_start(b) + timedelta(days=6)}"
    for a, b in ((13, 9), (11, 2), (6, 6), (4, 0), (9, 3))]


@pytest.fixture
def owner_view(engine, clock: FakeClock) -> tuple[Runtime, object]:
    runtime = build_runtime(make_settings(
        communities=[{"name": "Guild", "channel_id": CHANNEL, "owners": [OWNER]}]), clock=clock, engine=engine)
    return runtime, engine


@settings(max_examples=12, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(community=communities)
def test_no_figure_or_difference_in_the_exports_describes_fewer_than_k(
    owner_view: tuple[Runtime, object], community: Community
) -> None:
    runtime, engine = owner_view
    _empty_all_tables(engine)
    community_id = seed(runtime, community)
    client = create_app(runtime).test_client()
    with runtime.uow() as uow:
        token = links.issue(uow, user_id=OWNER, username="dana", next_path="/", now=runtime.clock())
    confirm(client, links.signin_url("", token))
    figures = defaultdict(set)
    for query in QUERIES:
        for measure, first, last, value in released(client, community_id, query):
            weeks = truth(community, measure)
            covered = {w for w in weeks if first <= w <= last}
            assert value == sum(len(weeks[w]) for w in covered), f"{measure} {first}..{last} is exact"
            assert len(set().union(*(weeks[w] for w in covered))) in (0, *range(K, 1000)), f"{measure} {first}..{last}"
            figures[measure].add((first, last))
    for measure, spans in figures.items():
        weeks = truth(community, measure)
        for (a1, b1), (a2, b2) in combinations(sorted(spans), 2):
            one = {w for w in weeks if a1 <= w <= b1}
            other = {w for w in weeks if a2 <= w <= b2}
            for part in (one - other, other - one):
                assert len(set().union(*(weeks[w] for w in part))) in (0, *range(K, 1000)), \
                    f"{measure}: {a1}..{b1} against {a2}..{b2} isolates fewer than {K} people"

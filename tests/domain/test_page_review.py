"""The review rules on their own: states, intervals, k-guarded trends, when a page needs review, who hears of it,
and when any owner anywhere can be due their weekly message."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from learnloop.domain.page_review import (
    ReviewRefused,
    Totals,
    needs_review,
    owners_may_be_due,
    page_owners,
    parse_interval,
    parse_state,
    review_week,
    trend,
)
from learnloop.domain.scores import Prior

K = 5
NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(("text", "days"), [("180d", 180), ("26w", 182), (" 7D ", 7), ("730d", 730)])
def test_intervals_in_days_or_weeks(text: str, days: int) -> None:
    assert parse_interval(text) == days


@pytest.mark.parametrize(("text", "message"), [
    ("6d", "6 days is outside what learnloop takes: from 7 days to 730 days"),
    ("731d", "731 days is outside"), ("soon", "'soon' is not an interval"), ("180", "'180' is not an interval"),
    ("-5d", "'-5d' is not an interval"), ("  ", "^the interval is missing: use days or weeks, for example 180d")])
def test_bad_intervals_are_explained(text: str, message: str) -> None:
    with pytest.raises(ReviewRefused, match=message):
        parse_interval(text)


def test_states_are_the_four_triage_states() -> None:
    assert [parse_state(s) for s in ("new", "Planned", " resolved", "hidden")] == ["new", "planned", "resolved",
                                                                                   "hidden"]
    with pytest.raises(ReviewRefused, match="'open' is not a feedback state: use one of new, planned, resolved"):
        parse_state("open")


@pytest.mark.parametrize(("then", "now", "shown"), [(K - 1, K, False), (K, K - 1, False), (K, K, True),
                                                    (K + 1, 2 * K + 1, True)])
def test_a_trend_needs_k_people_behind_the_score_before_and_the_score_now(then: int, now: int, shown: bool) -> None:
    found = trend(Totals(2 * now, now), Totals(5 * then, then), Prior(3.0), K)
    assert (found is not None) == shown
    assert trend(Totals(2 * now, now), None, Prior(3.0), K) is None, "a score that never moved has no trend"
    if found is not None:
        assert found.direction == "down" and found.before > 3.0


def test_flat_within_a_tenth_of_a_star() -> None:
    assert trend(Totals(20, 5), Totals(20, 5), Prior(3.0), K).direction == "flat"


def test_when_a_page_needs_review() -> None:
    base = dict(reason_people=0, now_score=None, change=None, is_page=True, last_reviewed=NOW - timedelta(days=10),
                reviewed_at=None, interval_days=180, now=NOW)
    assert not needs_review(**base)
    assert needs_review(**{**base, "reason_people": 3}).reasons
    assert not needs_review(**{**base, "reason_people": 2})
    assert needs_review(**{**base, "last_reviewed": NOW - timedelta(days=181)}).overdue
    assert not needs_review(**{**base, "last_reviewed": NOW - timedelta(days=181), "is_page": False}), \
        "a shared link has no review interval"
    dropped = trend(Totals(5, 5), Totals(25, 5), Prior(3.0), K)
    assert needs_review(**{**base, "now_score": 2.0, "change": dropped}).score_drop
    assert not needs_review(**{**base, "now_score": 2.0, "change": dropped,
                               "reviewed_at": NOW - timedelta(days=3)}), "reviewed since: not nagged"


def test_owners_of_a_page_then_of_its_space_then_the_community() -> None:
    assert page_owners({"bob"}, {"carol"}, set()) == ("page", ["bob"])
    assert page_owners(set(), {"carol", "dan"}, {"dan"}) == ("space", ["carol"])
    assert page_owners(set(), {"carol"}, {"carol"}) == ("community", [])


@pytest.mark.parametrize(("moment", "due", "week"), [
    (datetime(2026, 11, 1, 9, 59, tzinfo=UTC), False, date(2026, 10, 26)),
    (datetime(2026, 11, 1, 10, 0, tzinfo=UTC), True, date(2026, 11, 2)),
    (datetime(2026, 11, 3, 23, 59, tzinfo=UTC), True, date(2026, 11, 2)),
    (datetime(2026, 11, 4, 0, 0, tzinfo=UTC), False, date(2026, 11, 2))])
def test_somebody_somewhere_can_be_due_from_sunday_10_to_tuesday_midnight_utc(moment: datetime, due: bool,
                                                                              week: date) -> None:
    assert owners_may_be_due(moment) == due
    assert review_week(moment) == week, "the week's list is worked out from Sunday 10:00 UTC"

"""Recognition milestones: a sharer's messages never count fewer than k people, nor differ by fewer than k."""

from __future__ import annotations

from datetime import time

import pytest

from learnloop.domain.network import milestones, parse_weekly, reached


@pytest.mark.parametrize(("k", "expected"), [
    (5, (5, 10, 25, 50, 100, 250, 500, 1000)),
    (7, (7, 25, 50, 100, 250, 500, 1000)),
    (30, (30, 100, 250, 500, 1000)),
])
def test_milestones_start_at_k_and_lie_at_least_k_apart(k: int, expected: tuple[int, ...]) -> None:
    found = milestones(k)
    assert found == expected
    assert all(later - earlier >= k for earlier, later in zip(found, found[1:], strict=False))


def test_the_highest_milestone_reached() -> None:
    assert [reached(n, 7) for n in (6, 7, 24, 25)] == [None, 7, 7, 25]


@pytest.mark.parametrize(("text", "expected"), [
    ("fri 09:00", (4, time(9, 0))), ("Friday 9:30", (4, time(9, 30))), ("mondays 07:05", (0, time(7, 5))),
    ("thurs 18:00", (3, time(18, 0))), ("SUN 00:00", (6, time(0, 0))),
])
def test_a_weekly_moment_is_a_day_and_a_time(text: str, expected: tuple[int, time]) -> None:
    assert parse_weekly(text) == expected


@pytest.mark.parametrize("given", ["25:00", "09:60", "99999999999999999999:00", "09:99999999999999999999", "9am"])
def test_a_weekly_moment_needs_a_time_of_day(given: str) -> None:
    with pytest.raises(ValueError, match=f"^'{given[:10]}' is not a time of day: use 24-hour HH:MM"):
        parse_weekly(f"fri {given}")


@pytest.mark.parametrize("text", ["", " "])
def test_a_missing_weekly_moment_is_named(text: str) -> None:
    with pytest.raises(ValueError, match="^the day and the time are missing: use for example 'fri 09:00'$"):
        parse_weekly(text)


@pytest.mark.parametrize("text", ["friyay 09:00", "monkey 09:00", "fr 09:00", "someday 9", "fri", "fri 09:00 now"])
def test_a_word_that_only_begins_like_a_day_is_not_one(text: str) -> None:
    with pytest.raises(ValueError, match="is not a day and a time"):
        parse_weekly(text)

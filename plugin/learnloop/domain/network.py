"""The network's side, as pure rules: when a weekly message is due, which milestones recognise a sharer, and
what a person might also find useful (from item pairs that at least k people found useful together)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from learnloop.domain.preferences import Decision, PromptPreferences, delivery_decision
from learnloop.domain.schedules import InvalidSchedule, local_to_utc, parse_time_of_day, weekday_number

USEFUL = 4
"""A rating of 4 or 5 says the item was useful to the person."""
MILESTONES = (5, 10, 25, 50, 100, 250, 500, 1000)
LIKES_KEPT = 30
"""At most this many of a person's most recent useful items pair up for suggestions (a heavy rater's
thousand would make half a million pairs; thirty make 435)."""
DM_WINDOW = timedelta(hours=12)
"""How long after its moment a weekly private message may still go out (after quiet hours, say)."""
DEFAULT_TIME = time(9, 0)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def milestones(k: int) -> tuple[int, ...]:
    """The counts of people that earn a sharer a message: never fewer than k, and each at least k above the one
    before, so two messages never differ by fewer than k people."""
    found = [k]
    for milestone in MILESTONES:
        if milestone - found[-1] >= k:
            found.append(milestone)
    return tuple(found)


def reached(people: int, k: int) -> int | None:
    """The highest milestone `people` has reached, if any."""
    return max((m for m in milestones(k) if m <= people), default=None)


def pairs(items: Iterable[int]) -> list[tuple[int, int]]:
    """Every unordered pair, the smaller id first."""
    ordered = sorted(set(items))
    return [(a, b) for i, a in enumerate(ordered) for b in ordered[i + 1:]]


def pair_changes(before: set[int], after: set[int]) -> dict[tuple[int, int], int]:
    """How the pairs one person counts towards change when their useful items go from `before` to `after`."""
    changes: dict[tuple[int, int], int] = {}
    for pair in set(pairs(after)) - set(pairs(before)):
        changes[pair] = 1
    for pair in set(pairs(before)) - set(pairs(after)):
        changes[pair] = -1
    return changes


def suggest(liked: set[int], rated: set[int], together: Mapping[tuple[int, int], int], k: int,
            ) -> dict[int, int]:
    """Items the person has not rated that people who found the same things useful also found useful, each
    with its weight (the people behind its pairs with the person's items): only pairs at least k people
    share count."""
    weight: dict[int, int] = defaultdict(int)
    for (a, b), people in together.items():
        if people < k:
            continue
        if a in liked and b not in rated:
            weight[b] += people
        elif b in liked and a not in rated:
            weight[a] += people
    return dict(weight)


def strongest(weights: Mapping[int, int], scores: Mapping[int, float], limit: int) -> list[int]:
    """The strongest overlap first, then the better score, then the older item."""
    return sorted(weights, key=lambda item: (-weights[item], -scores.get(item, 0.0), item))[:limit]


def parse_weekly(text: str) -> tuple[int, time]:
    """'fri 09:00' (a day and a 24-hour local time) as (weekday, time); ValueError says what is wrong."""
    words = text.lower().split()
    if not words:
        raise ValueError("the day and the time are missing: use for example 'fri 09:00'")
    weekday = weekday_number(words[0]) if len(words) == 2 else None
    if weekday is None:
        raise ValueError(f"'{text[:40]}' is not a day and a time: use for example 'fri 09:00'")
    try:
        at = parse_time_of_day(words[1])
    except InvalidSchedule:
        raise ValueError(f"'{words[1][:10]}' is not a time of day: use 24-hour HH:MM, for example 09:00") from None
    return weekday, at


def week_moment(weekday: int, at: time, tz: ZoneInfo, now: datetime) -> tuple[datetime, date]:
    """This week's moment for a weekly message (UTC), and the Monday of its week (by the local calendar)."""
    local_today = now.astimezone(tz).date()
    monday = local_today - timedelta(days=local_today.weekday())
    return local_to_utc(monday + timedelta(days=weekday), at, tz).astimezone(UTC), monday


def dm_decision(prefs: PromptPreferences, due_at: datetime, now: datetime, tz: ZoneInfo, presence: str | None,
                window: timedelta = DM_WINDOW) -> Decision:
    """Whether a private message from the network's side goes out now, as for a prompt: a pause or quiet
    hours make it wait, do not disturb and out of office skip it. Turning prompts off does not turn these
    off (each has its own switch)."""
    return delivery_decision(replace(prefs, enabled=True), due_at=due_at, now=now, window_end=due_at + window,
                             tz=tz, presence=presence)

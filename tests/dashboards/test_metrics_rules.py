"""The pure rules behind the dashboard: blocks of at least k people, figures over whole blocks, parts with
complementary suppression, ratios of released figures, and the stages."""

from __future__ import annotations

from datetime import date, timedelta
from types import SimpleNamespace

import pytest

from learnloop.domain.disclosure import (
    Block,
    Figure,
    InvalidGroupSize,
    WeekFacts,
    beside_over_period,
    check_min_group,
    over_period,
    parts_of_block,
    ratio,
    split_open,
    withheld,
)
from learnloop.domain.learning_metrics import maturity
from learnloop.domain.measures import contributions
from learnloop.services.dashboard import change

W = [date(2026, 10, 5) + timedelta(weeks=n) for n in range(8)]


def week(n: int, value: int, *people: str) -> WeekFacts:
    return WeekFacts(W[n], value, frozenset(people))


@pytest.mark.parametrize(("people", "closed"), [(4, False), (5, True), (6, True)])
def test_a_block_closes_at_k_people(people: int, closed: bool) -> None:
    blocks, remaining = split_open(W[0], [week(0, 37, *(f"p{n}" for n in range(people)))], 5, until=W[1])
    assert bool(blocks) is closed and (remaining is None) is closed
    figure = over_period(blocks + ([remaining] if remaining else []), W[0], W[0], 5)
    assert figure.text() == ("37" if closed else "not shown")
    assert figure.export() == (37 if closed else "not shown")


def test_small_weeks_are_grouped_until_k_distinct_people() -> None:
    blocks, remaining = split_open(W[0], [week(0, 2, "a", "b"), week(1, 3, "a", "c"), week(2, 4, "d", "e"),
                                          week(4, 1, "f")], 5, until=W[7])
    assert blocks == [Block(W[0], W[2], 9, 5, True)], "a and b, then c, then d and e: five people by the third week"
    assert remaining == Block(W[3], W[4], 1, 1, False), "the open stretch starts right after, empty weeks included"


def test_a_week_that_has_not_ended_closes_no_block() -> None:
    facts = [week(0, 2, "a", "b"), week(1, 6, "c", "d", "e", "f")]
    blocks, remaining = split_open(W[0], facts, 5, until=W[1])
    assert blocks == [] and remaining == Block(W[0], W[1], 8, 6, False), "six people, but this week is still running"
    blocks, remaining = split_open(W[0], facts, 5, until=W[2])
    assert blocks == [Block(W[0], W[1], 8, 6, True)] and remaining is None, "closed once the week has ended"


@pytest.mark.parametrize(("unseen", "closes_at"), [
    ([], 0),
    ([week(0, 1, "a")], None),
    ([week(0, 1, "a"), week(1, 2, "b", "c"), week(2, 2, "d", "e")], 2),
    ([week(0, 2)], None),
    ([week(0, 6, *"abcdef")], 0),
])
def test_a_block_waits_until_the_part_nobody_outside_counts_holds_nobody_or_k_people(
    unseen: list[WeekFacts], closes_at: int | None
) -> None:
    """Six people write in the first week; what everyone can count is the rest, so the total less it is the unseen
    part alone: one person's (or two's, or an erased person's, with nobody left behind it) never closes a block."""
    facts = [week(0, 6, *"abcdef"), week(1, 2, "b", "c"), week(2, 2, "d", "e")]
    blocks, _ = split_open(W[0], facts, 5, until=W[7], unseen=unseen)
    assert [b.last for b in blocks] == ([] if closes_at is None else [W[closes_at]])


def test_a_figure_is_the_sum_of_the_whole_blocks_inside_and_says_which_weeks() -> None:
    blocks = [Block(W[1], W[2], 9, 5, True), Block(W[3], W[3], 6, 5, True), Block(W[4], W[6], 2, 2, False)]
    whole = over_period(blocks, W[1], W[3], 5)
    assert (whole.value, whole.first, whole.last, whole.complete) == (15, W[1], W[3], True)
    cut = over_period(blocks, W[2], W[5], 5)
    assert (cut.value, cut.first, cut.last, cut.complete) == (6, W[3], W[3], False), "halves of blocks count nothing"
    before = over_period(blocks, W[0], W[0], 5)
    assert (before.value, before.complete) == (0, True), "before anyone took part: nothing to hide"
    assert over_period(blocks, W[4], W[6], 5).withheld, "the open stretch is not released"


def test_a_count_left_with_no_one_behind_it_is_withheld() -> None:
    """A week's count whose people erased their data before it was released: no one is left in its member set,
    and a figure of it would be what they did."""
    total = [Block(W[0], W[0], 9, 6, True)]
    assert beside_over_period(total, [Block(W[0], W[0], 1, 0, True)], W[0], W[0], 5).withheld
    assert parts_of_block(9, {"a": (8, 6), "b": (1, 0)}, 5) == {"a": None, "b": None}


@pytest.mark.parametrize(("people", "shown"), [(0, 0), (1, None), (4, None), (5, 3), (9, 3)])
def test_a_measure_beside_a_total_shows_where_each_block_has_none_or_k_of_its_people(
        people: int, shown: int | None) -> None:
    total = [Block(W[0], W[0], 9, 6, True), Block(W[1], W[2], 7, 5, True)]
    beside = [Block(W[0], W[0], 0, 0, True), Block(W[1], W[2], 3 if people else 0, people, True)]
    figure = beside_over_period(total, beside, W[0], W[2], 5)
    assert figure.value == shown and (figure.withheld or (figure.first, figure.last) == (W[0], W[2]))


def test_a_measure_beside_a_total_counted_only_from_a_week_covers_the_whole_blocks_after_it() -> None:
    total = [Block(W[0], W[1], 9, 6, True), Block(W[2], W[2], 7, 5, True), Block(W[3], W[3], 4, 5, True)]
    beside = [Block(W[2], W[2], 2, 5, True), Block(W[3], W[3], 5, 5, True)]
    figure = beside_over_period(total, beside, W[0], W[3], 5, since=W[1])
    assert (figure.value, figure.first, figure.last, figure.complete) == (7, W[2], W[3], False), \
        "the block that began before it was counted is left out"
    assert beside_over_period(total, beside, W[0], W[0], 5, since=W[1]).withheld


def test_a_withheld_figure_carries_no_value() -> None:
    figure = over_period([Block(W[0], W[0], 1234, 2, False)], W[0], W[0], 5)
    assert figure.value is None and "1234" not in figure.text()


@pytest.mark.parametrize("k", [2, 0, -1])
def test_k_cannot_go_below_three(k: int) -> None:
    with pytest.raises(InvalidGroupSize, match="below 3"):
        check_min_group(k)
    with pytest.raises(InvalidGroupSize):
        split_open(W[0], [], k, until=W[1])


@pytest.mark.parametrize(("parts", "shown"), [
    ({"private": (9, 6), "shared": (4, 5), "published": (0, 0)}, {"private": 9, "shared": 4, "published": 0}),
    ({"private": (9, 6), "shared": (1, 1), "published": (3, 5)}, {"private": 9, "shared": None, "published": None}),
    ({"private": (2, 2), "shared": (1, 1), "published": (0, 0)}, {"private": None, "shared": None, "published": 0}),
    ({"private": (5, 4), "shared": (7, 6), "published": (8, 7)}, {"private": None, "shared": None, "published": 8}),
])
def test_a_small_part_is_withheld_with_the_smallest_other(parts: dict, shown: dict) -> None:
    assert parts_of_block(sum(v for v, _ in parts.values()), parts, 5) == shown


def test_parts_that_do_not_add_up_to_the_total_are_all_withheld() -> None:
    assert parts_of_block(20, {"private": (9, 6), "shared": (4, 5)}, 5) == {"private": None, "shared": None}


def test_a_ratio_needs_both_figures_over_the_same_weeks() -> None:
    sent, answered = Figure(40, 5, W[0], W[3]), Figure(10, 5, W[0], W[3])
    assert ratio(answered, sent, 5).value == 25
    assert ratio(answered, Figure(40, 5, W[0], W[2]), 5).withheld
    assert ratio(withheld(5), sent, 5).withheld


def figures(**values: int) -> dict[str, Figure]:
    return {name: Figure(value, 5, W[0], W[3]) for name, value in values.items()}


@pytest.mark.parametrize(("now", "before", "expected"), [
    (Figure(12, 5, W[4], W[7]), Figure(15, 5, W[0], W[3]), "down"),  # over the same weeks: as they are
    (Figure(12, 5, W[6], W[7]), Figure(15, 5, W[0], W[2]), "up"),    # 6 a week against 5 a week
    (Figure(10, 5, W[6], W[7]), Figure(15, 5, W[0], W[2]), "flat"),
    (Figure(12, 5, W[6], W[7]), withheld(5), ""),
])
def test_a_headline_compares_figures_over_different_numbers_of_weeks_a_week_each(now: Figure, before: Figure,
                                                                                 expected: str) -> None:
    assert change(now, before) == expected


@pytest.mark.parametrize(("shown", "stage"), [
    ({}, "seeding"),
    ({"ratings": 20}, "consuming"),
    ({"ratings": 20, "links_shared": 6}, "contributing"),
    ({"ratings": 20, "links_shared": 6, "replies": 4}, "contributing"),
    ({"ratings": 20, "links_shared": 6, "replies": 8}, "exchanging"),
    ({"ratings": 20, "links_shared": 6, "replies": 8, "reflections.community": 5, "reflection_ratings": 3}, "co-creating"),
])
def test_maturity_stages_read_released_figures_only(shown: dict, stage: str) -> None:
    everything = {name: withheld(5) for name in ("ratings", "links_shared", "replies", "mentions",
                                                 "reflections.community", "reflection_ratings")}
    result = maturity({**everything, **figures(**shown)}, weeks=4)
    assert result.name == stage and result.reason and result.next_step


@pytest.mark.parametrize(("kind", "data", "counted"), [
    ("reflection", {"answered_prompt": True, "visibility": "community"},
     ["reflections", "reflections.community", "prompts_answered"]),
    ("reflection", {"answered_prompt": False, "visibility": "private"},
     ["reflections", "reflections.private", "reflections.unprompted", "reflections.private.unprompted"]),
    ("reflection", {"answered_prompt": True, "visibility": "nonsense"},
     ["reflections", "reflections.private", "prompts_answered", "reflections.private.prompted"]),
    ("reflection_shared", None, []),
    ("reflection_published", None, []),
    ("reflection_shared", {"later": True, "answered_prompt": True}, ["reflections.later.prompted"]),
    ("reflection_published", {"later": True, "answered_prompt": False}, ["reflections.later.unprompted"]),
    ("reflection_unseen", {"answered_prompt": True}, ["reflections.unseen.prompted"]),
])
def test_a_reflection_counts_once_in_each_split_and_sharing_it_later_adds_no_figure(
    kind: str, data: dict | None, counted: list[str]
) -> None:
    event = SimpleNamespace(kind=kind, actor_id="ann".ljust(26, "x"), item_id=None, data=data)
    found = contributions(event, None, b"k" * 32)
    assert [part.metric for part in found] == counted
    assert len({part.member for part in found}) == (1 if counted else 0), "the same person in every part"

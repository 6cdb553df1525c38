"""Scores rank by evidence: Bayesian averages for stars, Wilson lower bounds for votes."""

from __future__ import annotations

import math

import pytest

from learnloop.domain.ratings import NEUTRAL_STARS
from learnloop.domain.scores import (
    DEFAULT_PRIOR_WEIGHT,
    Prior,
    bayesian_average,
    community_prior,
    may_release,
    people_to_move,
    wilson_lower_bound,
)

# --------------------------------------------------------------------------- Prior


def test_default_prior_is_neutral_with_default_weight() -> None:
    assert Prior() == Prior(mean=3.0, weight=5.0)
    assert NEUTRAL_STARS == 3.0
    assert DEFAULT_PRIOR_WEIGHT == 5.0


# --------------------------------------------------------------------------- bayesian_average


@pytest.mark.parametrize(
    ("stars_sum", "count", "prior", "expected"),
    [
        # (5 * 3.0 + 0) / (5 + 0): no ratings -> the prior itself
        (0, 0, Prior(), 3.0),
        # (15 + 5) / (5 + 1) = 20 / 6
        (5, 1, Prior(), 3.333333),
        # (15 + 1) / 6 = 16 / 6
        (1, 1, Prior(), 2.666667),
        # forty ratings averaging 4.6: (15 + 184) / 45 = 199 / 45
        (184, 40, Prior(), 4.422222),
        # (2 * 4.0 + 10) / (2 + 2) = 18 / 4
        (10, 2, Prior(mean=4.0, weight=2.0), 4.5),
        # weight 0 -> the raw mean 14 / 4
        (14, 4, Prior(mean=3.0, weight=0.0), 3.5),
        # (10 * 3.5 + 45) / (10 + 10) = 80 / 20
        (45, 10, Prior(mean=3.5, weight=10.0), 4.0),
    ],
)
def test_bayesian_average_known_values(stars_sum: int, count: int, prior: Prior, expected: float) -> None:
    assert bayesian_average(stars_sum, count, prior) == pytest.approx(expected, abs=1e-6)


def test_single_five_star_ranks_below_forty_ratings_averaging_four_point_six() -> None:
    one_five = bayesian_average(5, 1, Prior())
    forty_at_4_6 = bayesian_average(184, 40, Prior())
    assert one_five < forty_at_4_6


def test_single_one_star_ranks_above_forty_ratings_averaging_one_point_five() -> None:
    assert bayesian_average(1, 1, Prior()) > bayesian_average(60, 40, Prior())


def test_more_ratings_at_the_same_mean_move_the_score_towards_that_mean() -> None:
    scores = [bayesian_average(5 * n, n, Prior()) for n in (1, 5, 20, 100, 1000)]
    assert scores == sorted(scores)
    assert scores[-1] == pytest.approx(5.0, abs=0.03)


def test_heavier_prior_pulls_harder_towards_its_mean() -> None:
    light = bayesian_average(10, 2, Prior(weight=1.0))
    heavy = bayesian_average(10, 2, Prior(weight=50.0))
    assert abs(heavy - 3.0) < abs(light - 3.0)


@pytest.mark.parametrize(("stars_sum", "count"), [(-1, 1), (5, -1), (-5, -1)])
def test_bayesian_average_rejects_negative_input(stars_sum: int, count: int) -> None:
    with pytest.raises(ValueError, match="cannot be negative"):
        bayesian_average(stars_sum, count, Prior())


# --------------------------------------------------------------------------- community_prior


def test_community_without_ratings_has_the_neutral_prior() -> None:
    assert community_prior(0, 0) == Prior(mean=3.0, weight=5.0)


def test_community_prior_with_few_ratings_stays_near_neutral() -> None:
    # two ratings of 5: (5 * 3.0 + 10) / (5 + 2) = 25 / 7
    prior = community_prior(10, 2)
    assert prior.mean == pytest.approx(25 / 7)
    assert prior.mean == pytest.approx(3.571429, abs=1e-6)
    assert 3.0 < prior.mean < 4.0


def test_community_prior_with_many_ratings_converges_to_the_community_mean() -> None:
    # 10 000 ratings averaging 4.0: (15 + 40 000) / 10 005
    prior = community_prior(40_000, 10_000)
    assert prior.mean == pytest.approx(4.0, abs=1e-3)
    assert prior.mean == pytest.approx(40_015 / 10_005)


def test_community_prior_below_neutral_is_pulled_up_with_few_ratings() -> None:
    # one rating of 1: (15 + 1) / 6
    assert community_prior(1, 1).mean == pytest.approx(16 / 6)


def test_community_prior_moves_monotonically_towards_the_community_mean() -> None:
    means = [community_prior(4 * n, n).mean for n in (0, 1, 10, 100, 1000)]
    assert means == sorted(means)
    assert all(3.0 <= mean < 4.0 for mean in means)


def test_community_prior_carries_its_weight() -> None:
    # (2 * 3.0 + 8) / (2 + 2) = 14 / 4
    prior = community_prior(8, 2, weight=2.0)
    assert prior == Prior(mean=3.5, weight=2.0)


@pytest.mark.parametrize(("total_stars", "total_ratings"), [(-1, 0), (0, -1), (-10, -2)])
def test_community_prior_rejects_negative_input(total_stars: int, total_ratings: int) -> None:
    with pytest.raises(ValueError, match="cannot be negative"):
        community_prior(total_stars, total_ratings)


def test_community_prior_feeds_bayesian_average() -> None:
    prior = community_prior(40_000, 10_000)
    # an unrated item in a community that averages 4 scores about 4, not 3
    assert bayesian_average(0, 0, prior) == pytest.approx(4.0, abs=1e-3)


# --------------------------------------------------------------------------- wilson_lower_bound


def evan_miller(positive: int, total: int, z: float = 1.96) -> float:
    """Evan Miller, "How Not To Sort By Average Rating" (2009), written out independently:

    (p̂ + z²/2n − z·√[(p̂(1 − p̂) + z²/4n) / n]) / (1 + z²/n)
    """
    p_hat = positive / total
    return (p_hat + z**2 / (2 * total) - z * math.sqrt((p_hat * (1 - p_hat) + z**2 / (4 * total)) / total)) / (
        1 + z**2 / total
    )


@pytest.mark.parametrize(
    ("positive", "total"),
    [(1, 1), (1, 2), (3, 4), (8, 10), (40, 50), (90, 100), (500, 1000), (999, 1000), (5, 5)],
)
def test_wilson_matches_evan_millers_formula(positive: int, total: int) -> None:
    assert wilson_lower_bound(positive, total) == pytest.approx(evan_miller(positive, total), abs=1e-12)


@pytest.mark.parametrize("z", [1.0, 1.645, 2.576])
def test_wilson_matches_evan_millers_formula_for_other_confidence_levels(z: float) -> None:
    assert wilson_lower_bound(7, 9, z=z) == pytest.approx(evan_miller(7, 9, z=z), abs=1e-12)


@pytest.mark.parametrize(
    ("positive", "total", "expected"),
    [
        # p=1, n=1, z²=3.8416: (1 + 1.9208 − 1.96·0.98) / 4.8416 = 1 / 4.8416
        (1, 1, 0.2065),
        # p=.8, n=10: (0.99208 − 1.96·√0.025604) / 1.38416 = 0.678456 / 1.38416
        (8, 10, 0.4902),
        # p=.9, n=100: (0.919208 − 1.96·√0.00099604) / 1.038416
        (90, 100, 0.8256),
    ],
)
def test_wilson_literal_values(positive: int, total: int, expected: float) -> None:
    assert round(wilson_lower_bound(positive, total), 4) == expected


@pytest.mark.parametrize("positive", [0, 3])
def test_wilson_with_no_votes_is_zero(positive: int) -> None:
    assert wilson_lower_bound(positive, 0) == 0.0


def test_wilson_with_no_positive_votes_is_zero() -> None:
    assert wilson_lower_bound(0, 10) == pytest.approx(0.0, abs=1e-12)


def test_wilson_is_never_negative() -> None:
    assert wilson_lower_bound(0, 10) >= 0.0


@pytest.mark.parametrize(("positive", "total"), [(11, 10), (2, 1), (-1, 10)])
def test_wilson_rejects_positive_outside_zero_to_total(positive: int, total: int) -> None:
    with pytest.raises(ValueError, match="between 0 and the total"):
        wilson_lower_bound(positive, total)


@pytest.mark.parametrize("ratio", [0.5, 0.8, 1.0])
def test_wilson_grows_with_evidence_at_a_fixed_ratio(ratio: float) -> None:
    totals = [1, 2, 5, 10, 50, 100, 1000, 10_000]
    bounds = [wilson_lower_bound(round(ratio * n), n) for n in totals if (ratio * n).is_integer()]
    assert len(bounds) >= 5
    assert all(earlier < later for earlier, later in zip(bounds, bounds[1:], strict=False))


@pytest.mark.parametrize(("positive", "total"), [(0, 1), (1, 1), (8, 10), (999, 1000), (10_000, 10_000)])
def test_wilson_is_below_the_observed_ratio_and_within_zero_to_one(positive: int, total: int) -> None:
    bound = wilson_lower_bound(positive, total)
    assert -1e-12 <= bound <= positive / total
    assert bound < 1.0


def test_wilson_ranks_one_upvote_below_many_mostly_positive_votes() -> None:
    assert wilson_lower_bound(1, 1) < wilson_lower_bound(90, 100)


@pytest.mark.parametrize(("stored", "changed_by", "ratings", "released"), [
    (None, 4, 4, False),    # fewer than k people rated it: nothing shown
    (None, 5, 5, True),     # the first score, from k people
    (5, 1, 6, False),       # one more rating: the score would show its stars
    (5, 4, 9, False),       # k-1 people changed it since
    (5, 5, 10, True),       # k people changed it since (new raters or re-ratings alike)
    (3, 1, 5, False),       # stored while k was smaller (someone may have seen it): k changes, not k raters
    (3, 5, 8, True),
    (200, 19, 219, False),  # a score from many ratings moves once a tenth of them changed
    (200, 20, 220, True),
])
def test_a_shown_score_moves_only_once_k_people_changed_it(stored: int | None, changed_by: int, ratings: int,
                                                           released: bool) -> None:
    assert may_release(stored, changed_by, ratings, 5) is released


@pytest.mark.parametrize(("stored", "changed_by", "ratings", "released"), [
    (5, 5, 5, True),        # k people re-rated it: the number of raters stays
    (5, 5, 6, False),       # k people changed it, one of them new: "from 6 ratings" would tell one person rated it
    (5, 9, 9, False),       # four new raters
    (10, 9, 9, False),      # one erased her rating, the other nine re-rated
    (10, 5, 5, True),       # five erased theirs, the five left re-rated
    (10, 6, 10, True),      # one erased, one new: the number stays
    (3, 5, 5, False),       # stored while k was smaller: two more raters than someone may have seen
    (3, 5, 7, False),
    (200, 20, 203, False),  # a tenth of them changed it, three of them new
    (200, 20, 200, True),
])
def test_the_number_of_raters_shown_moves_by_none_or_by_at_least_k(stored: int, changed_by: int, ratings: int,
                                                                   released: bool) -> None:
    assert may_release(stored, changed_by, ratings, 5) is released


def test_people_to_move_a_score_grow_with_the_people_behind_it() -> None:
    assert [people_to_move(n, 5) for n in (5, 49, 50, 51, 1000)] == [5, 5, 5, 6, 100]

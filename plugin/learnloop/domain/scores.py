"""Small-sample-aware scores: rank by evidence, never by a raw mean.

A page rated 5 once must not outrank one rated 4.6 by forty people. Star ratings use a
Bayesian average that pulls items with few ratings towards the community's prior; binary
(helpful / not helpful) signals use the lower bound of the Wilson score interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from learnloop.domain.ratings import NEUTRAL_STARS

DEFAULT_PRIOR_WEIGHT = 5.0


@dataclass(frozen=True)
class Prior:
    """What the community believes about an item before it has ratings of its own."""

    mean: float = NEUTRAL_STARS
    weight: float = DEFAULT_PRIOR_WEIGHT


def community_prior(total_stars: int, total_ratings: int, weight: float = DEFAULT_PRIOR_WEIGHT) -> Prior:
    """The community's mean rating, itself pulled towards the middle of the scale while the
    community has few ratings (so one early 5 does not become everyone's prior)."""
    if total_ratings < 0 or total_stars < 0:
        raise ValueError("rating sums and counts cannot be negative")
    return Prior((weight * NEUTRAL_STARS + total_stars) / (weight + total_ratings), weight)


def bayesian_average(stars_sum: int, count: int, prior: Prior) -> float:
    if count < 0 or stars_sum < 0:
        raise ValueError("rating sums and counts cannot be negative")
    return (prior.weight * prior.mean + stars_sum) / (prior.weight + count)


def wilson_lower_bound(positive: int, total: int, z: float = 1.96) -> float:
    if total <= 0:
        return 0.0
    if not 0 <= positive <= total:
        raise ValueError("positive votes must be between 0 and the total")
    p = positive / total
    z2 = z * z
    centre = p + z2 / (2 * total)
    margin = z * math.sqrt(p * (1 - p) / total + z2 / (4 * total * total))
    return max(0.0, (centre - margin) / (1 + z2 / total))


REBASE_TOLERANCE = 0.01
"""How far (in stars) a community's mean may drift from the mean its stored item scores were computed
with before they are all recomputed; until then a ranking reads a few more rows instead."""


def score_drift(weight: float, stored_mean: float, mean: float) -> float:
    """The most any rated item's score can differ from the score stored for it with `stored_mean`,
    now that the prior mean is `mean`: C·|m - m0| / (C + n), largest at n = 1."""
    return weight * abs(mean - stored_mean) / (weight + 1)


def needs_rebase(stored_mean: float | None, mean: float) -> bool:
    return stored_mean is None or abs(mean - stored_mean) > REBASE_TOLERANCE


def ranking_settled(best: list[float], wanted: int, unread_at_most: float) -> bool:
    """Whether the top `wanted` of `best` (scores, highest first) can no longer change: every item not
    read yet scores at most `unread_at_most`, strictly below the last of them (a tie must be read)."""
    return len(best) >= wanted and best[wanted - 1] > unread_at_most + 1e-9

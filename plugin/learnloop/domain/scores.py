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
with before they are all recomputed; until then each newly released score is computed with the stored one."""


def needs_rebase(stored_mean: float | None, mean: float) -> bool:
    return stored_mean is None or abs(mean - stored_mean) > REBASE_TOLERANCE


MOVE_SHARE = 0.1
"""A score from many ratings moves once this share of them changed, if that is more than k people: ten more
ratings hardly move a score from a thousand, and each move reads all of an item's ratings."""


def people_to_move(shown_ratings: int, k: int) -> int:
    """How many people must rate or re-rate an item before its shown score moves."""
    return max(k, math.ceil(shown_ratings * MOVE_SHARE))


def shown(shown_ratings: int | None, k: int) -> bool:
    """Whether a stored score is shown: at least k people stand behind it (one stored while k was smaller may
    stand for fewer)."""
    return shown_ratings is not None and shown_ratings >= k


def raters_may_move(stored_ratings: int | None, ratings: int, k: int) -> bool:
    """Whether the number of an item's raters may go from the stored one to `ratings`: by none or by at least k,
    either way (the first number shown needs k people anyway)."""
    return stored_ratings is None or ratings == stored_ratings or abs(ratings - stored_ratings) >= k


def may_release(stored_ratings: int | None, changed_by: int, ratings: int, k: int) -> bool:
    """Whether an item's totals may be shown as they are now. `changed_by`: the people who rated or re-rated it
    since its totals were last stored (all its raters, if they never were); `ratings`: all its raters. The
    first score needs k people; after that it moves only once `people_to_move` have changed it, so the
    difference of two scores seen one after the other is never one person's rating (the query-history guard of
    TalentMap, applied to each item), and its number of raters stays or moves by at least k, so that number never
    tells that fewer than k people newly rated it or erased their ratings. Totals stored but not shown (k was
    smaller then) move only once k people changed them, and their number by k, too: someone may have seen them
    under the smaller k."""
    if not raters_may_move(stored_ratings, ratings, k):
        return False
    if not shown(stored_ratings, k):
        return ratings >= k and changed_by >= k
    assert stored_ratings is not None
    return changed_by >= people_to_move(stored_ratings, k)

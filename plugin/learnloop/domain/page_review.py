"""Pages and their owners, as pure rules: the feedback triage states, when a page needs its owners' review,
its score and trend (both k-guarded), and the review interval the owners set.

A page needs review when
- at least REASONS_TO_FLAG different people gave an open "outdated" or "broken link" reason for it;
- its shown score dropped by at least SCORE_DROP when it last moved, within the last four weeks (a trend exists
  only under the k rules of `trend`), unless an owner reviewed it within those four weeks;
- it is a wiki page not reviewed within the community's interval (by default 180 days), counted from when
  learnloop first saw it while nobody has reviewed it yet.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from learnloop.domain.measures import week_of
from learnloop.domain.network import DM_WINDOW
from learnloop.domain.scores import Prior, bayesian_average

FEEDBACK_STATES: dict[str, str] = {"new": "New", "planned": "Planned", "resolved": "Resolved", "hidden": "Hidden"}
"""Triage states of a comment or reason, as Document360's feedback manager and Wikipedia's Article Feedback
Tool had them: new until an owner looks, planned while a fix is on its way, then resolved or hidden."""
OPEN_STATES = ("new", "planned")
"""Feedback still waiting for a fix: it counts towards a page's review and follows a page that moves."""
REVIEW_REASONS = ("outdated", "broken_link")
"""The reasons that say the page itself needs its owners, not only a better explanation."""
REASONS_TO_FLAG = 3
SCORE_WINDOW = timedelta(weeks=4)
SCORE_DROP = 0.5
"""Stars (on the 1-5 scale) a page's score must lose when it last moved, within four weeks, to need review."""
FLAT = 0.1
"""A change of less than this many stars either way is "about the same"."""
DEFAULT_INTERVAL_DAYS = 180
MIN_INTERVAL_DAYS = 7
MAX_INTERVAL_DAYS = 730
EARLIEST_MONDAY = timedelta(hours=14)
"""Monday begins this long before Monday 00:00 UTC somewhere (UTC+14): a week's review list is worked out then,
before any owner's Monday moment, wherever they are."""
LATEST_MONDAY_END = timedelta(hours=36)
"""Monday ends this long after Monday 00:00 UTC everywhere (at UTC-12)."""
_INTERVAL = re.compile(r"(\d{1,4})\s*([dw])")


class ReviewRefused(ValueError):
    """A change to pages, owners or feedback that cannot be made; the message says why, for the person."""


def parse_state(value: object) -> str:
    text = str(value or "").strip().lower()
    if text not in FEEDBACK_STATES:
        raise ReviewRefused(f"'{text[:20]}' is not a feedback state: use one of {', '.join(FEEDBACK_STATES)}")
    return text


def parse_interval(text: str) -> int:
    """'180d' or '26w' as days, between MIN_INTERVAL_DAYS and MAX_INTERVAL_DAYS."""
    found = _INTERVAL.fullmatch(text.strip().lower())
    if not text.strip():
        raise ReviewRefused("the interval is missing: use days or weeks, for example 180d or 26w")
    if found is None:
        raise ReviewRefused(f"'{text[:20]}' is not an interval: use days or weeks, for example 180d or 26w")
    days = int(found.group(1)) * (7 if found.group(2) == "w" else 1)
    if not MIN_INTERVAL_DAYS <= days <= MAX_INTERVAL_DAYS:
        raise ReviewRefused(f"{days} days is outside what learnloop takes: from {MIN_INTERVAL_DAYS} days to "
                            f"{MAX_INTERVAL_DAYS} days (two years)")
    return days


def review_week(now: datetime) -> date:
    """The Monday of the week whose review list is due by `now` (UTC)."""
    return week_of(now + EARLIEST_MONDAY)


def owners_may_be_due(now: datetime) -> bool:
    """Whether any owner anywhere can be due their weekly message: from Monday 00:00 at UTC+14 (Sunday 10:00
    UTC) until the message window closes after Monday 23:59 at UTC-12 (Wednesday 00:00 UTC). The rest of the
    week nobody is, and the worker reads nothing for it."""
    opens = datetime.combine(review_week(now), time(0), UTC) - EARLIEST_MONDAY
    return opens <= now < opens + EARLIEST_MONDAY + LATEST_MONDAY_END + DM_WINDOW


@dataclass(frozen=True)
class Totals:
    stars_sum: int
    ratings: int


@dataclass(frozen=True)
class Trend:
    before: float
    direction: str
    """"up", "down" or "flat"."""


def score(now: Totals, prior: Prior, k: int) -> float | None:
    """The small-sample-aware score, once at least k people rated; None is "too early to tell"."""
    return bayesian_average(now.stars_sum, now.ratings, prior) if now.ratings >= k else None


def trend(now: Totals, before: Totals | None, prior: Prior, k: int) -> Trend | None:
    """The shown score against the one shown before it last moved (both with today's community prior, so only
    the page's own ratings move it). Shown scores move only once k people have changed them, so the difference
    describes at least k people; there is none until a score has moved once from one k people stood behind."""
    if before is None or now.ratings < k or before.ratings < k:
        return None
    then = bayesian_average(before.stars_sum, before.ratings, prior)
    change = bayesian_average(now.stars_sum, now.ratings, prior) - then
    return Trend(then, "flat" if abs(change) < FLAT else "up" if change > 0 else "down")


@dataclass(frozen=True)
class Why:
    reasons: bool
    score_drop: bool
    overdue: bool

    def __bool__(self) -> bool:
        return self.reasons or self.score_drop or self.overdue


def needs_review(*, reason_people: int, now_score: float | None, change: Trend | None, is_page: bool,
                 last_reviewed: datetime | None, reviewed_at: datetime | None, interval_days: int,
                 now: datetime) -> Why:
    """Why a page needs its owners this week (falsy when it does not); `last_reviewed` None: no review interval
    runs yet."""
    recently_reviewed = reviewed_at is not None and reviewed_at > now - SCORE_WINDOW
    dropped = (change is not None and now_score is not None and change.before - now_score >= SCORE_DROP
               and not recently_reviewed)
    return Why(reasons=reason_people >= REASONS_TO_FLAG, score_drop=dropped,
               overdue=is_page and last_reviewed is not None and last_reviewed < now - timedelta(days=interval_days))


def page_owners(named: set[str], space: set[str], declined: set[str]) -> tuple[Literal["page", "space", "community"],
                                                                              list[str]]:
    """Who hears about a page: its own owners; else its space's owners, but for those who said this page is
    not theirs; else ("community", []) its community's owners."""
    if named:
        return "page", sorted(named)
    left = space - declined
    if left:
        return "space", sorted(left)
    return "community", []

"""Rate a piece of content: one rating per person per item, rating again replaces it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from learnloop.config import Settings
from learnloop.domain.ratings import clean_comment, parse_stars
from learnloop.domain.scores import bayesian_average, community_prior
from learnloop.domain.urls import normalise_url
from learnloop.services.communities import community_for_channel
from learnloop.services.content_kinds import classify_url
from learnloop.storage.tables import ContentItem, Feedback, Rating
from learnloop.storage.unit_of_work import UnitOfWork


class UnknownItem(LookupError):
    """The item a button or widget refers to no longer exists."""


@dataclass(frozen=True)
class Rater:
    """Who is rating, and from which channel; the user id is asserted by Mattermost."""

    user_id: str
    channel_id: str
    team_id: str | None = None
    channel_name: str | None = None


@dataclass(frozen=True)
class RatingOutcome:
    item_id: int
    url: str
    title: str | None
    stars: int
    previous_stars: int | None
    score: float
    ratings_count: int
    feedback_saved: bool


def rate_url(
    uow: UnitOfWork, settings: Settings, rater: Rater, raw_url: str, stars: object, comment: str | None,
    now: datetime,
) -> RatingOutcome:
    """Rate whatever a URL names, creating the item on first sight. Raises InvalidUrl/InvalidRating."""
    url = normalise_url(raw_url)
    value = parse_stars(stars)
    text = clean_comment(comment)
    community = community_for_channel(
        uow, settings, channel_id=rater.channel_id, team_id=rater.team_id, channel_name=rater.channel_name, now=now
    )
    item, _ = uow.items.ensure(
        url, kind=classify_url(url, settings), community_id=community.id, shared_by=rater.user_id, title=None, now=now
    )
    return _record(uow, settings, rater, item.id, value, text, now)


def rate_item(
    uow: UnitOfWork, settings: Settings, rater: Rater, item_id: int, stars: object, comment: str | None,
    now: datetime,
) -> RatingOutcome:
    """Rate a known item (a button or the wiki widget names it by id). Raises UnknownItem/InvalidRating."""
    value = parse_stars(stars)
    text = clean_comment(comment)
    community_for_channel(
        uow, settings, channel_id=rater.channel_id, team_id=rater.team_id, channel_name=rater.channel_name, now=now
    )
    return _record(uow, settings, rater, item_id, value, text, now)


def _record(
    uow: UnitOfWork, settings: Settings, rater: Rater, item_id: int, stars: int, comment: str | None,
    now: datetime,
) -> RatingOutcome:
    item = uow.items.get(item_id, for_update=True)
    if item is None:
        raise UnknownItem(f"item {item_id} does not exist")
    rater_community = uow.communities.by_channel(rater.channel_id)
    rating = uow.ratings.of(item.id, rater.user_id)
    previous = rating.stars if rating else None
    if rating is None:
        uow.ratings.add(Rating(item_id=item.id, user_id=rater.user_id, stars=stars,
                               community_id=rater_community.id if rater_community else None,
                               created_at=now, updated_at=now))
        stars_delta, count_delta = stars, 1
    else:
        rating.stars, rating.updated_at = stars, now
        stars_delta, count_delta = stars - previous, 0
    uow.items.add_to_rating_totals(item, stars_delta, count_delta)
    if item.community_id is not None:
        uow.communities.add_to_rating_totals(item.community_id, stars_delta, count_delta)
    uow.events.append(
        "rating", occurred_at=now, recorded_at=now, community_id=item.community_id, actor_id=rater.user_id,
        item_id=item.id, data={"stars": stars, "previous": previous},
    )
    if comment:
        uow.feedback.add(Feedback(item_id=item.id, community_id=item.community_id, author_id=rater.user_id,
                                  stars=stars, comment=comment, status="open", created_at=now))
    uow.flush()
    outcome = RatingOutcome(
        item_id=item.id, url=item.url, title=item.title, stars=stars, previous_stars=previous,
        score=_score(uow, item), ratings_count=item.ratings_count, feedback_saved=comment is not None,
    )
    uow.commit()
    return outcome


def _score(uow: UnitOfWork, item: ContentItem) -> float:
    community = uow.communities.get(item.community_id) if item.community_id is not None else None
    prior = community_prior(community.stars_sum, community.ratings_count) if community else community_prior(0, 0)
    return bayesian_average(item.stars_sum, item.ratings_count, prior)

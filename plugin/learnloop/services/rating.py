"""Rate a piece of content: one rating per person per item, rating again replaces it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from learnloop.config import Settings
from learnloop.domain.ratings import LOW_STARS, InvalidRating, clean_comment, parse_reason, parse_stars
from learnloop.domain.urls import normalise_url
from learnloop.services.communities import community_for_channel, is_direct_channel
from learnloop.services.content_kinds import classify_url
from learnloop.storage.repositories import RateableItem
from learnloop.storage.unit_of_work import UnitOfWork


class UnknownItem(LookupError):
    """The item a button or widget refers to no longer exists."""


class RetiredItem(InvalidRating, UnknownItem):
    """The page was deleted from its wiki, so it is not rated any more (its ratings stay, for when it is
    restored). Both an InvalidRating and an UnknownItem, so every place that refuses either refuses this too;
    the message says why."""

    def __init__(self, url: str) -> None:
        super().__init__(f"{url} was deleted from the wiki, so it can no longer be rated")
        self.url = url


@dataclass(frozen=True)
class Rater:
    """Who is rating, and from which channel; the user id is asserted by Mattermost."""

    user_id: str
    channel_id: str | None = None
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
    """The item's shown score and how many ratings it is from (0: none shown yet); not moved by this rating
    until k people have changed it (domain.scores.may_release)."""
    feedback_saved: bool
    shared_by_someone_else: bool = False
    """Someone other than the rater shared it: the rater may thank them."""
    reflection: bool = False
    """A colleague's shared reflection: its score is shown to nobody (its post names its author), as
    `no_reflection_score` says."""


def no_reflection_score(k: int) -> str:
    """What a rater sees instead of a shared reflection's score, in chat and on the pages."""
    return (f"A shared reflection shows no score: it is a colleague's own writing. Its author hears when {k} people "
            "have found it useful, never who.")


def rate_url(
    uow: UnitOfWork, settings: Settings, rater: Rater, raw_url: str, stars: object, comment: str | None,
    now: datetime,
) -> RatingOutcome:
    """Rate whatever a URL names, creating the item on first sight. Raises InvalidUrl/InvalidRating."""
    url = normalise_url(raw_url)
    value = parse_stars(stars)
    text = clean_comment(comment)
    item = uow.items.rateable_by_url(url)
    if item is None:  # first sight: the item belongs to the rater's community
        kind = classify_url(url, settings)
        ref, created = uow.items.ensure(url, kind=kind, shared_by=None, title=None, now=now,
                                        community_id=_rater_community(uow, settings, rater, now))
        item = (RateableItem(ref.id, ref.url, ref.title, ref.community_id, None, None, False, None, None, False, kind)
                if created else uow.items.rateable(ref.id))
        assert item is not None
    if _retired_for_all(item):
        raise RetiredItem(item.url)
    return _record(uow, rater, item, value, text, now)


def _retired_for_all(item: RateableItem) -> bool:
    """Deleted from its wiki, and everyone can know the page was there. A page known only from someone's
    private rating is rated as if learnloop had never heard of it: refusing would tell that someone had."""
    return item.retired_at is not None and item.known


def rate_item(
    uow: UnitOfWork, settings: Settings, rater: Rater, item_id: int, stars: object, comment: str | None,
    now: datetime,
) -> RatingOutcome:
    """Rate a known item (a button or the wiki widget names it by id). Raises UnknownItem/InvalidRating, and
    RetiredItem (both) for a page deleted from its wiki."""
    value = parse_stars(stars)
    text = clean_comment(comment)
    item = uow.items.rateable(item_id)
    if item is None:
        raise UnknownItem(f"item {item_id} does not exist")
    if _retired_for_all(item):
        raise RetiredItem(item.url)
    return _record(uow, rater, item, value, text, now)


def _rater_community(uow: UnitOfWork, settings: Settings, rater: Rater, now: datetime) -> int | None:
    """The channel's community; a rating from the wiki page itself, or from a direct message, comes from none."""
    if not rater.channel_id or is_direct_channel(rater.channel_name):
        return None
    return community_for_channel(
        uow, settings, channel_id=rater.channel_id, team_id=rater.team_id, channel_name=rater.channel_name, now=now
    )


def _record(uow: UnitOfWork, rater: Rater, item: RateableItem, stars: int, comment: str | None,
            now: datetime) -> RatingOutcome:
    """The rating, the event and any feedback: one transaction. The item's shown score moves later, when a week
    ends, once enough people have changed it (services.rollups.close_ended_weeks)."""
    previous = uow.ratings.put(item.id, rater.user_id, stars, rater.channel_id or None, now)
    uow.events.append(
        "rating", occurred_at=now, recorded_at=now, community_id=item.community_id, actor_id=rater.user_id,
        item_id=item.id, data={"stars": stars, "previous": previous},
    )
    if comment:
        uow.feedback.record(item_id=item.id, community_id=item.community_id, author_id=rater.user_id, stars=stars,
                            comment=comment, now=now)
    uow.commit()
    return RatingOutcome(
        item_id=item.id, url=item.url, title=item.title, stars=stars, previous_stars=previous,
        score=item.shown_score or 0.0, ratings_count=item.shown_ratings or 0, feedback_saved=comment is not None,
        shared_by_someone_else=item.shared and item.shared_by != rater.user_id, reflection=item.kind == "reflection",
    )


@dataclass(frozen=True)
class Standing:
    """An item as a person sees it: their own rating, and its shown score and count (0: none shown yet)."""

    item_id: int
    url: str
    title: str | None
    my_stars: int | None
    score: float
    ratings_count: int
    retired: bool = False
    """The page was deleted from its wiki: shown, but no longer rateable."""
    my_reason: str | None = None
    shared_by_someone_else: bool = False
    reflection: bool = False
    """As RatingOutcome.reflection: its score is shown to nobody."""


def standing(uow: UnitOfWork, url: str, user_id: str) -> Standing | None:
    """The item at a normalised URL as this person sees it; None for a page nobody rated or shared."""
    item = uow.items.rateable_by_url(url)
    if item is None:
        return None
    mine = uow.ratings.of(item.id, user_id)
    if item.retired_at is not None and not item.known and mine is None:
        return None  # as for a page nobody rated: _retired_for_all
    reason = uow.feedback.open_reason(item.id, user_id) if mine and mine.stars <= LOW_STARS else None
    return Standing(item.id, item.url, item.title, mine.stars if mine else None, item.shown_score or 0.0,
                    item.shown_ratings or 0, retired=_retired_for_all(item), reflection=item.kind == "reflection",
                    my_reason=reason.reason if reason else None,
                    shared_by_someone_else=item.shared and item.shared_by != user_id)


def give_reason(uow: UnitOfWork, user_id: str, url: str, reason: object, note: str | None, now: datetime) -> None:
    """The reason (and optional private note) for this person's low rating of a page. Giving one again replaces
    the open one, so each person counts once per page. Raises InvalidRating/InvalidUrl; the same one whether or
    not anyone else rated the page, which is not this person's to know."""
    chosen = parse_reason(reason)
    text = clean_comment(note) or ""
    item = uow.items.by_url(normalise_url(url))
    mine = uow.ratings.of(item.id, user_id) if item is not None else None
    if item is None or mine is None or mine.stars > LOW_STARS:
        raise InvalidRating(f"a reason goes with your own rating of {LOW_STARS} or less")
    given = uow.feedback.open_reason(item.id, user_id)
    if given is None:
        uow.feedback.record(item_id=item.id, community_id=item.community_id, author_id=user_id, stars=mine.stars,
                            comment=text, now=now, reason=chosen)
    else:
        given.reason, given.comment, given.stars, given.created_at = chosen, text, mine.stars, now
    uow.commit()

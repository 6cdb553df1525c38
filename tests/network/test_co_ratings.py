"""Co-ratings kept from the rating events equal those counted from the ratings themselves, whatever order the
ratings came in and after a community joins another, and a person who erases their data leaves them."""

from __future__ import annotations

import random
from collections import Counter

from sqlalchemy import select

from learnloop.bootstrap import Runtime
from learnloop.domain.measures import member_key
from learnloop.domain.network import LIKES_KEPT, USEFUL, pairs
from learnloop.mattermost.wiki_messages import announcer
from learnloop.services import communities, personal_data
from learnloop.services.network.co_ratings import apply_co_fold, fold_co_ratings, read_co_fold
from learnloop.services.rating import Rater, rate_url
from learnloop.storage.tables import ContentItem, CoRating, CoRatingLike, Rating
from tests.conftest import FakeClock
from tests.network.world import CHANNEL, rate, uid

URL = "https://wiki.acme.example/page{}"
ALPHA, ALPHA_URL = "alphachannel00000000000000", "https://blog.example.com/post{}"


def stored(runtime: Runtime) -> dict[tuple[int, int], int]:
    """Each pair's people, in all communities together."""
    together: Counter[tuple[int, int]] = Counter()
    with runtime.reader() as uow:
        for a, b, n in uow.session.execute(select(CoRating.item_a, CoRating.item_b, CoRating.people)):
            together[(a, b)] += n
    return dict(together)


def counted(runtime: Runtime) -> dict[tuple[int, int], int]:
    """Each person's LIKES_KEPT most recently rated useful items, paired, from the ratings table."""
    with runtime.reader() as uow:
        rows = uow.session.execute(
            select(Rating.user_id, Rating.item_id).join(ContentItem, ContentItem.id == Rating.item_id)
            .where(Rating.stars >= USEFUL).order_by(Rating.user_id, Rating.updated_at.desc(), Rating.item_id.desc()))
        liked: dict[str, list[int]] = {}
        for user, item in rows:
            liked.setdefault(user, []).append(item)
    together: Counter[tuple[int, int]] = Counter()
    for items in liked.values():
        together.update(pairs(items[:LIKES_KEPT]))
    return dict(together)


def fold(runtime: Runtime, clock: FakeClock) -> int:
    clock.advance(minutes=1)
    return fold_co_ratings(runtime.uow, runtime.signing_key, clock.now, reader=runtime.reader)


def test_kept_incrementally_equals_counted_from_the_ratings(runtime: Runtime, clock: FakeClock) -> None:
    chance = random.Random(7)
    assert fold(runtime, clock) == 0, "the first pass starts from the ratings table (empty here)"
    for round_ in range(4):
        for _ in range(60):
            clock.advance(seconds=1)
            rate(runtime, uid(f"p{chance.randrange(12)}"), URL.format(chance.randrange(10)), chance.randint(1, 5))
        assert fold(runtime, clock) == 60, f"round {round_}: every new rating folded once"
        assert stored(runtime) == {pair: n for pair, n in counted(runtime).items() if n}
    assert fold(runtime, clock) == 0


def test_a_database_with_ratings_from_before_is_counted_once_from_the_table(runtime: Runtime, clock: FakeClock) -> None:
    for person in range(6):
        for page in range(3):
            rate(runtime, uid(f"p{person}"), URL.format(page), 5)
    assert fold(runtime, clock) == 0, "counted from the ratings table, not replayed"
    assert stored(runtime) == counted(runtime) and set(stored(runtime).values()) == {6}
    rate(runtime, uid("p0"), URL.format(1), 2)
    assert fold(runtime, clock) == 1
    assert stored(runtime) == counted(runtime)


def test_only_the_most_recent_useful_items_pair_up(runtime: Runtime, clock: FakeClock) -> None:
    fold(runtime, clock)
    for page in range(LIKES_KEPT + 5):
        clock.advance(seconds=1)
        rate(runtime, uid("heavy"), URL.format(page), 5)
    fold(runtime, clock)
    with runtime.reader() as uow:
        assert len(list(uow.session.scalars(select(CoRatingLike.item_id)))) == LIKES_KEPT
    assert len(stored(runtime)) == LIKES_KEPT * (LIKES_KEPT - 1) // 2


def test_a_person_who_erases_their_data_leaves_the_co_ratings(runtime: Runtime, clock: FakeClock) -> None:
    fold(runtime, clock)
    for person in ("a", "b"):
        for page in range(3):
            rate(runtime, uid(person), URL.format(page), 5)
    fold(runtime, clock)
    assert set(stored(runtime).values()) == {2}
    with runtime.uow() as uow:
        personal_data.erase(uow, uid("a"), "a", clock.now, runtime.signing_key, announcer(runtime))
    assert set(stored(runtime).values()) == {1} and stored(runtime) == counted(runtime)
    with runtime.reader() as uow:
        assert len(list(uow.session.scalars(select(CoRatingLike.item_id)))) == 3
    fold(runtime, clock)
    assert stored(runtime) == counted(runtime)


def test_an_erase_while_the_worker_folds_leaves_nothing_of_the_person(runtime: Runtime, clock: FakeClock) -> None:
    fold(runtime, clock)
    for person in ("a", "b"):
        for page in range(3):
            rate(runtime, uid(person), URL.format(page), 5)
    clock.advance(minutes=1)
    with runtime.reader() as uow:  # the worker has read the ratings, not written the co-ratings yet
        found = read_co_fold(uow, runtime.signing_key, clock.now)
    assert found is not None and found.size == 6
    with runtime.uow() as uow:
        personal_data.erase(uow, uid("a"), "a", clock.now, runtime.signing_key, announcer(runtime))
    with runtime.uow() as uow:
        assert not apply_co_fold(uow, found, clock.now), "read before the erase: not written"
    fold(runtime, clock)
    assert stored(runtime) == counted(runtime) and set(stored(runtime).values()) == {1}
    with runtime.reader() as uow:
        assert member_key(uid("a"), runtime.signing_key) not in set(uow.session.scalars(select(CoRatingLike.member)))


def test_after_a_join_the_co_ratings_kept_equal_those_counted_from_the_ratings(runtime: Runtime,
                                                                                clock: FakeClock) -> None:
    """A join moves the ratings: the pairs counted under the community that joined stayed there for ever (and led
    to suggestions nobody shared any more), and its people were counted again under the joined one."""
    chance = random.Random(11)

    def ratings(count: int) -> None:
        for _ in range(count):
            clock.advance(seconds=1)
            person, page, stars = uid(f"p{chance.randrange(12)}"), chance.randrange(8), chance.randint(1, 5)
            if chance.random() < 0.5:
                rate(runtime, person, URL.format(page), stars)
                continue
            with runtime.uow() as uow:
                rate_url(uow, runtime.settings, Rater(person, ALPHA, channel_name="alpha"), ALPHA_URL.format(page),
                         stars, None, clock.now)

    fold(runtime, clock)
    ratings(150)
    fold(runtime, clock)
    ratings(20)  # not folded yet as the channel joins
    with runtime.uow() as uow:
        joined = communities.join(uow, runtime.settings, channel_id=ALPHA, team_id=None, channel_name="alpha",
                                  other_channel_id=CHANNEL, other_channel_name="data-guild", k=5,
                                  key=runtime.signing_key, now=clock.now).community_id
    ratings(150)
    fold(runtime, clock)
    assert stored(runtime) == {pair: n for pair, n in counted(runtime).items() if n}
    with runtime.reader() as uow:
        assert set(uow.session.scalars(select(CoRating.community_id))) == {joined}
        assert set(uow.session.scalars(select(CoRatingLike.community_id))) == {joined}


def test_the_useful_raters_of_a_community_are_those_who_rated_one_of_its_items_useful(runtime: Runtime,
                                                                                      clock: FakeClock) -> None:
    """Those a join counts again in the community it joins."""
    for person, page, stars in (("a", 1, 5), ("a", 2, USEFUL), ("b", 1, USEFUL - 1), ("c", 3, 4)):
        rate(runtime, uid(person), URL.format(page), stars)
    with runtime.uow() as uow:
        rate_url(uow, runtime.settings, Rater(uid("d"), ALPHA, channel_name="alpha"), ALPHA_URL.format(1), 5, None,
                 clock.now)
    with runtime.reader() as uow:
        community_id = uow.communities.by_channel(CHANNEL).id
        assert uow.network.useful_raters(community_id) == {uid("a"), uid("c")}


def test_a_fold_read_before_a_join_is_not_written_under_the_community_that_joined(runtime: Runtime,
                                                                                  clock: FakeClock) -> None:
    fold(runtime, clock)
    for person in ("a", "b"):
        for page in range(3):
            with runtime.uow() as uow:
                rate_url(uow, runtime.settings, Rater(uid(person), ALPHA, channel_name="alpha"),
                         ALPHA_URL.format(page), 5, None, clock.now)
    clock.advance(minutes=1)
    with runtime.reader() as uow:
        found = read_co_fold(uow, runtime.signing_key, clock.now)
    with runtime.uow() as uow:
        communities.join(uow, runtime.settings, channel_id=ALPHA, team_id=None, channel_name="alpha",
                         other_channel_id=CHANNEL, other_channel_name="data-guild", k=5, key=runtime.signing_key,
                         now=clock.now)
    with runtime.uow() as uow:
        assert found is not None and not apply_co_fold(uow, found, clock.now), "its items are the joined one's"
    fold(runtime, clock)
    assert stored(runtime) == counted(runtime) and set(stored(runtime).values()) == {2}

"""Rating use cases: one rating per person per item, a shown score that moves only once k people changed it,
feedback kept private."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from tests.conftest import FakeClock, make_settings

from learnloop.bootstrap import Runtime, build_runtime
from learnloop.domain.ratings import InvalidRating
from learnloop.domain.scores import bayesian_average, community_prior
from learnloop.domain.urls import InvalidUrl
from learnloop.jobs.worker import Worker
from learnloop.mattermost.wiki_messages import announcer
from learnloop.services import personal_data
from learnloop.services.communities import community_for_channel, is_direct_channel
from learnloop.services.rating import Rater, RetiredItem, UnknownItem, rate_item, rate_url, standing
from learnloop.storage.tables import Community, ContentItem, Event, Feedback, ItemScore, Rating

CHANNEL = "fukk3xq1bbn8fgmsiwh4xprwdh"
PAGE = "https://wiki.acme.example/wiki/Page"


def rater(user: str, channel: str = CHANNEL) -> Rater:
    return Rater(user_id=user.ljust(26, "0"), channel_id=channel, team_id="rdc9bgriktyx9p4kowh3dmgqyc",
                 channel_name="data-guild")


def rate(runtime: Runtime, user: str, stars: int, url: str = PAGE, comment: str | None = None):
    with runtime.uow() as uow:
        return rate_url(uow, runtime.settings, rater(user), url, stars, comment, runtime.clock())


def test_rating_again_replaces_the_rating(runtime: Runtime, clock: FakeClock) -> None:
    first = rate(runtime, "ann", 2)
    clock.advance(minutes=5)
    second = rate(runtime, "ann", 5, url=PAGE + "/?utm_source=mail")
    assert (first.previous_stars, second.previous_stars) == (None, 2)
    assert second.item_id == first.item_id, "one page is one item whatever the tracking parameters"
    assert (second.score, second.ratings_count) == (0.0, 0), "no score is shown for fewer than k people"
    with runtime.uow() as uow:
        [rating] = uow.session.scalars(select(Rating)).all()
        assert rating.stars == 5 and rating.updated_at > rating.created_at
        assert rating.previous_stars == 2, "the row keeps the rating it replaced"
        kinds = [(e.kind, e.data) for e in uow.session.scalars(select(Event).order_by(Event.id))]
    assert kinds == [("rating", {"stars": 2, "previous": None}), ("rating", {"stars": 5, "previous": 2})]


def shown(runtime: Runtime, url: str = PAGE) -> tuple[int, int, int | None, int | None] | None:
    """The item's shown (stars_sum, ratings_count, before_stars_sum, before_ratings_count)."""
    with runtime.reader() as uow:
        row = uow.session.get(ItemScore, uow.items.by_url(url).id)
        return (row.stars_sum, row.ratings_count, row.before_stars_sum, row.before_ratings_count) if row else None


def fold(runtime: Runtime, clock: FakeClock) -> None:
    clock.next_week()  # scores move when a week ends
    Worker(runtime).run_rollups()


def test_a_shown_score_moves_only_once_k_people_have_changed_it(runtime: Runtime, clock: FakeClock) -> None:
    """Seeing the score before and after someone rates never gives their stars: it moves in steps of k people."""
    for n, stars in enumerate([5, 3, 4, 1]):
        rate(runtime, f"user{n}", stars)
    fold(runtime, clock)
    assert shown(runtime) is None, "four people: no score"
    rate(runtime, "user4", 2)
    fold(runtime, clock)
    assert shown(runtime) == (15, 5, None, None), "the first score, from five people"

    outcome = rate(runtime, "user5", 5)
    fold(runtime, clock)
    assert shown(runtime) == (15, 5, None, None), "one more rating: the score stays"
    assert (outcome.ratings_count, outcome.score) == (5, pytest.approx(bayesian_average(15, 5, community_prior(15, 5))))
    for n, stars in [(0, 1), (1, 1), (6, 4)]:  # two change their minds, one more rates
        rate(runtime, f"user{n}", stars)
    fold(runtime, clock)
    assert shown(runtime) == (15, 5, None, None), "four people changed it since: still the same"
    rate(runtime, "user7", 3)
    fold(runtime, clock)
    assert shown(runtime) == (15, 5, None, None), "five people changed it, three of them new: 8 would tell that"
    for n in (8, 9):
        rate(runtime, f"user{n}", 2)
    fold(runtime, clock)
    assert shown(runtime) == (15 - 5 - 3 + 1 + 1 + 5 + 4 + 3 + 2 + 2, 10, 15, 5), "five new raters: it moves"


def test_new_raters_wait_while_the_people_counted_move_the_score(runtime: Runtime, clock: FakeClock) -> None:
    """The number of raters shown moves by none or by at least k: one more would tell that someone newly rated
    the page. Those who rated since wait; the score moves with the others' ratings, once k of them changed."""
    for n in range(5):
        rate(runtime, f"user{n}", 4)
    fold(runtime, clock)
    for n in range(4):  # four change their minds, one newcomer
        rate(runtime, f"user{n}", 3)
    rate(runtime, "new0", 1)
    fold(runtime, clock)
    assert shown(runtime) == (20, 5, None, None), "five people changed it, but one of them is new"
    rate(runtime, "user4", 2)
    rate(runtime, "new1", 1)
    fold(runtime, clock)
    assert shown(runtime) == (14, 5, 20, 5), "the five it counts changed it: it moves, the two newcomers wait"
    for n in range(2, 5):
        rate(runtime, f"new{n}", 5)
    fold(runtime, clock)
    assert shown(runtime) == (14 + 1 + 1 + 15, 10, 14, 5), "five newcomers: they count, all at once"


def test_a_score_appears_and_moves_only_when_a_week_ends(runtime: Runtime, clock: FakeClock) -> None:
    """A score that appeared or moved a minute after a rating would tell that someone rated the page then."""
    Worker(runtime).run_rollups()  # the first pass of a new install
    for n in range(5):
        rate(runtime, f"user{n}", 4)
    clock.advance(hours=2)
    Worker(runtime).run_rollups()
    assert shown(runtime) is None, "five people, but the week has not ended"
    fold(runtime, clock)
    assert shown(runtime) == (20, 5, None, None)
    for n in range(5, 10):
        rate(runtime, f"user{n}", 2)
    clock.advance(days=3)
    Worker(runtime).run_rollups()
    assert shown(runtime) == (20, 5, None, None), "five more people, but the week has not ended"
    fold(runtime, clock)
    assert shown(runtime) == (30, 10, 20, 5)


def test_rating_again_with_the_same_stars_moves_no_score(runtime: Runtime, clock: FakeClock) -> None:
    for n in range(5):
        rate(runtime, f"user{n}", 4)
    fold(runtime, clock)
    for n in range(4):  # four change their stars, a fifth clicks the same again
        rate(runtime, f"user{n}", 2)
    rate(runtime, "user4", 4)
    fold(runtime, clock)
    assert shown(runtime) == (20, 5, None, None), "four people changed it: the same stars change nothing"


def with_k(engine, clock: FakeClock, k: int) -> Runtime:
    """learnloop run with group size k on the same database (the admin changed it)."""
    return build_runtime(make_settings(min_group_size=k), clock=clock, engine=engine)


def shown_by_k(engine, clock: FakeClock, k: int) -> None:
    """Under group size k, k people rate the page 5 stars and the week ends: the score shows."""
    runtime = with_k(engine, clock, k)
    for n in range(k):
        rate(runtime, f"user{n}", 5)
    fold(runtime, clock)


def test_raising_k_does_not_let_one_more_rating_move_a_score(engine, clock: FakeClock) -> None:
    """Seen with five ratings under k = 5, the score must not then move for one more person under k = 6."""
    shown_by_k(engine, clock, 5)
    six = with_k(engine, clock, 6)
    rate(six, "user5", 1)
    fold(six, clock)
    assert shown(six) == (25, 5, None, None)
    for n in range(5):
        rate(six, f"new{n}", 3)
    fold(six, clock)
    assert shown(six) == (25 + 1 + 15, 11, None, None), "six people changed it since: it moves"


def erase(runtime: Runtime, clock: FakeClock, user: str) -> None:
    with runtime.uow() as uow:
        personal_data.erase(uow, rater(user).user_id, None, clock.now, runtime.signing_key, announcer(runtime))


def test_a_score_shown_stays_when_one_of_its_raters_erases_their_data(runtime: Runtime, clock: FakeClock) -> None:
    """Moving the score at once would show the erased person's stars, and one rating fewer would tell that
    someone erased theirs: it moves once k others have rated and the number of raters moves by none or by k."""
    for n in range(5):
        rate(runtime, f"user{n}", 5 - n % 2)
    fold(runtime, clock)
    erase(runtime, clock, "user0")
    fold(runtime, clock)
    assert shown(runtime) == (23, 5, None, None)
    for n in range(5, 10):
        rate(runtime, f"user{n}", 3)
    fold(runtime, clock)
    assert shown(runtime) == (23, 5, None, None), "nine raters, four more than shown: her rating stays"
    rate(runtime, "late", 3)
    fold(runtime, clock)
    assert shown(runtime) == (23 - 5 + 18, 10, 23, 5), "her rating leaves with the next move"


def test_an_erased_rating_leaves_once_as_many_people_newly_rated(runtime: Runtime, clock: FakeClock) -> None:
    """The people the score counts cannot move it without the count falling by one, which would tell of the
    erasure; a newcomer makes the number the same again."""
    for n in range(10):
        rate(runtime, f"user{n}", 4)
    fold(runtime, clock)
    erase(runtime, clock, "user0")
    for n in range(1, 10):
        rate(runtime, f"user{n}", 2)
    fold(runtime, clock)
    assert shown(runtime) == (40, 10, None, None), "nine of them changed it, but she is one of the ten counted"
    rate(runtime, "new0", 5)
    fold(runtime, clock)
    assert shown(runtime) == (18 + 5, 10, 40, 10)
    for n in range(1, 6):  # five more erase: the number falls by k
        erase(runtime, clock, f"user{n}")
    for n in range(6, 10):
        rate(runtime, f"user{n}", 1)
    rate(runtime, "new0", 1)
    fold(runtime, clock)
    assert shown(runtime) == (5, 5, 23, 10)


def test_a_score_stored_under_a_smaller_k_shows_again_with_k_more_raters(engine, clock: FakeClock) -> None:
    """Someone may have seen it with four ratings under k = 4: under k = 5 it shows with nine, never five."""
    shown_by_k(engine, clock, 4)
    five = with_k(engine, clock, 5)
    for n in range(4):
        rate(five, f"user{n}", 4)
    rate(five, "new0", 1)
    fold(five, clock)
    assert shown(five) == (20, 4, None, None), "five changed it, one of them new: not shown"
    for n in range(1, 5):
        rate(five, f"new{n}", 2)
    fold(five, clock)
    assert shown(five) == (16 + 1 + 8, 9, None, None)


def test_score_is_a_bayesian_average_with_the_community_prior(runtime: Runtime, clock: FakeClock) -> None:
    for n in range(5):
        rate(runtime, f"user{n}", 1 + n % 2, url="https://wiki.acme.example/wiki/Other")
        rate(runtime, f"user{n}", 5)
    fold(runtime, clock)
    outcome = rate(runtime, "cy", 5)
    expected = bayesian_average(25, 5, community_prior(25 + 7, 10))
    assert outcome.score == pytest.approx(expected)
    assert outcome.score < 5, "five ratings of 5 are not a perfect score"


def test_a_comment_becomes_private_feedback_for_the_owners(runtime: Runtime) -> None:
    outcome = rate(runtime, "ann", 2, comment="  The VPN section is out of date  ")
    assert outcome.feedback_saved
    with runtime.uow() as uow:
        [feedback] = uow.session.scalars(select(Feedback)).all()
        community = uow.session.scalars(select(Community)).one()
    assert feedback.comment == "The VPN section is out of date"
    assert (feedback.status, feedback.stars, feedback.community_id) == ("new", 2, community.id)


def test_the_item_belongs_to_the_community_where_it_was_first_seen(runtime: Runtime) -> None:
    """A rating keeps the community of the channel it was given in, when learnloop knows that channel (any
    command there makes it known); the item stays with the community that saw it first."""
    rate(runtime, "ann", 4)
    with runtime.uow() as uow:
        community_for_channel(uow, runtime.settings, channel_id="otherchannel00000000000000", team_id=None,
                              channel_name="other", now=runtime.clock())
        uow.commit()
        rate_url(uow, runtime.settings, rater("bob", channel="otherchannel00000000000000"), PAGE, 3, None,
                 runtime.clock())
    with runtime.uow() as uow:
        item = uow.items.by_url(PAGE)
        home = uow.communities.by_channel(CHANNEL)
        ratings = {r.user_id[:3]: r.community_id for r in uow.session.scalars(select(Rating))}
        other = uow.communities.by_channel("otherchannel00000000000000")
    assert item.community_id == home.id
    assert ratings == {"ann": home.id, "bob": other.id}


def test_a_rating_from_a_direct_message_makes_no_community(runtime: Runtime) -> None:
    """A direct message's channel (`<user id>__<user id>`) is no community: the page it rates first belongs to
    none, so no such channel claims it."""
    dm = Rater(user_id="ann".ljust(26, "0"), channel_id="d" * 26, team_id=None,
               channel_name="ob7m4qhjzjfy5c6qgbwkz3mn8r__q1h5b9c3ypgtfe5kzjkdyrbs7c")
    with runtime.uow() as uow:
        rate_url(uow, runtime.settings, dm, PAGE, 5, "handy", runtime.clock())
    rate(runtime, "bob", 4)
    with runtime.uow() as uow:
        communities = [c.channel_id for c in uow.session.scalars(select(Community))]
        item = uow.items.by_url(PAGE)
        events = [(e.actor_id[:3], e.community_id) for e in uow.session.scalars(select(Event).order_by(Event.id))]
    assert communities == [], "the direct message became no community"
    assert item.community_id is None and events == [("ann", None), ("bob", None)]


@pytest.mark.parametrize(("name", "direct"), [
    ("ob7m4qhjzjfy5c6qgbwkz3mn8r__q1h5b9c3ypgtfe5kzjkdyrbs7c", True), ("@ann", True), ("data-guild", False),
    ("data_guild", False), ("", False), (None, False), ("3d8b5ac71d6e0f6f6b7e4a5e1c7d2b9a8f0e1d2c", True),
    ("3d8b5ac71d6e0f6f6b7e4a5e1c7d2b9a8f0e1d2", False)])
def test_is_direct_channel(name: str | None, direct: bool) -> None:
    assert is_direct_channel(name) is direct


def test_a_configured_channel_gets_its_community_name(engine, clock) -> None:
    from tests.conftest import make_settings

    from learnloop.bootstrap import build_runtime

    settings = make_settings(communities=[{"name": "Data guild", "channel_id": CHANNEL}])
    runtime = build_runtime(settings, clock=clock, engine=engine)
    rate(runtime, "ann", 4)
    with runtime.uow() as uow:
        assert uow.communities.by_channel(CHANNEL).name == "Data guild"


@pytest.mark.parametrize(("url", "stars", "error"), [("nope", 4, InvalidUrl), (PAGE, 6, InvalidRating)])
def test_invalid_input_writes_nothing(runtime: Runtime, url: str, stars: int, error: type) -> None:
    with pytest.raises(error):
        rate(runtime, "ann", stars, url=url)
    with runtime.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(ContentItem)) == 0
        assert uow.session.scalar(select(func.count()).select_from(Community)) == 0


def test_rating_an_unknown_item_fails_cleanly(runtime: Runtime) -> None:
    with runtime.uow() as uow, pytest.raises(UnknownItem):
        rate_item(uow, runtime.settings, rater("ann"), 999, 3, None, runtime.clock())


def test_a_page_deleted_from_its_wiki_is_not_rated_and_keeps_its_ratings(runtime: Runtime) -> None:
    item_id = rate(runtime, "ann", 4, comment="kept").item_id
    with runtime.uow() as uow:
        uow.items.mark_followed(item_id, runtime.clock())  # the wiki had named the page before deleting it
        uow.items.retire(item_id, runtime.clock())
        uow.commit()
    for attempt in (lambda uow: rate_url(uow, runtime.settings, rater("bob"), PAGE + "?utm_source=x", 5, "hi",
                                         runtime.clock()),
                    lambda uow: rate_item(uow, runtime.settings, rater("bob"), item_id, 5, None, runtime.clock())):
        with runtime.uow() as uow, pytest.raises(RetiredItem) as refused:
            attempt(uow)
        assert str(refused.value) == f"{PAGE} was deleted from the wiki, so it can no longer be rated"
        assert isinstance(refused.value, InvalidRating) and isinstance(refused.value, UnknownItem)
    with runtime.uow() as uow:
        assert [(r.user_id, r.stars) for r in uow.session.scalars(select(Rating))] == [(rater("ann").user_id, 4)]
        assert uow.session.scalar(select(func.count()).select_from(Event).where(Event.kind == "rating")) == 1
        assert [f.comment for f in uow.session.scalars(select(Feedback))] == ["kept"]


def test_a_deleted_page_known_only_from_a_private_rating_is_rated_as_an_unknown_page_is(runtime: Runtime) -> None:
    """Refusing it would tell Bob that someone had rated the page before it was deleted."""
    item_id = rate(runtime, "ann", 2).item_id
    with runtime.uow() as uow:
        uow.items.retire(item_id, runtime.clock())
        uow.commit()
    never_rated = "https://wiki.acme.example/wiki/Never_rated"
    replies = []
    for url in (PAGE, never_rated):
        with runtime.uow() as uow:
            assert standing(uow, url, rater("bob").user_id) is None
            outcome = rate_url(uow, runtime.settings, rater("bob"), url, 5, None, runtime.clock())
        replies.append((outcome.stars, outcome.previous_stars, outcome.score, outcome.ratings_count,
                        outcome.title, outcome.shared_by_someone_else))
    assert replies[0] == replies[1]
    with runtime.reader() as uow:
        assert standing(uow, PAGE, rater("ann").user_id).retired is False, "nor does Ann learn more than she knew"


def test_concurrent_ratings_of_one_item_keep_the_shown_totals_exact(runtime: Runtime, clock: FakeClock) -> None:
    """Forty people rate at once from eight threads: the score shown next equals their ratings."""
    from concurrent.futures import ThreadPoolExecutor

    rate(runtime, "seed", 3)
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda n: rate(runtime, f"user{n:02d}x", n % 5 + 1), range(40)))
    fold(runtime, clock)
    with runtime.uow() as uow:
        count, total = uow.session.execute(select(func.count(), func.sum(Rating.stars))).one()
    assert (count, total) == (41, 3 + sum(n % 5 + 1 for n in range(40)))
    assert shown(runtime) == (total, count, None, None)


def test_one_person_clicking_many_times_at_once_is_one_rating(runtime: Runtime) -> None:
    """Forty clicks by one person from eight threads meet at the unique key: one rating, and totals that
    count it once with the stars that won."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(lambda n: rate(runtime, "ann", n % 5 + 1), range(40)))
    assert sum(outcome.previous_stars is None for outcome in outcomes) == 1, "exactly one click created it"
    with runtime.uow() as uow:
        assert len(uow.session.scalars(select(Rating)).all()) == 1
        events = uow.session.scalars(select(Event.data).where(Event.kind == "rating")).all()
    assert sum(e["previous"] is None for e in events) == 1, "one event says it is new; the others, what it replaced"

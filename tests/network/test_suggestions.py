""""You might also find useful": a private weekly DM for the people who asked for it, from item pairs that at
least k people found useful together, naming nobody, and only from communities whose channel the person is in
now; it honours pause, quiet hours and do not disturb, comes once a week, and one click stops it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from learnloop.bootstrap import Runtime
from learnloop.mattermost.network_messages import SUGGESTIONS_OFF_ACTION
from learnloop.mattermost.signed_state import button_context
from learnloop.services import communities
from learnloop.services.rating import Rater, rate_url
from learnloop.storage.tables import CoRating, CoRatingLike
from tests.conftest import FakeClock
from tests.network.standin import StandIn, dm_of
from tests.network.world import CHANNEL, ingest, page_event, rate, share, tick, uid
from tests.prompts.world import Person, click, slash

K = 5
ANN = Person("ann")
LIKED, ALSO, OTHER = (f"https://wiki.acme.example/{name}" for name in ("Liked", "Also", "Other"))
NEXT_MONDAY_0901 = datetime(2026, 11, 9, 9, 1, tzinfo=UTC)
PAGE = "https://outline.example.com/doc/p1"
SECRET = "https://internal.example.com/secret-roadmap"


def liked_together(runtime: Runtime, people: int) -> None:
    for n in range(people):
        rate(runtime, uid(f"p{n}"), LIKED, 5)
        rate(runtime, uid(f"p{n}"), ALSO, 4)


def opted_in(client: FlaskClient, runtime: Runtime) -> None:
    rate(runtime, ANN.id, LIKED, 5)
    assert "On: each Monday at your own time" in slash(client, ANN, "digest me on")["text"]


def suggested(standin: StandIn) -> list[dict]:
    return [p for p in standin.dms_to(ANN.id) if p["message"].startswith("**You might also find these useful**")]


def membership_asks(standin: StandIn) -> int:
    return sum(c.path.endswith("/members/ids") for c in standin.contract.calls)


@pytest.mark.parametrize(("people", "sent"), [(K - 1, False), (K, True), (K + 1, True)])
def test_only_pairs_at_least_k_people_share_lead_to_a_suggestion(client: FlaskClient, runtime: Runtime,
                                                                 clock: FakeClock, standin: StandIn, people: int,
                                                                 sent: bool) -> None:
    liked_together(runtime, people)
    opted_in(client, runtime)
    tick(runtime, clock)
    if not sent:
        assert standin.posts == {}, "nothing qualifies: no message at all"
        return
    [dm] = suggested(standin)
    *items, stop = dm["props"]["attachments"]
    assert [a["title_link"] for a in items] == [ALSO]
    assert stop["actions"][0]["name"] == "Stop these suggestions"
    text = str(dm)
    assert not any(uid(f"p{n}") in text or re.search(rf"\bp{n}\b", text) for n in range(people)), "nobody is named"
    assert str(people) not in dm["message"]


def test_once_a_week_at_the_persons_own_time_and_never_what_they_rated(client: FlaskClient, runtime: Runtime,
                                                                      clock: FakeClock, standin: StandIn) -> None:
    liked_together(runtime, K)
    for n in range(K):
        rate(runtime, uid(f"p{n}"), OTHER, 5)
    opted_in(client, runtime)
    tick(runtime, clock)
    tick(runtime, clock)
    [first] = suggested(standin)
    assert {a.get("title_link") for a in first["props"]["attachments"]} == {ALSO, OTHER, None}
    rate(runtime, ANN.id, ALSO, 2)
    clock.now = NEXT_MONDAY_0901 - timedelta(minutes=2)
    tick(runtime, clock, settle=False)
    assert len(suggested(standin)) == 1, "not before Monday 09:00, the default time"
    clock.now = NEXT_MONDAY_0901
    tick(runtime, clock)
    second = suggested(standin)[1]
    assert [a.get("title_link") for a in second["props"]["attachments"]] == [OTHER, None], "not what ann rated"


def test_pause_quiet_hours_and_do_not_disturb_are_honoured(client: FlaskClient, runtime: Runtime, clock: FakeClock,
                                                           standin: StandIn) -> None:
    liked_together(runtime, K)
    opted_in(client, runtime)
    slash(client, ANN, "prompts quiet 08:00-10:30")
    tick(runtime, clock)
    tick(runtime, clock)
    assert suggested(standin) == [], "quiet hours until 10:30"
    assert membership_asks(standin) == 0, "nobody waiting is asked about"
    clock.now = datetime(2026, 11, 2, 10, 31, tzinfo=UTC)
    tick(runtime, clock)
    assert len(suggested(standin)) == 1
    standin.statuses[ANN.id] = "dnd"
    clock.now = NEXT_MONDAY_0901 + timedelta(hours=2)
    asked = membership_asks(standin)
    tick(runtime, clock)
    assert membership_asks(standin) == asked, "nor anybody whose week is skipped"
    standin.statuses[ANN.id] = "online"
    tick(runtime, clock)
    assert len(suggested(standin)) == 1, "do not disturb skips the week, as for a prompt"
    slash(client, ANN, "prompts pause 2w")
    clock.now += timedelta(days=7)
    tick(runtime, clock)
    assert len(suggested(standin)) == 1, "paused"


def test_a_deactivated_account_is_sent_no_suggestions(client: FlaskClient, runtime: Runtime, clock: FakeClock,
                                                      standin: StandIn) -> None:
    liked_together(runtime, K)
    opted_in(client, runtime)
    standin.deactivated.add(ANN.id)
    tick(runtime, clock)
    assert suggested(standin) == []
    standin.deactivated.discard(ANN.id)
    tick(runtime, clock)
    assert suggested(standin) == [], "the week is skipped, as under do not disturb"
    clock.now = NEXT_MONDAY_0901
    tick(runtime, clock)
    assert len(suggested(standin)) == 1, "active again: the next week comes"


def test_one_click_stops_them_and_only_the_person_can_click(client: FlaskClient, runtime: Runtime,
                                                            clock: FakeClock, standin: StandIn) -> None:
    liked_together(runtime, K)
    opted_in(client, runtime)
    context = button_context(SUGGESTIONS_OFF_ACTION, runtime.signing_key, for_user=ANN.id)
    assert "not yours" in click(client, Person("mallory"), context).get_json()["ephemeral_text"]
    assert "no more weekly suggestions" in click(client, ANN, context).get_json()["ephemeral_text"]
    tick(runtime, clock)
    assert standin.dms_to(ANN.id) == [] and standin.posts == {}
    assert dm_of(ANN.id) not in {p["channel_id"] for p in standin.posts}


def shared_in_the_channel(runtime: Runtime, insiders: list[str]) -> None:
    """A link shared in the channel (possibly private) that its members found useful along with the page."""
    share(runtime, insiders[0], SECRET, title="Secret roadmap 2027")
    for person in insiders:
        rate(runtime, person, PAGE, 5)
        rate(runtime, person, SECRET, 5)


def test_a_wiki_reader_outside_the_channel_is_not_suggested_what_was_shared_in_it(
        client: FlaskClient, runtime: Runtime, clock: FakeClock, standin: StandIn) -> None:
    """Rating a page of the community's wiki space from the wiki counts towards its co-ratings, but says nothing
    of being in its channel."""
    insiders = [uid(f"p{n}") for n in range(K)]
    standin.members[CHANNEL] = set(insiders)
    tick(runtime, clock)
    ingest(runtime, page_event(1, "created", clock.now))
    shared_in_the_channel(runtime, insiders)
    with runtime.uow() as uow:  # the wiki's widget: a rating from no channel
        rate_url(uow, runtime.settings, Rater(ANN.id), PAGE, 5, None, runtime.clock())
    assert "On:" in slash(client, ANN, "digest me on")["text"]
    tick(runtime, clock)
    assert "Secret roadmap" not in str(standin.dms_to(ANN.id)) and suggested(standin) == []
    standin.members[CHANNEL].add(ANN.id)
    clock.now = NEXT_MONDAY_0901
    tick(runtime, clock)
    [dm] = suggested(standin)
    assert SECRET in str(dm), "in the channel, they are suggested what its members found useful"


def test_someone_who_left_the_channel_is_not_suggested_what_is_shared_there_since(
        client: FlaskClient, runtime: Runtime, clock: FakeClock, standin: StandIn) -> None:
    insiders = [uid(f"p{n}") for n in range(K)]
    tick(runtime, clock)
    ingest(runtime, page_event(1, "created", clock.now))
    rate(runtime, ANN.id, PAGE, 5)
    assert "On:" in slash(client, ANN, "digest me on")["text"]
    standin.members[CHANNEL] = set(insiders)  # ann left the channel, or was removed from it
    shared_in_the_channel(runtime, insiders)
    tick(runtime, clock)
    assert "Secret roadmap" not in str(standin.dms_to(ANN.id)) and suggested(standin) == []
    standin.members[CHANNEL].add(ANN.id)
    clock.now = NEXT_MONDAY_0901
    tick(runtime, clock)
    [dm] = suggested(standin)
    assert SECRET in str(dm), "back in the channel, they are suggested what its members found useful"


def test_nothing_is_suggested_from_a_community_mattermost_cannot_say_they_are_in(
        client: FlaskClient, runtime: Runtime, clock: FakeClock, standin: StandIn) -> None:
    liked_together(runtime, K)
    opted_in(client, runtime)
    standin.fail_next("POST", r"/channels/[a-z0-9]+/members/ids", 503)
    tick(runtime, clock)
    assert suggested(standin) == [], "not on a guess"
    clock.now = NEXT_MONDAY_0901
    tick(runtime, clock)
    assert len(suggested(standin)) == 1, "Mattermost answers again: the next week comes"


def test_a_page_deleted_from_the_wiki_is_not_suggested(client: FlaskClient, runtime: Runtime, clock: FakeClock,
                                                       standin: StandIn) -> None:
    """It can no longer be rated, as the dashboard and the digest leave it out."""
    gone = "https://outline.example.com/doc/p2"
    tick(runtime, clock)
    ingest(runtime, page_event(1, "created", clock.now), page_event(2, "created", clock.now))
    for n in range(K):
        rate(runtime, uid(f"p{n}"), PAGE, 5)
        rate(runtime, uid(f"p{n}"), gone, 5)
        rate(runtime, uid(f"p{n}"), ALSO, 5)
    rate(runtime, ANN.id, PAGE, 5)
    slash(client, ANN, "digest me on")
    ingest(runtime, page_event(3, "deleted", clock.now, page="p2"))
    with runtime.reader() as uow:
        assert uow.items.rateable_by_url(gone).retired_at is not None
    tick(runtime, clock)
    [dm] = suggested(standin)
    assert [a.get("title_link") for a in dm["props"]["attachments"]] == [ALSO, None]


@pytest.mark.parametrize("joined_before_this_was_kept", [False, True])
def test_after_a_join_pairs_people_no_longer_share_stop_leading_to_suggestions(
        client: FlaskClient, runtime: Runtime, clock: FakeClock, standin: StandIn,
        joined_before_this_was_kept: bool) -> None:
    """A join before co-ratings moved with it left them under the community that joined: none leads anywhere."""
    alpha, a, b = "alphachannel00000000000000", "https://blog.example.com/a", "https://blog.example.com/b"

    def rate_in_alpha(user: str, url: str, stars: int) -> None:
        with runtime.uow() as uow:
            rate_url(uow, runtime.settings, Rater(user, alpha, channel_name="alpha"), url, stars, None,
                     runtime.clock())

    for n in range(K):
        rate_in_alpha(uid(f"p{n}"), a, 5)
        rate_in_alpha(uid(f"p{n}"), b, 5)
    rate_in_alpha(ANN.id, a, 5)
    tick(runtime, clock)  # (a, b) by five people, in ~alpha's own community
    with runtime.reader() as uow:
        old = uow.communities.by_channel(alpha).id
        pairs = {(p.item_a, p.item_b): p.people
                 for p in uow.session.scalars(select(CoRating).where(CoRating.community_id == old))}
        likes: dict[str, set[int]] = {}
        for like in uow.session.scalars(select(CoRatingLike).where(CoRatingLike.community_id == old)):
            likes.setdefault(like.member, set()).add(like.item_id)
    with runtime.uow() as uow:
        communities.join(uow, runtime.settings, channel_id=alpha, team_id=None, channel_name="alpha",
                         other_channel_id=CHANNEL, other_channel_name="data-guild", k=K, key=runtime.signing_key,
                         now=clock.now)
    if joined_before_this_was_kept:  # left where they were, as a join did before
        with runtime.uow() as uow:
            uow.network.add_pairs(old, pairs)
            uow.network.add_likes(old, likes)
            uow.commit()
    for n in range(K):
        rate_in_alpha(uid(f"p{n}"), b, 1)  # all five changed their minds about b
    tick(runtime, clock)
    slash(client, ANN, "digest me on")
    tick(runtime, clock)
    assert b not in str(standin.dms_to(ANN.id)), "b suggested from a pair nobody shares any more"

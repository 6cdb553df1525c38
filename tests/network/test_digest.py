"""The weekly community digest: owners switch it on at a day and local time; it posts what helped most (only
items at least k people rated), new and substantially updated pages, rated shared reflections and the stage;
a week with nothing to say posts nothing; nothing is posted twice, even through a lost reply or two workers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from learnloop.bootstrap import Runtime, build_runtime
from learnloop.jobs.worker import Worker
from learnloop.services import communities, dashboard
from learnloop.services.dashboard import REFLECTION_TITLE, Period
from learnloop.storage.tables import Announcement, Community, CommunityChannel, OutboxMessage
from learnloop.wiring import create_app
from tests.conftest import FakeClock, shown_scores
from tests.network.standin import StandIn
from tests.network.world import (
    CHANNEL,
    OWNER,
    ingest,
    page_event,
    rate,
    settings_for,
    share,
    tick,
    uid,
    week_ends,
)
from tests.prompts.world import BOT, Person, add_schedule, slash
from tests.web.test_signin_and_rating_page import signed_in

K = 5
OWNER_P, MEMBER = Person("owner"), Person("member")
FRIDAY_0901_BERLIN = datetime(2026, 11, 6, 8, 1, tzinfo=UTC)
GOOD, BETTER, TOO_FEW = (f"https://wiki.acme.example/{name}" for name in ("Good", "Better", "TooFew"))
ALPHA = "alphachannel00000000000000"


def community(runtime: Runtime) -> Community:
    with runtime.reader() as uow:
        found = uow.communities.by_channel(CHANNEL)
        assert found is not None
        return found


def switched_on(client: FlaskClient) -> str:
    return slash(client, OWNER_P, "digest on fri 09:00")["text"]


def raters(runtime: Runtime, url: str, people: int, stars: int, tag: str) -> None:
    for n in range(people):
        rate(runtime, uid(f"{tag}{n}"), url, stars)


def digests(standin: StandIn) -> list[dict]:
    return [p for p in standin.channel_posts(CHANNEL) if "learnloop_digest" in p["props"]]


@pytest.mark.usefixtures("standin")  # Mattermost answers who is in the channel
def test_owners_switch_it_on_and_off_with_a_day_and_a_local_time(client: FlaskClient, runtime: Runtime) -> None:
    assert slash(client, MEMBER, "digest on fri 09:00")["text"].startswith(
        "Only this community's owners (its channel admins, its team's admins, or owners named in learnloop's "
        "configuration) switch its weekly digest on or off.")
    for bad, says in (("digest on someday 9", "is not a day and a time"),
                      ("digest on fri 25:00", "is not a time of day"),
                      ("digest on", "The day and the time are missing: use for example 'fri 09:00'. Usage: `/learn "
                                    "digest on <day> <HH:MM>`, for example `/learn digest on fri 09:00`. Nothing changed."),
                      ("digest on fri 99999999999999999999:00", "is not a time of day"),
                      ("digest on fri 09:99999999999999999999", "is not a time of day"),
                      ("digest sometimes", "Usage:")):
        assert says in slash(client, OWNER_P, bad)["text"], bad
    assert community(runtime).digest_weekday is None, "nothing stored from bad input"
    reply = switched_on(client)
    assert "the first comes Fri 06 Nov at 09:00 (Europe/Berlin)" in reply
    assert (community(runtime).digest_weekday, community(runtime).digest_time) == (4, "09:00")
    assert slash(client, OWNER_P, "digest off")["text"] == "The weekly digest is off."
    assert community(runtime).digest_weekday is None
    assert slash(client, OWNER_P, "digest off")["text"] == "The weekly digest was already off."


@pytest.mark.usefixtures("standin")
def test_its_time_is_read_in_the_zone_of_the_owners_prompt(client: FlaskClient, runtime: Runtime) -> None:
    """One zone for a community's own times: the owners' prompt says they work in New York, so "fri 09:00" is
    09:00 there (it was the configured Berlin, while the event form and a pause took the prompt's)."""
    add_schedule(runtime, timezone="America/New_York")
    assert "at 09:00 (America/New_York)" in switched_on(client)


@pytest.mark.parametrize(("people", "listed"), [(K - 1, False), (K, True), (K + 1, True)])
def test_it_lists_only_what_at_least_k_people_rated(client: FlaskClient, runtime: Runtime, clock: FakeClock,
                                                    standin: StandIn, people: int, listed: bool) -> None:
    switched_on(client)
    raters(runtime, GOOD, people, 5, "g")
    raters(runtime, TOO_FEW, K - 1, 5, "t")
    shown_scores(runtime)  # a new install's first pass shows them
    ingest(runtime, page_event(1, "created", clock.now))
    clock.now = FRIDAY_0901_BERLIN
    tick(runtime, clock)
    [post] = digests(standin)
    titles = [a["title_link"] for a in post["props"]["attachments"]]
    assert titles == ([GOOD] if listed else []), "an item below k is never listed"
    assert TOO_FEW not in post["message"] and "Page p1" in post["message"]
    assert post["message"].startswith("#### This week in Data guild (30 Oct to 06 Nov)")
    assert "Where the community stands" in post["message"]
    assert all(str(n) not in post["message"].split("(")[0] for n in (K - 1, K, K + 1))
    for attachment in post["props"]["attachments"]:
        assert [a["integration"]["context"]["stars"] for a in attachment["actions"]] == [1, 2, 3, 4, 5]


def test_one_rating_brings_no_item_back_a_moved_score_does(client: FlaskClient, runtime: Runtime, clock: FakeClock,
                                                            standin: StandIn) -> None:
    """An item one rating brought into the digest would say that someone rated it that week."""
    switched_on(client)
    raters(runtime, GOOD, K, 5, "g")
    shown_scores(runtime)
    clock.now = FRIDAY_0901_BERLIN
    tick(runtime, clock)
    assert [a["title_link"] for a in digests(standin)[-1]["props"]["attachments"]] == [GOOD]
    clock.advance(days=2)
    rate(runtime, uid("alone"), GOOD, 1)
    clock.advance(days=5)
    tick(runtime, clock)
    assert len(digests(standin)) == 1, "one rating moves no score: nothing to say"
    clock.advance(days=2)
    raters(runtime, GOOD, K, 4, "more")
    week_ends(runtime, clock)  # the score moves
    clock.now = FRIDAY_0901_BERLIN + timedelta(weeks=2)
    tick(runtime, clock)
    assert len(digests(standin)) == 2
    assert [a["title_link"] for a in digests(standin)[-1]["props"]["attachments"]] == [GOOD]


def test_best_first_then_rated_reflections_then_pages_and_a_quiet_week_posts_nothing(
        client: FlaskClient, runtime: Runtime, clock: FakeClock, standin: StandIn) -> None:
    switched_on(client)
    raters(runtime, GOOD, K, 4, "g")
    raters(runtime, BETTER, K + 1, 5, "b")
    shown_scores(runtime)
    ingest(runtime, page_event(1, "created", clock.now), page_event(2, "created", clock.now, page="old"))
    clock.advance(days=1)
    ingest(runtime, page_event(3, "updated", clock.now, page="old"),
           page_event(4, "updated", clock.now, page="tiny", minor=True))
    clock.now = FRIDAY_0901_BERLIN
    tick(runtime, clock)
    [post] = digests(standin)
    assert [a["title_link"] for a in post["props"]["attachments"]] == [BETTER, GOOD]
    message = post["message"]
    new = "**New wiki pages**\n- [Page old](https://outline.example.com/doc/old)\n- [Page p1]"
    assert new in message, "newest first; a page made and edited this week is new, not updated"
    assert "substantially updated" not in message, "a minor edit is not news"
    clock.advance(days=7)
    tick(runtime, clock)
    assert len(digests(standin)) == 1, "a week with nothing to say posts nothing"
    assert community(runtime).digest_week is not None


@pytest.mark.usefixtures("standin")
def test_shared_reflections_are_listed_as_shared_never_ranked(client: FlaskClient, runtime: Runtime,
                                                              clock: FakeClock, standin: StandIn) -> None:
    """Each shared reflection's post names its author: ranked by score, the digest and the dashboard would be a
    board of colleagues. Listed in the order they were shared, and left out of the content that helps most."""
    switched_on(client)
    first, second = (f"https://learnloop.example.com/reflections/{n}" for n in ("a1", "b2"))
    ids = {}
    for author, url in (("alice", first), ("bob", second)):
        ids[url] = share(runtime, uid(author), url, title=REFLECTION_TITLE)
        with runtime.uow() as uow:
            uow.items.get(ids[url]).kind = "reflection"
            uow.commit()
    raters(runtime, first, K, 2, "f")
    raters(runtime, second, K, 5, "s")
    raters(runtime, GOOD, K, 4, "g")
    shown_scores(runtime)
    clock.now = FRIDAY_0901_BERLIN
    tick(runtime, clock)
    [post] = digests(standin)
    attachments = post["props"]["attachments"]
    assert [a["fallback"].split(" — ")[0] for a in attachments] == [GOOD, REFLECTION_TITLE, REFLECTION_TITLE]
    assert [a["actions"][0]["integration"]["context"]["item_id"] for a in attachments][1:] == [ids[first],
                                                                                           ids[second]]
    assert attachments[1]["pretext"] == "**Shared reflections people rated**"
    assert "title_link" not in attachments[1] and "author hears" in attachments[1]["footer"]
    with runtime.reader() as uow:
        top = dashboard.build(uow, community(runtime).id, Period.last_weeks(clock.now.date(), 4), K).top
    assert [item.url for item in top] == [GOOD]


def test_rating_a_shared_reflection_shows_nobody_its_score(client: FlaskClient, runtime: Runtime) -> None:
    reflection = "https://learnloop.example.com/reflections/c3"
    item_id = share(runtime, uid("alice"), reflection, title=REFLECTION_TITLE)
    with runtime.uow() as uow:
        uow.items.get(item_id).kind = "reflection"
        uow.commit()
    with runtime.reader() as uow:  # nor is it promised one, among the pages too early to rank
        assert dashboard.too_early(uow, community(runtime).id, K) == []
    raters(runtime, reflection, K, 2, "r")
    shown_scores(runtime)
    text = slash(client, MEMBER, f"rate {reflection} 4")["text"]
    assert "A shared reflection shows no score" in text and "/5 from" not in text
    signed_in(client, MEMBER)  # nor do learnloop's pages
    page = client.get("/rate", query_string={"url": reflection, "rated": "1"}).get_data(as_text=True)
    assert "A shared reflection shows no score" in page and "/5 from" not in page


def test_a_page_deleted_this_week_is_left_out_and_one_restored_since_is_back(
        client: FlaskClient, runtime: Runtime, clock: FakeClock, standin: StandIn) -> None:
    switched_on(client)
    ingest(runtime, page_event(1, "created", clock.now), page_event(2, "created", clock.now, page="gone"))
    clock.advance(hours=1)
    ingest(runtime, page_event(3, "deleted", clock.now, page="p1"), page_event(4, "deleted", clock.now, page="gone"))
    clock.advance(hours=1)
    ingest(runtime, page_event(5, "restored", clock.now, page="p1"))
    clock.now = FRIDAY_0901_BERLIN
    tick(runtime, clock)
    [post] = digests(standin)
    assert "**New wiki pages**\n- [Page p1](https://outline.example.com/doc/p1)" in post["message"]
    assert "Page gone" not in post["message"]


def test_no_digest_is_posted_twice_through_a_lost_reply_or_a_second_worker(
        client: FlaskClient, runtime: Runtime, clock: FakeClock, standin: StandIn, engine) -> None:
    switched_on(client)
    raters(runtime, GOOD, K, 5, "g")
    shown_scores(runtime)
    clock.now = FRIDAY_0901_BERLIN
    standin.lose_replies = 1
    other = build_runtime(runtime.settings, clock=clock, engine=engine)
    clock.advance(minutes=1)
    Worker(runtime).run_once()
    Worker(other).run_once()
    assert len(digests(standin)) == 1, "the post was saved, its reply lost"
    for _ in range(3):
        clock.advance(minutes=10)
        Worker(other).run_once()
        Worker(runtime).run_once()
    assert len(digests(standin)) == 1, "the retry found the post it made; the second worker queued nothing"
    with runtime.reader() as uow:
        [message] = uow.session.scalars(select(OutboxMessage).where(OutboxMessage.idempotency_key.like("digest:%")))
    assert message.status == "sent"


def test_a_digest_whose_moment_passed_while_the_worker_was_down_over_the_week_boundary_is_posted_late_once(
        client: FlaskClient, runtime: Runtime, clock: FakeClock, standin: StandIn) -> None:
    """The worker is down from Sunday 17:00 to Monday 00:30 (Berlin): the digest's Sunday 18:00 passes unseen,
    and the next week's looks only from the next Sunday."""
    assert "The weekly digest is on" in slash(client, OWNER_P, "digest on sun 18:00")["text"]
    raters(runtime, GOOD, K, 5, "g")
    shown_scores(runtime)
    clock.now = datetime(2026, 11, 8, 23, 30, tzinfo=UTC)
    Worker(runtime).run_once()
    [post] = digests(standin)
    assert post["message"].startswith("#### This week in Data guild (01 Nov to 08 Nov)"), "the week it covers"
    assert [a["title_link"] for a in post["props"]["attachments"]] == [GOOD]
    for _ in range(2):
        clock.advance(minutes=10)
        Worker(runtime).run_once()
    assert len(digests(standin)) == 1, "posted once"


def test_preview_shows_the_owner_alone_what_the_next_one_holds(client: FlaskClient, runtime: Runtime,
                                                              standin: StandIn) -> None:
    assert "Nothing to post so far" in slash(client, OWNER_P, "digest preview")["text"]
    raters(runtime, GOOD, K, 5, "g")
    shown_scores(runtime)
    reply = slash(client, OWNER_P, "digest preview")
    assert reply["response_type"] == "ephemeral" and reply["text"].startswith("**Preview, only for you**")
    assert [a["title_link"] for a in reply["props"]["attachments"]] == [GOOD]
    refused = slash(client, MEMBER, "digest preview")["text"]
    assert refused.startswith("Only this community's owners (its channel admins, its team's admins, or owners named "
                              "in learnloop's configuration) preview its weekly digest: the preview is for deciding "
                              "whether and when it is posted in this channel")
    assert "switch" not in refused and "Once it is on, everyone here sees it in the channel." in refused
    assert standin.posts == {}


def test_digest_only_stops_page_announcements_and_the_digest_carries_them(
        engine, clock: FakeClock, standin: StandIn) -> None:
    runtime = build_runtime(settings_for(OWNER, announce="digest_only"), clock=clock, engine=engine)
    with runtime.uow() as uow:
        community_id = uow.communities.ensure(CHANNEL, None, "Data guild", clock.now)
        uow.commit()
        row = uow.communities.get(community_id)
        row.digest_weekday, row.digest_time = 4, "09:00"
        uow.commit()
    ingest(runtime, page_event(1, "created", clock.now))
    tick(runtime, clock)
    with runtime.reader() as uow:
        assert uow.session.scalars(select(Announcement)).all() == []
    assert standin.channel_posts(CHANNEL) == []
    clock.now = FRIDAY_0901_BERLIN
    tick(runtime, clock)
    [post] = digests(standin)
    assert "[Page p1](https://outline.example.com/doc/p1)" in post["message"]


@pytest.mark.usefixtures("standin")
def test_what_moved_goes_by_when_the_score_moved_never_by_when_someone_rated(
        client: FlaskClient, runtime: Runtime, clock: FakeClock, standin: StandIn) -> None:
    """k people rate on a Wednesday at 14:02; the score moves when the week ends. Going by the newest rating, the
    preview a week later listed the page at 14:01 and not at 14:03, and the Friday digest after the score moved
    left it out (its window began after the ratings)."""
    tick(runtime, clock)
    switched_on(client)
    clock.now = datetime(2026, 11, 4, 14, 2, tzinfo=UTC)
    raters(runtime, GOOD, K, 5, "g")
    week_ends(runtime, clock)
    previews = []
    for minute in (1, 3):
        clock.now = datetime(2026, 11, 11, 14, minute, tzinfo=UTC)
        previews.append([a["title_link"] for a in slash(client, OWNER_P, "digest preview")["props"]["attachments"]])
    assert previews == [[GOOD], [GOOD]]
    clock.now = FRIDAY_0901_BERLIN + timedelta(weeks=1)
    tick(runtime, clock)
    assert [a["title_link"] for a in digests(standin)[-1]["props"]["attachments"]] == [GOOD]


@pytest.mark.usefixtures("standin")
def test_a_digest_command_in_a_direct_message_makes_no_community(client: FlaskClient, runtime: Runtime) -> None:
    """A direct message is no community: asking there is refused as anywhere someone owns nothing, and leaves no
    community named after the two people in it."""
    direct = uid("dm" + MEMBER.name)
    for text in ("digest on fri 09:00", "digest off", "digest preview"):
        reply = slash(client, MEMBER, text, channel=direct, channel_name=f"{BOT}__{MEMBER.id}")["text"]
        assert reply.startswith("Only this community's owners"), text
    with runtime.reader() as uow:
        assert uow.session.scalars(select(CommunityChannel).where(CommunityChannel.channel_id == direct)).all() == []


@pytest.mark.usefixtures("standin")
def test_a_channel_the_configuration_adds_is_told_where_its_digest_is_decided_before_learnloop_saw_it(
        engine, clock: FakeClock) -> None:
    runtime = build_runtime(settings_for(OWNER, channels=[ALPHA]), clock=clock, engine=engine)
    reply = slash(create_app(runtime).test_client(), OWNER_P, "digest on fri 09:00", channel=ALPHA,
                  channel_name="alpha")["text"]
    assert reply.startswith("The weekly digest of **Data guild** is posted in "), reply
    with runtime.reader() as uow:
        assert uow.communities.by_channel(ALPHA) is None and uow.communities.by_channel(CHANNEL) is None


def test_a_channel_that_joined_the_community_is_told_where_its_digest_is_decided_and_posted(
        client: FlaskClient, runtime: Runtime, clock: FakeClock, standin: StandIn) -> None:
    """One digest per community, posted in the channel it started in, whose owners decide it: switched on in a
    channel that joined, it was posted in the other channel, where the admin who switched it on has no say, and
    never in their own."""
    with runtime.uow() as uow:
        communities.community_for_channel(uow, runtime.settings, channel_id=ALPHA, team_id=None,
                                          channel_name="alpha", now=clock.now)
        uow.commit()
    with runtime.uow() as uow:
        communities.join(uow, runtime.settings, channel_id=ALPHA, team_id=None, channel_name="alpha",
                         other_channel_id=CHANNEL, other_channel_name="data-guild", k=K,
                         key=runtime.signing_key, now=clock.now)
    alpha_owner = Person("alphaowner")
    standin.channel_admins.add(alpha_owner.id)  # an admin of ~alpha
    for text in ("digest on fri 09:00", "digest off", "digest preview"):
        reply = slash(client, alpha_owner, text, channel=ALPHA, channel_name="alpha")["text"]
        assert reply == ("The weekly digest of **Data guild** is posted in ~data-guild, the channel it started in: "
                         "its owners there (its channel admins, its team's admins, or owners named in learnloop's "
                         "configuration) switch it on or off and preview it. Nothing changed."), text
    assert community(runtime).digest_weekday is None
    assert "The weekly digest is on" in slash(client, alpha_owner, "digest on fri 09:00")["text"], \
        "in the channel the community started in"
    raters(runtime, GOOD, K, 5, "g")
    shown_scores(runtime)
    clock.now = FRIDAY_0901_BERLIN
    tick(runtime, clock)
    assert {p["channel_id"] for p in standin.posts.values() if "learnloop_digest" in p["props"]} == {CHANNEL}

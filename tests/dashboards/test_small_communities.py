"""Small communities: a community whose channels have fewer than k members is told so, with the command that
joins it up with a neighbouring channel; `/learn community join` and `leave` through the recorded Mattermost
request shapes; a joined community's figures; and nothing about fewer than k people before or after a join."""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import combinations

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from learnloop.bootstrap import Runtime, build_runtime
from learnloop.domain import learning_metrics
from learnloop.domain.disclosure import merge_after
from learnloop.jobs import prompts
from learnloop.services import communities, dashboard, rollups
from learnloop.services.rating import Rater, rate_url
from learnloop.storage.tables import (
    CommunityChannel,
    Delivery,
    Event,
    PromptSchedule,
    WeeklyCount,
)
from learnloop.web.dashboard_views import rows
from learnloop.wiring import create_app
from tests.conftest import START, FakeClock, _empty_all_tables, make_settings
from tests.contract.mattermost_openapi import MattermostContract
from tests.dashboards.neighbourhood import TEAM, Neighbourhood, stored
from tests.dashboards.test_disclosure_properties import (
    WEEKS,
    Community,
    people,
    week_start,
)
from tests.dashboards.test_disclosure_properties import (
    communities as generated_communities,
)
from tests.mattermost.inbound import load_form, send_form
from tests.prompts.world import CHANNEL, THURSDAY, Person, World, add_schedule
from tests.web.links import confirm, link_path

K = 5
SMALL, BIG, QUIET = "smallchannel00000000000001", "bigchannel0000000000000001", "quietchannel00000000000001"
EXTRA = "extrachannel00000000000001"
NAMES = {SMALL: "tiny-team", BIG: "data-guild", QUIET: "quiet-corner", EXTRA: "guild-extra"}
OWNER, MEMBER, HALF_OWNER = Person("owner"), Person("member"), Person("halfowner")
"""OWNER administers both channels, HALF_OWNER only the small one, MEMBER is in the small one."""
MONDAY = START.date() - timedelta(days=START.weekday())


@pytest.fixture
def runtime(engine: Engine, clock: FakeClock) -> Runtime:
    return build_runtime(make_settings(), clock=clock, engine=engine)


@pytest.fixture
def town(mattermost_contract: MattermostContract) -> Neighbourhood:
    town = Neighbourhood(mattermost_contract)
    town.add(SMALL, NAMES[SMALL], members=3, admins=(OWNER.id, HALF_OWNER.id), people=(MEMBER.id,))
    town.add(BIG, NAMES[BIG], members=20, admins=(OWNER.id,), people=(HALF_OWNER.id,))
    town.add(QUIET, NAMES[QUIET], members=4, admins=(OWNER.id,))
    town.usernames.update({person.id: person.name for person in (OWNER, MEMBER, HALF_OWNER)})
    return town


@pytest.fixture
def chat(runtime: Runtime) -> FlaskClient:
    return create_app(runtime).test_client()


def say(client: FlaskClient, person: Person, text: str, channel: str = SMALL) -> str:
    fields = load_form("slash_command__help.form", text=text, user_id=person.id, user_name=person.name,
                       channel_id=channel, channel_name=NAMES[channel], team_id=TEAM)
    return send_form(client, "/mattermost/command", fields).get_json()["text"]


def rate_at(runtime: Runtime, user: str, channel: str, url: str, when: datetime, stars: int = 4) -> None:
    with runtime.uow() as uow:
        rate_url(uow, runtime.settings, Rater(user.ljust(26, "x"), channel, channel_name=NAMES[channel]), url, stars,
                 None, when)


def weeks_ago(n: int) -> datetime:
    return datetime.combine(MONDAY - timedelta(weeks=n), datetime.min.time(), UTC) + timedelta(hours=10)


def fold(runtime: Runtime) -> None:
    """Long after every seeded event settled (this week's are recorded later in the day than the clock)."""
    rollups.fold_all(runtime.uow, runtime.signing_key, K, runtime.clock() + timedelta(days=1))


def community_of(runtime: Runtime, channel: str) -> int:
    with runtime.uow() as uow:
        return uow.communities.by_channel(channel).id


def known(runtime: Runtime, *channels: str) -> None:
    """Channels learnloop has seen (someone there used it)."""
    for channel in channels:
        with runtime.uow() as uow:
            communities.community_for_channel(uow, runtime.settings, channel_id=channel, team_id=TEAM,
                                              channel_name=NAMES[channel], now=runtime.clock())
            uow.commit()


def open_dashboard(runtime: Runtime, reply: str) -> tuple[FlaskClient, str]:
    browser = create_app(runtime).test_client()
    location = confirm(browser, link_path(reply)).headers["Location"]
    return browser, location


# ------------------------------------------------------------------------------ fewer than k members

@pytest.mark.parametrize("members", [K - 1, K, K + 1])
def test_a_channel_with_fewer_than_k_members_is_told_so_with_the_command_that_joins_it_up(
    runtime: Runtime, chat: FlaskClient, town: Neighbourhood, members: int
) -> None:
    town.channel(SMALL).member_count = members
    reply = say(chat, OWNER, "dashboard")
    small = members < K
    assert ("This channel has fewer than 5 members" in reply) == small
    assert ("`/learn community join ~channel-name`" in reply) == small
    assert f"{members} members" not in reply, "never the count"
    assert town.calls(f"/api/v4/channels/{SMALL}/stats")
    with runtime.uow() as uow:
        assert uow.communities.channel(SMALL).member_count == members, "the number only"
    browser, location = open_dashboard(runtime, reply)
    page = browser.get(location).get_data(as_text=True)
    assert ('id="small-community"' in page) == small
    assert ("This channel has fewer than\n    5 members" in page) == small
    assert ("/learn community join ~channel-name" in page) == small
    assert f"{members} members" not in page


def test_a_count_mattermost_does_not_give_says_nothing_and_keeps_the_last_one(
    runtime: Runtime, chat: FlaskClient, town: Neighbourhood
) -> None:
    assert "fewer than 5 members" in say(chat, OWNER, "dashboard")
    town.channels.remove(town.channel(SMALL))
    town.add(SMALL, NAMES[SMALL], admins=(OWNER.id,))
    town.channel(SMALL).member_count = -1
    assert "fewer than 5 members" in say(chat, OWNER, "dashboard"), "a count Mattermost did not give changes nothing"
    with runtime.uow() as uow:
        assert uow.communities.channel(SMALL).member_count == 3


# ------------------------------------------------------------------------------ join and leave

def test_an_owner_of_both_joins_a_small_channel_to_its_neighbour(
    runtime: Runtime, chat: FlaskClient, town: Neighbourhood
) -> None:
    for n in range(3):
        rate_at(runtime, f"small{n}", SMALL, "https://wiki.acme.example/Onboarding", weeks_ago(1))
    known(runtime, BIG)
    old = community_of(runtime, SMALL)
    say(chat, OWNER, "dashboard")
    reply = say(chat, OWNER, "community join ~data-guild")
    assert reply.startswith("Done: ~tiny-team now counts towards **~data-guild**, made of ~data-guild, ~tiny-team.")
    assert "To undo: `/learn community leave`" in reply
    joined = community_of(runtime, BIG)
    assert community_of(runtime, SMALL) == joined
    assert town.calls(f"/api/v4/teams/{TEAM}/channels/name/data-guild")
    assert town.calls(f"/api/v4/channels/{BIG}/members/{OWNER.id}"), "an owner of the other channel's community too"
    with runtime.uow() as uow:
        retired = uow.communities.get(old)
        assert retired.joined_into == joined and retired.retired_at is not None
        assert {e.community_id for e in uow.events.of_kind("rating")} == {joined}, "history moved"
    rate_at(runtime, "small9", SMALL, "https://wiki.acme.example/Later", START)
    with runtime.uow() as uow:
        assert uow.events.of_kind("rating")[-1].community_id == joined, "and from now on"
    listing = say(chat, MEMBER, "community")
    assert "counts towards **~data-guild**, made of ~data-guild, ~tiny-team." in listing
    assert ("Its owners, whom to ask about it: @halfowner, @owner. Its team's admins count too." in listing), \
        "the admins of both channels, by name"


def test_a_member_hears_whom_to_ask_the_channel_admins_and_configured_owners_by_name(
    engine: Engine, clock: FakeClock, town: Neighbourhood
) -> None:
    keeper = Person("keeper")
    town.usernames[keeper.id] = keeper.name
    settings = make_settings(communities=[{"name": "Tiny team", "channel_id": SMALL, "owners": [keeper.id]}])
    chat = create_app(build_runtime(settings, clock=clock, engine=engine)).test_client()
    listing = say(chat, MEMBER, "community")
    assert "Its owners, whom to ask about it: @halfowner, @keeper, @owner. Its team's admins count too." in listing
    assert len(town.calls("/api/v4/users/ids")) == 1, "who is active and their names: one question to Mattermost"
    town.users_busy = True
    assert ("Its owners are its channel admins, its team's admins, or owners named in learnloop's configuration; "
            "learnloop could not ask Mattermost for their names just now.") in say(chat, MEMBER, "community")


@pytest.mark.parametrize("text", ["seed", "pages", "community join ~data-guild", "community leave"])
def test_every_refusal_to_a_member_says_who_the_owners_are_alike(
    chat: FlaskClient, town: Neighbourhood, text: str
) -> None:
    assert ("(its channel admins, its team's admins, or owners named in learnloop's configuration)"
            in say(chat, MEMBER, text))


def test_a_member_of_a_joined_channel_sees_the_joined_dashboard_and_the_old_one_shows_nothing(
    runtime: Runtime, chat: FlaskClient, town: Neighbourhood
) -> None:
    known(runtime, SMALL, BIG)
    old = community_of(runtime, SMALL)
    assert say(chat, OWNER, "community join ~data-guild").startswith("Done")
    reply = say(chat, MEMBER, "dashboard")
    assert "fewer than 5 members" not in reply, "the joined community has more"
    browser, location = open_dashboard(runtime, reply)
    assert location == f"/dashboard/{community_of(runtime, BIG)}"
    assert browser.get(location).status_code == 200, "a member of any of its channels is a member"
    gone = browser.get(f"/dashboard/{old}", headers={"Accept": "text/html"})
    page = gone.get_data(as_text=True)
    assert gone.status_code == 410 and "joined ~data-guild" in page and "<dd" not in page and "<svg" not in page
    assert browser.get(f"/dashboard/{old}/export.json").status_code == 403, "exports are for owners"
    owner, _ = open_dashboard(runtime, say(chat, OWNER, "dashboard"))
    for export in ("export.json", "export.csv"):
        response = owner.get(f"/dashboard/{old}/{export}")
        assert response.status_code == 410 and "ratings" not in response.get_data(as_text=True)
    with owner.session_transaction() as cookie:
        cookie["csrf"] = "token-for-this-test"
    for path, form in ((f"/dashboard/{old}/step", {"action": learning_metrics.WEEKLY_PROMPT}),
                       (f"/dashboard/{old}/feedback/1", {"status": "resolved"})):
        response = owner.post(path, data={**form, "csrf_token": "token-for-this-test"})
        assert response.status_code == 410 and "joined ~data-guild" in response.get_data(as_text=True), path
    with runtime.reader() as uow:
        assert uow.session.scalars(select(PromptSchedule).where(PromptSchedule.community_id == old)).all() == [], \
            "nothing is done for it on its own"


def test_a_joined_channel_leaves_and_its_history_stays(runtime: Runtime, chat: FlaskClient,
                                                       town: Neighbourhood) -> None:
    rate_at(runtime, "small0", SMALL, "https://wiki.acme.example/Onboarding", weeks_ago(1))
    known(runtime, BIG)
    old = community_of(runtime, SMALL)
    say(chat, OWNER, "community join ~data-guild")
    joined = community_of(runtime, BIG)
    reply = say(chat, HALF_OWNER, "community leave")
    assert reply == ("Done: this channel is its own community again from now on. What it did while part of "
                     "~data-guild stays with ~data-guild: that history does not move back.")
    assert community_of(runtime, SMALL) == old
    with runtime.uow() as uow:
        assert uow.communities.get(old).joined_into is None
        assert [e.community_id for e in uow.events.of_kind("rating")] == [joined]
    rate_at(runtime, "small1", SMALL, "https://wiki.acme.example/Later", START)
    with runtime.uow() as uow:
        assert uow.events.of_kind("rating")[-1].community_id == old
    assert "its own community, **~tiny-team**" in say(chat, MEMBER, "community")


def test_moved_prompts_stop_and_the_joined_communitys_prompts_reach_every_channel(
    runtime: Runtime, chat: FlaskClient, town: Neighbourhood
) -> None:
    known(runtime, SMALL, BIG)
    ids = {channel: community_of(runtime, channel) for channel in (SMALL, BIG)}
    with runtime.uow() as uow:
        for channel in (SMALL, BIG):
            uow.schedules.add(PromptSchedule(
                community_id=ids[channel], questions=[{"text": "What did you learn?"}],
                rrule="FREQ=WEEKLY", local_time="16:30", window_minutes=60, timezone="UTC",
                anchor_date=MONDAY, default_visibility="private", active=True, created_by=OWNER.id,
                created_at=START))
        uow.commit()
    reply = say(chat, OWNER, "community join ~data-guild")
    assert "The prompts set up here are stopped (1): ~data-guild's prompts reach this channel from its next prompt planned, within two days" in reply
    with runtime.uow() as uow:
        schedules = list(uow.session.scalars(select(PromptSchedule).order_by(PromptSchedule.id)))
        assert [c.channel_id for c in uow.communities.channels(ids[BIG])] == [BIG, SMALL]
    assert [(s.community_id, s.active) for s in schedules] == [(ids[BIG], False), (ids[BIG], True)]


def test_a_digest_that_was_on_stops_and_the_owners_hear_where_the_joined_communitys_is_posted(
    runtime: Runtime, chat: FlaskClient, town: Neighbourhood
) -> None:
    """The emptied community's digest would have nothing to say ever again, silently."""
    known(runtime, BIG)
    assert "The weekly digest is on" in say(chat, OWNER, "digest on fri 09:00")
    old = community_of(runtime, SMALL)
    reply = say(chat, OWNER, "community join ~data-guild")
    assert ("The weekly digest set up here is off: ~data-guild has one digest, posted in ~data-guild when its "
            "owners there switch it on (`/learn digest on fri 09:00` in ~data-guild).") in reply
    with runtime.reader() as uow:
        assert uow.communities.get(old).digest_weekday is None
    known(runtime, QUIET)
    assert "digest" not in say(chat, OWNER, "community join ~data-guild", channel=QUIET), "none was on there"


def test_the_joined_communitys_prompts_are_planned_for_the_members_of_every_channel(
    runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock
) -> None:
    ann, bob, cid = Person("ann"), Person("bob"), Person("cid")
    world = World(runtime, mattermost_contract, people=[ann, bob])
    add_schedule(runtime, anchor=date(2026, 11, 2))
    known(runtime, SMALL)
    with runtime.uow() as uow:
        communities.join(uow, runtime.settings, channel_id=SMALL, team_id=TEAM, channel_name=NAMES[SMALL],
                         other_channel_id=CHANNEL, other_channel_name="data-guild", k=K,
                         key=runtime.signing_key, now=runtime.clock())
    clock.now = THURSDAY
    world.serve_members()
    mattermost_contract.add("GET", f"/api/v4/channels/{SMALL}/members", query={"page": "0", "per_page": "200"},
                            json=[{"channel_id": SMALL, "user_id": p.id, "roles": "channel_user"} for p in (bob, cid)])
    mattermost_contract.add("POST", "/api/v4/users/ids", json=[world.user(p) for p in (bob, cid)])
    assert prompts.run_prompt_pass(runtime).deliveries_planned == 3
    with runtime.uow() as uow:
        planned = sorted(uow.session.scalars(select(Delivery.user_id)))
    assert planned == sorted(p.id for p in (ann, bob, cid)), "each person once, whichever channels they are in"


def test_an_event_recorded_for_a_community_as_it_joined_counts_towards_the_joined_one(runtime: Runtime) -> None:
    known(runtime, SMALL, BIG)
    old = community_of(runtime, SMALL)
    joined = join_up(runtime)
    with runtime.uow() as uow:
        uow.events.append("reply", occurred_at=START, recorded_at=START, community_id=old, actor_id=MEMBER.id,
                          data={"root_id": "t1"})
        uow.commit()
    fold(runtime)
    with runtime.uow() as uow:
        counted = {(c, m) for c, m in uow.session.execute(select(WeeklyCount.community_id, WeeklyCount.metric))}
    assert counted == {(joined, "replies"), (joined, "threads")}


def test_a_join_committed_while_the_worker_folds_counts_the_fold_towards_the_joined_community(
        runtime: Runtime) -> None:
    known(runtime, SMALL, BIG)
    old = community_of(runtime, SMALL)
    with runtime.uow() as uow:
        uow.events.append("reply", occurred_at=START, recorded_at=START, community_id=old, actor_id=MEMBER.id,
                          data={"root_id": "t1"})
        uow.commit()
    now = runtime.clock() + timedelta(days=1)
    with runtime.reader() as uow:  # the worker has read the events, not written them yet
        found = rollups.read_fold(uow, runtime.signing_key, now)
    joined = join_up(runtime)
    with runtime.uow() as uow:
        assert rollups.apply_fold(uow, found, K, now)
    with runtime.uow() as uow:
        counted = {(c, m) for c, m in uow.session.execute(select(WeeklyCount.community_id, WeeklyCount.metric))}
    assert counted == {(joined, "replies"), (joined, "threads")}


def test_a_join_waits_for_a_fold_that_holds_the_community(runtime: Runtime) -> None:
    """The fold reads where each community's history went with their rows held: a join of one of them commits
    after the fold's rows are written, and moves them (PostgreSQL: the rows are held FOR SHARE; SQLite: the
    write lock)."""
    known(runtime, SMALL, BIG)
    old = community_of(runtime, SMALL)
    joined = threading.Event()

    def join() -> None:
        join_up(runtime)
        joined.set()

    with runtime.uow() as uow:
        assert uow.joins.successors_holding({old}) == {}
        thread = threading.Thread(target=join)
        thread.start()
        assert not joined.wait(0.5), "the join did not wait for the fold"
        uow.commit()
    assert joined.wait(5)
    thread.join()


def test_a_fold_that_meets_a_join_in_progress_waits_for_it_and_counts_towards_the_joined_community(
        runtime: Runtime) -> None:
    """The join holds both communities, then moves their events; the fold holds the communities before the
    events it counted, so the two take turns instead of each waiting for the other."""
    known(runtime, SMALL, BIG)
    old, big = community_of(runtime, SMALL), community_of(runtime, BIG)
    with runtime.uow() as uow:
        uow.events.append("reply", occurred_at=START, recorded_at=START, community_id=old, actor_id=MEMBER.id,
                          data={"root_id": "t1"})
        uow.commit()
    now = runtime.clock() + timedelta(days=1)
    with runtime.reader() as uow:
        found = rollups.read_fold(uow, runtime.signing_key, now)
    applied: list[bool] = []

    def fold_it() -> None:
        with runtime.uow() as uow:
            applied.append(rollups.apply_fold(uow, found, K, now))

    with runtime.uow() as join:
        join.joins.lock(old, big)
        thread = threading.Thread(target=fold_it)
        thread.start()
        thread.join(0.5)
        join.joins.move_history(old, big)
        join.joins.retire(old, big, now)
        join.commit()
    thread.join(10)
    assert applied == [True]
    with runtime.uow() as uow:
        counted = {(c, m) for c, m in uow.session.execute(select(WeeklyCount.community_id, WeeklyCount.metric))}
    assert counted == {(big, "replies"), (big, "threads")}


REFUSALS = [
    (MEMBER, "community join ~data-guild", SMALL, "Only this community's owners (its channel admins, its team's "
                                                  "admins, or owners named in learnloop's configuration) can join this "
                                                  "channel up with another. Nothing changed."),
    (HALF_OWNER, "community join ~data-guild", SMALL, "You need to be an owner of ~data-guild's community too"),
    (OWNER, "community join ~tiny-team", SMALL, "A channel cannot join itself"),
    (OWNER, "community join ~nowhere", SMALL, "learnloop does not know ~nowhere"),
    (OWNER, "community join ~quiet-corner", SMALL, "learnloop does not know ~quiet-corner yet"),
    (OWNER, "community join @data-guild", SMALL, "Name the neighbouring channel as it appears after `~`"),
    (OWNER, "community join", SMALL, "Name the neighbouring channel"),
    (OWNER, "community leave", SMALL, "This channel is its own community: there is nothing to leave."),
    (MEMBER, "community leave", SMALL, "Only this community's owners (its channel admins, its team's admins, or "
                                       "owners named in learnloop's configuration) can take this channel out of it."),
    (OWNER, "community merge ~data-guild", SMALL, "Try `/learn community`"),
]


@pytest.mark.parametrize(("person", "text", "channel", "expected"), REFUSALS)
def test_a_refused_join_or_leave_says_why_and_changes_nothing(
    runtime: Runtime, chat: FlaskClient, town: Neighbourhood, engine: Engine, person: Person, text: str,
    channel: str, expected: str
) -> None:
    rate_at(runtime, "small0", SMALL, "https://wiki.acme.example/Onboarding", weeks_ago(1))
    known(runtime, BIG)
    before = stored(engine)
    assert expected in say(chat, person, text, channel)
    assert stored(engine) == before


def test_joining_twice_or_leaving_the_home_channel_is_refused_and_changes_nothing(
    runtime: Runtime, chat: FlaskClient, town: Neighbourhood, engine: Engine
) -> None:
    known(runtime, SMALL, BIG)
    assert say(chat, OWNER, "community join ~data-guild").startswith("Done")
    before = stored(engine)
    assert "This channel and ~data-guild are already one community. Nothing changed." in \
        say(chat, OWNER, "community join ~data-guild")
    assert "This is the channel ~data-guild started in, so it cannot leave" in \
        say(chat, OWNER, "community leave", BIG)
    assert "already one community" in say(chat, OWNER, "community join ~tiny-team", BIG)
    assert stored(engine) == before


def test_the_configuration_can_list_more_channels_for_a_community(
    engine: Engine, clock: FakeClock, town: Neighbourhood
) -> None:
    town.add(EXTRA, NAMES[EXTRA], admins=(OWNER.id,))
    runtime = build_runtime(make_settings(communities=[
        {"name": "Data guild", "channel_id": BIG, "channels": [EXTRA], "owners": [OWNER.id]}]), clock=clock,
        engine=engine)
    rate_at(runtime, "extra0", EXTRA, "https://wiki.acme.example/Onboarding", START)
    assert community_of(runtime, EXTRA) == community_of(runtime, BIG)
    with runtime.uow() as uow:
        assert uow.communities.get(community_of(runtime, BIG)).name == "Data guild"
    known(runtime, SMALL)
    chat = create_app(runtime).test_client()
    before = stored(engine)
    assert "set in learnloop's configuration" in say(chat, OWNER, "community leave", EXTRA)
    assert "belongs to a community set in learnloop's configuration" in \
        say(chat, OWNER, "community join ~tiny-team", EXTRA)
    assert stored(engine) == before
    assert say(chat, OWNER, "community join ~guild-extra", SMALL).startswith(
        "Done: ~tiny-team now counts towards **Data guild**"), "a channel may join a configured community"


# ------------------------------------------------------------------------------ the joined figures

def comparable(view: dashboard.Dashboard) -> dict:
    found = dataclasses.asdict(view)
    found.pop("community_id")
    return found


def views(runtime: Runtime, community_id: int) -> list[dict]:
    today = runtime.clock().date()
    periods = [dashboard.Period.last_weeks(today, 4), dashboard.Period.last_weeks(today, 12),
               dashboard.Period(MONDAY - timedelta(weeks=10), MONDAY - timedelta(weeks=3))]
    with runtime.uow() as uow:
        return [comparable(dashboard.build(uow, community_id, period, K)) for period in periods]


def join_up(runtime: Runtime) -> int:
    with runtime.uow() as uow:
        joined = communities.join(uow, runtime.settings, channel_id=SMALL, team_id=TEAM, channel_name=NAMES[SMALL],
                                  other_channel_id=BIG, other_channel_name=NAMES[BIG], k=K,
                                  key=runtime.signing_key, now=runtime.clock())
    return joined.community_id


Plan = list[tuple[str, str, int, str]]
"""(channel, person, weeks ago, page rated)."""
NEITHER_RELEASED: Plan = [
    *[(SMALL, f"s{n}", w, f"p{n % 2}") for n in range(3) for w in (6, 2)],
    *[(BIG, f"b{n}", w, f"p{n % 3}") for n in range(3) for w in (5, 1)],
]
BIG_RELEASED_BEFORE_SMALL_BEGAN: Plan = [
    *[(BIG, f"b{n}", 9, f"p{n}") for n in range(6)],
    *[(BIG, f"b{n}", 4, "p1") for n in range(2)],
    *[(SMALL, f"s{n}", w, "p2") for n in range(3) for w in (3, 0)],
]


def enact(runtime: Runtime, plan: Plan, *, one_channel: bool = False) -> None:
    """Each channel rates its own pages (a rating counts towards the community of the page rated)."""
    for channel, person, ago, page in plan:
        rate_at(runtime, person, BIG if one_channel else channel, f"https://wiki.acme.example/{NAMES[channel]}/{page}",
                weeks_ago(ago), stars=1 + len(person) % 5 + ago % 2)
    fold(runtime)


@pytest.mark.parametrize("plan", [NEITHER_RELEASED, BIG_RELEASED_BEFORE_SMALL_BEGAN])
def test_a_joined_community_shows_what_one_community_with_all_the_events_would(
    runtime: Runtime, engine: Engine, plan: Plan
) -> None:
    enact(runtime, plan)
    joined = views(runtime, join_up(runtime))
    _empty_all_tables(engine)
    enact(runtime, plan, one_channel=True)
    assert joined == views(runtime, community_of(runtime, BIG))
    assert any(total["value"] for view in joined for total in view["totals"].values()), "figures to compare"


def test_weeks_the_neighbour_already_released_stay_as_they_were_shown(runtime: Runtime) -> None:
    enact(runtime, [*[(BIG, f"b{n}", 3, "p1") for n in range(5)], (SMALL, "s0", 3, "p1"), (SMALL, "s1", 3, "p2"),
                    *[(SMALL, f"s{n}", 1, "p2") for n in range(3)], *[(BIG, f"b{n}", 1, "p2") for n in range(2)]])
    before = views(runtime, community_of(runtime, BIG))
    released_week = [f for f in before[1]["weekly"]["ratings"].values() if f["value"]]
    assert released_week == [{"value": 5, "k": K, "first": MONDAY - timedelta(weeks=3),
                              "last": MONDAY - timedelta(weeks=3), "complete": True}]
    after = views(runtime, join_up(runtime))
    week = MONDAY - timedelta(weeks=3)
    assert after[1]["weekly"]["ratings"][week] == before[1]["weekly"]["ratings"][week], \
        "the small channel's 2 ratings that week would show as the difference"
    later = {"first": MONDAY - timedelta(weeks=2), "last": MONDAY - timedelta(weeks=1), "note": None,
             "figure": {"value": 5, "k": K, "first": MONDAY - timedelta(weeks=2), "last": MONDAY - timedelta(weeks=1),
                        "complete": True}}
    assert later in after[1]["rows"]["ratings"], "its later weeks count, with the neighbour's"


def test_a_join_moves_everything_that_names_the_community(runtime: Runtime, engine: Engine) -> None:
    rate_at(runtime, "s0", SMALL, "https://wiki.acme.example/p", weeks_ago(1))
    known(runtime, BIG)
    old = community_of(runtime, SMALL)
    fold(runtime)
    join_up(runtime)
    with engine.connect() as connection:
        for table in ("content_items", "ratings", "events", "weekly_counts", "weekly_members", "release_blocks",
                      "item_scores", "score_bases", "feedback", "reflections", "announcements", "prompt_schedules"):
            assert connection.exec_driver_sql(f"SELECT count(*) FROM {table} WHERE community_id = {old}").scalar() == 0
        assert connection.execute(select(CommunityChannel.channel_id).where(
            CommunityChannel.community_id == old)).all() == []
        assert connection.execute(select(Event.id)).all(), "the events themselves stay"


def test_a_big_community_joining_a_small_one_keeps_the_weeks_it_showed(runtime: Runtime) -> None:
    enact(runtime, [*[(SMALL, f"s{n}", w, "p") for n in range(6) for w in (8, 5)], (BIG, "b0", 8, "p"),
                    (BIG, "b1", 2, "p")])
    before = views(runtime, community_of(runtime, SMALL))
    after = views(runtime, join_up(runtime))
    assert after[1]["totals"]["ratings"]["value"] == before[1]["totals"]["ratings"]["value"] == 12, \
        "the small one's rating in a week the big one had shown stays out; the big one's weeks stay"
    assert after[1]["rows"]["ratings"][:2] == before[1]["rows"]["ratings"][:2]


# ------------------------------------------------------------------------------ no figure about fewer than k

@dataclass
class Pair:
    """Who rated and who replied, by weeks ago, in the small channel and in its neighbour."""

    small: Community
    big: Community


pairs = st.builds(Pair, small=st.integers(2, K + 2).flatmap(lambda size: st.builds(
    Community, ratings=st.dictionaries(st.integers(0, WEEKS - 1), people(size), max_size=WEEKS),
    replies=st.dictionaries(st.integers(0, WEEKS - 1), people(size), max_size=WEEKS))), big=generated_communities)
MEASURES = ("ratings", "replies")
Cells = dict[tuple[str, date], set[str]]
"""(channel, week) to the people behind it, for one measure."""


def seed_channel(runtime: Runtime, channel: str, activity: Community) -> None:
    for weeks, raters in activity.ratings.items():
        for n in raters:
            rate_at(runtime, f"{channel[:5]}{n}", channel, f"https://wiki.acme.example/{NAMES[channel]}/p{n % 3}",
                    datetime.combine(week_start(weeks), datetime.min.time(), UTC) + timedelta(hours=10))
    known(runtime, channel)
    community_id = community_of(runtime, channel)
    with runtime.uow() as uow:
        for weeks, repliers in activity.replies.items():
            when = datetime.combine(week_start(weeks), datetime.min.time(), UTC) + timedelta(hours=11)
            for n in repliers:
                uow.events.append("reply", occurred_at=when, recorded_at=when, community_id=community_id,
                                  actor_id=f"{channel[:5]}{n}".ljust(26, "x"), data={"root_id": f"t{n % 2}"})
        uow.commit()


def cells(activity: Community, channel: str, measure: str) -> Cells:
    found = activity.ratings if measure == "ratings" else activity.replies
    return {(channel, week_start(n)): {f"{channel}{who}" for who in people} for n, people in found.items() if people}


def figures(runtime: Runtime, community_id: int) -> list[tuple[str, date, date, float]]:
    """Every numeric figure of ratings and replies that the exports give, over the views the tests use."""
    today = runtime.clock().date()
    periods = [dashboard.Period.last_weeks(today, 4), dashboard.Period.last_weeks(today, 12),
               *(dashboard.Period(week_start(a), week_start(b)) for a, b in ((13, 9), (11, 2), (6, 6), (4, 0)))]
    found = []
    with runtime.uow() as uow:
        for period in periods:
            for row in rows(dashboard.build(uow, community_id, period, K)):
                if row["measure"] in MEASURES and row["from_week"] and not isinstance(row["value"], str):
                    found.append((str(row["measure"]), date.fromisoformat(str(row["from_week"])),
                                  date.fromisoformat(str(row["to_week"])), float(row["value"])))
    return found


def who(found: Cells, chosen: set[tuple[str, date]]) -> int:
    return len(set().union(*(found[cell] for cell in chosen)))


@settings(max_examples=15, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(pair=pairs)
def test_no_figure_before_or_after_a_join_nor_any_difference_describes_fewer_than_k(
    runtime: Runtime, engine: Engine, pair: Pair
) -> None:
    _empty_all_tables(engine)
    seed_channel(runtime, SMALL, pair.small)
    seed_channel(runtime, BIG, pair.big)
    fold(runtime)
    small, big = community_of(runtime, SMALL), community_of(runtime, BIG)
    shown = {SMALL: figures(runtime, small), BIG: figures(runtime, big)}
    with runtime.uow() as uow:
        blocks = {(channel, measure): uow.rollups.blocks(community, measure)
                  for channel, community in ((SMALL, small), (BIG, big)) for measure in MEASURES}
    joined = join_up(runtime)
    after = figures(runtime, joined)
    for measure in MEASURES:
        truth = {**cells(pair.small, SMALL, measure), **cells(pair.big, BIG, measure)}
        mine, theirs = blocks[(SMALL, measure)], blocks[(BIG, measure)]
        released = [sum(b.value for b in found if b.closed) for found in (mine, theirs)]
        other = BIG if released[0] > released[1] else SMALL
        cutoff = merge_after(mine, theirs)
        counted = {cell for cell in truth if cell[0] != other or cutoff is None or cell[1] > cutoff}

        def over(first: date, last: date, chosen: set[tuple[str, date]]) -> set[tuple[str, date]]:
            return {cell for cell in chosen if first <= cell[1] <= last}

        later = [over(first, last, counted) for m, first, last, value in after if m == measure]
        for (_, first, last, value), covered in zip([f for f in after if f[0] == measure], later, strict=True):
            assert value == sum(len(truth[cell]) for cell in covered), f"{measure} {first}..{last} is exact"
            assert who(truth, covered) in (0, *range(K, 1000)), f"{measure} {first}..{last}"
        earlier = [over(first, last, {c for c in truth if c[0] == channel})
                   for channel, found in shown.items() for m, first, last, value in found if m == measure]
        for one, another in [*combinations(later, 2), *((a, b) for a in earlier for b in later)]:
            for part in (one - another, another - one):
                assert who(truth, part) in (0, *range(K, 1000)), \
                    f"{measure}: a figure before or after the join minus another isolates fewer than {K} people"

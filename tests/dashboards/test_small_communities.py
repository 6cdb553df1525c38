"""Small communities: a community whose channels have fewer than k members is told so, with the command that
joins it up with a neighbouring channel, in chat and on the dashboard; never with the count."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask.testing import FlaskClient
from learnloop.bootstrap import Runtime, build_runtime
from learnloop.services import communities, rollups
from learnloop.services.rating import Rater, rate_url
from learnloop.wiring import create_app
from sqlalchemy import Engine

from tests.conftest import START, FakeClock, make_settings
from tests.contract.mattermost_openapi import MattermostContract
from tests.dashboards.neighbourhood import TEAM, Neighbourhood
from tests.mattermost.inbound import load_form, send_form
from tests.prompts.world import Person
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
    rollups.fold_all(runtime.uow, runtime.signing_key, K, runtime.clock() + timedelta(minutes=1))


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

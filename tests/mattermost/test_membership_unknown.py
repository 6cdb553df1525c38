"""When Mattermost cannot say whether someone is in a channel (down, rate limiting), people are told to try
again, never that they are not a member."""

from __future__ import annotations

import pytest
from tests.conftest import FakeClock, make_settings
from tests.contract.mattermost_openapi import MattermostContract
from tests.prompts.world import Person, slash
from tests.web.links import confirm

from learnloop.bootstrap import Runtime, build_runtime
from learnloop.services import links
from learnloop.wiring import create_app

CHANNEL = "fukk3xq1bbn8fgmsiwh4xprwdh"
TEAM = "rdc9bgriktyx9p4kowh3dmgqyc"
OWNER, MEMBER = Person("owner"), Person("ann")
TRY_AGAIN = "could not ask Mattermost whether you are in this channel"


@pytest.fixture
def runtime(engine, clock: FakeClock) -> Runtime:
    settings = make_settings(communities=[{"name": "Data guild", "channel_id": CHANNEL, "owners": [OWNER.id]}])
    return build_runtime(settings, clock=clock, engine=engine)


def membership_answers(contract: MattermostContract, status: int) -> None:
    contract.add("GET", f"/api/v4/channels/{CHANNEL}/members/{MEMBER.id}", status=status,
                 json={"id": "api.context.server_busy.app_error", "message": "busy", "status_code": status})


@pytest.mark.parametrize("status", [429, 500, 503])
def test_a_slash_command_says_try_again_when_mattermost_cannot_answer(
    runtime: Runtime, mattermost_contract: MattermostContract, status: int
) -> None:
    membership_answers(mattermost_contract, status)
    text = slash(create_app(runtime).test_client(), MEMBER, "dashboard")["text"]
    assert TRY_AGAIN in text and f"it answered {status}" in text
    assert "Only this channel's members" not in text


def test_someone_mattermost_does_not_know_in_the_channel_is_still_told_so(
    runtime: Runtime, mattermost_contract: MattermostContract
) -> None:
    mattermost_contract.add("GET", f"/api/v4/channels/{CHANNEL}/members/{MEMBER.id}", status=404,
                            json={"id": "app.channel.get_member.missing.app_error", "message": "No channel member",
                                  "status_code": 404})
    mattermost_contract.add("GET", f"/api/v4/teams/{TEAM}/members/{MEMBER.id}", status=404,
                            json={"id": "app.team.get_member.missing.app_error", "message": "No team member",
                                  "status_code": 404})
    assert "Only this channel's members" in slash(create_app(runtime).test_client(), MEMBER, "dashboard")["text"]


def test_the_dashboard_page_answers_503_with_the_reason_when_mattermost_cannot_answer(
    runtime: Runtime, mattermost_contract: MattermostContract
) -> None:
    client = create_app(runtime).test_client()
    mattermost_contract.add("GET", f"/api/v4/channels/{CHANNEL}/stats", json={"channel_id": CHANNEL, "member_count": 12})
    slash(client, OWNER, "dashboard")
    with runtime.uow() as uow:
        community_id = uow.communities.by_channel(CHANNEL).id
        token = links.issue(uow, user_id=MEMBER.id, username=MEMBER.name, next_path=f"/dashboard/{community_id}",
                            now=runtime.clock())
    membership_answers(mattermost_contract, 503)
    confirm(client, links.signin_url("", token))
    page = client.get(f"/dashboard/{community_id}", headers={"Accept": "text/html"})
    assert page.status_code == 503
    assert TRY_AGAIN in page.get_data(as_text=True)

"""The dashboard offers the starter kit once, and each stage's next step is a button that does it for an owner
(CSRF-protected, through the same services and outbox as the chat commands, then back to the page with what
was done); members see the text only. Posts go out through the recorded request shapes."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from learnloop.bootstrap import Runtime
from learnloop.domain import learning_metrics as stages
from learnloop.jobs.worker import Worker
from learnloop.services import links, seeding
from learnloop.services.communities import community_for_channel
from learnloop.services.outbox_kinds import CREATE_POST
from learnloop.storage.tables import OutboxMessage, PromptSchedule
from learnloop.wiring import create_app
from tests.conftest import FakeClock
from tests.contract.mattermost_openapi import MattermostContract
from tests.network.seed.conftest import (
    ANN,
    BLOG,
    OWNER,
    SHELF_TITLES,
    K,
    count,
    ingest,
    outbox,
    page_event,
    rate,
    stocked,
)
from tests.network.standin import StandIn
from tests.prompts.world import CHANNEL, Person, add_schedule, courier
from tests.web.links import confirm


def community_id(runtime: Runtime) -> int:
    with runtime.uow() as uow:
        found = community_for_channel(uow, runtime.settings, channel_id=CHANNEL, team_id=None,
                                      channel_name="data-guild", now=runtime.clock())
        uow.commit()
    return found


def signed_in(runtime: Runtime, person: Person = OWNER) -> FlaskClient:
    client = create_app(runtime).test_client()
    with runtime.uow() as uow:
        token = links.issue(uow, user_id=person.id, username=person.name, next_path="/", now=runtime.clock())
    assert confirm(client, links.signin_url("", token)).status_code in (302, 303)
    return client


def page(client: FlaskClient, community: int) -> str:
    response = client.get(f"/dashboard/{community}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def csrf(text: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', text).group(1)  # type: ignore[union-attr]


def press(client: FlaskClient, community: int, action: str) -> str:
    """Press the next-step button as the page's form does; the flash on the page it leads back to."""
    token = csrf(page(client, community))
    response = client.post(f"/dashboard/{community}/step?period=12w", data={"csrf_token": token, "action": action})
    assert response.status_code == 303 and response.headers["Location"] == f"/dashboard/{community}?period=12w"
    after = client.get(response.headers["Location"]).get_data(as_text=True)
    found = re.search(r'<div class="flash" role="status"><p>(.*?)</p></div>', after, re.DOTALL)
    assert found is not None, "the page says what was done"
    return found.group(1)


def test_a_visit_without_signing_in_says_how_to_sign_in(seeded_runtime: Runtime) -> None:
    client = create_app(seeded_runtime).test_client()
    for community in (community_id(seeded_runtime), 999):
        response = client.get(f"/dashboard/{community}", headers={"Accept": "text/html"})
        text = response.get_data(as_text=True)
        assert response.status_code == 401 and "Sign in to see this dashboard" in text
        assert "/learn dashboard" in text and "Data guild" not in text, "nothing about the community itself"
    assert client.get("/dashboard/1/export.json", headers={"Accept": "application/json"}).status_code == 401


def test_an_owner_is_offered_the_starter_kit_once_at_the_seeding_stage(seeded_runtime: Runtime) -> None:
    community = community_id(seeded_runtime)
    client = signed_in(seeded_runtime)
    first = page(client, community)
    assert "Start with the starter kit" in first and "<code>/learn seed</code>" in first
    assert "Stage: seeding" in first and "Post a starter shelf in the Data guild channel" in first
    second = page(client, community)
    assert "Start with the starter kit" not in second, "offered once per community"
    assert "Post a starter shelf in the Data guild channel" in second, "the button stays"


def to_get_there(text: str) -> str:
    found = re.search(r'<p id="to-get-there">(.*?)</p>', text, re.DOTALL)
    assert found is not None, "the empty page says how to get to the first figures"
    return " ".join(found.group(1).split())


def test_an_owner_with_a_prompt_running_is_offered_the_shelf_not_another_prompt(seeded_runtime: Runtime) -> None:
    """A prompt set up another way than `/learn prompts setup` (an event's, or one a joined community brought)
    leaves the starter kit unoffered so far."""
    add_schedule(seeded_runtime)
    text = page(signed_in(seeded_runtime), community_id(seeded_runtime))
    assert "Stock the shelf" in text and "Start with the starter kit" not in text
    assert "Your reflection prompt is running" in text and "<em>No prompt for now</em>" in text
    advice = to_get_there(text)
    assert "/learn prompts setup" not in advice
    assert "remind them to answer the reflection prompt that is running (<code>/learn prompts</code> lists it)" in advice


def test_an_owner_without_a_prompt_is_advised_to_set_one_up(seeded_runtime: Runtime) -> None:
    text = page(signed_in(seeded_runtime), community_id(seeded_runtime))
    assert "set up a weekly question with <code>/learn prompts setup</code>" in to_get_there(text)


@pytest.mark.parametrize(("running", "said"), [
    (False, "A weekly reflection question is set up by this community's owners: <code>/learn community</code> "
            "names them."),
    (True, "answer the reflection prompt when it reaches you."),
])
def test_a_member_is_advised_what_a_member_can_do(
    seeded_runtime: Runtime, mattermost_contract: MattermostContract, running: bool, said: str
) -> None:
    mattermost_contract.add("GET", f"/api/v4/channels/{CHANNEL}/members/{ANN.id}",
                            json={"channel_id": CHANNEL, "user_id": ANN.id, "roles": "channel_user"})
    if running:
        add_schedule(seeded_runtime)
    advice = to_get_there(page(signed_in(seeded_runtime, ANN), community_id(seeded_runtime)))
    assert said in advice and "/learn prompts setup" not in advice
    assert "rate what colleagues share" in advice


def test_a_member_sees_the_next_step_but_no_button_and_cannot_do_it(
    seeded_runtime: Runtime, mattermost_contract: MattermostContract
) -> None:
    mattermost_contract.add("GET", f"/api/v4/channels/{CHANNEL}/members/{ANN.id}",
                            json={"channel_id": CHANNEL, "user_id": ANN.id, "roles": "channel_user"})
    community = community_id(seeded_runtime)
    client = signed_in(seeded_runtime, ANN)
    text = page(client, community)
    assert "Next step:" in text and "/step" not in text and "starter kit" not in text
    response = client.post(f"/dashboard/{community}/step",
                           data={"csrf_token": csrf(text) if "csrf_token" in text else "", "action": stages.STARTER_SHELF})
    assert response.status_code == 403
    assert count(seeded_runtime, OutboxMessage) == 0


def test_the_shelf_button_queues_the_starter_shelf_and_says_so(
    seeded_runtime: Runtime, standin: StandIn, mattermost_contract: MattermostContract, clock: FakeClock
) -> None:
    stocked(seeded_runtime)
    community = community_id(seeded_runtime)
    client = signed_in(seeded_runtime)
    refused = client.post(f"/dashboard/{community}/step", data={"action": stages.STARTER_SHELF})
    assert refused.status_code == 400 and not outbox(seeded_runtime, CREATE_POST), "CSRF token required"

    said = press(client, community, stages.STARTER_SHELF)
    assert said == "A starter shelf of 4 pages will be posted in the Data guild channel in a moment, with rating buttons."
    courier(seeded_runtime).deliver()
    [post] = standin.channel_posts(CHANNEL)
    assert [a["title"] for a in post["props"]["attachments"]] == SHELF_TITLES, "the same shelf as /learn seed"

    clock.advance(minutes=2)
    again = press(client, community, stages.STARTER_SHELF)
    assert "was queued at 10:00, so nothing new was posted; a fresh one can go out after 10:10" in again
    assert len(outbox(seeded_runtime, CREATE_POST)) == 1


def test_with_nothing_to_list_the_shelf_button_says_so_and_posts_nothing(bare_runtime: Runtime) -> None:
    community = community_id(bare_runtime)
    said = press(signed_in(bare_runtime), community, stages.STARTER_SHELF)
    assert said.startswith("No starter shelf: no wiki space is mapped")
    assert count(bare_runtime, OutboxMessage) == 0


def test_people_rating_content_move_the_button_to_inviting_them_to_share(
    seeded_runtime: Runtime, clock: FakeClock
) -> None:
    rate(seeded_runtime, BLOG, 5, raters=K)
    clock.next_week()
    Worker(seeded_runtime).run_rollups()  # the week has ended: the worker's pass releases it
    text = page(signed_in(seeded_runtime), community_id(seeded_runtime))
    assert "Stage: consuming" in text
    assert f'name="action" value="{stages.INVITE_SHARING}"' in text
    assert "Post an invitation to share what helped, in the Data guild channel" in text


@pytest.mark.parametrize(("action", "said", "posted"), [
    (stages.INVITE_SHARING, "An invitation to share what helped will be posted in the Data guild channel",
     "/learn share <link> why it helped"),
    (stages.ASK_QUESTION, f"A discussion question about “{BLOG}” will be posted", f"A question about [{BLOG}]"),
    (stages.INVITE_PUBLISHING, "An invitation to publish reflections to the learning log will be posted",
     "*Learning log: Data guild*"),
])
def test_each_posting_step_goes_out_once_through_the_outbox(
    seeded_runtime: Runtime, standin: StandIn, mattermost_contract: MattermostContract, action: str, said: str,
    posted: str
) -> None:
    stocked(seeded_runtime)
    client = signed_in(seeded_runtime)
    assert said in press(client, community_id(seeded_runtime), action)
    courier(seeded_runtime).deliver()
    [post] = standin.channel_posts(CHANNEL)
    assert posted in post["message"] and post["props"]["learnloop_seed"] == action
    assert [c.operation_id for c in mattermost_contract.calls if c.method == "POST"] == ["CreatePost"]


def test_the_weekly_prompt_step_sets_up_what_so_what_now_what_through_the_set_up_service(
    seeded_runtime: Runtime
) -> None:
    client = signed_in(seeded_runtime)
    community = community_id(seeded_runtime)
    said = press(client, community, stages.WEEKLY_PROMPT)
    assert said.startswith("Saved as prompt 1: members will be asked “What happened this week that you learned from?”")
    assert said.endswith("” every Friday at 16:30 (What? So what? Now what?), each at their own local time. Nobody is "
                         "named for not answering.")
    again = press(client, community, stages.WEEKLY_PROMPT)
    with seeded_runtime.uow() as uow:
        [schedule] = uow.session.scalars(select(PromptSchedule)).all()
    assert again.startswith(f"That prompt is already set up (number {schedule.id})")
    assert (schedule.timezone, schedule.created_by, schedule.window_minutes) == ("Europe/Berlin", OWNER.id, 960)
    assert count(seeded_runtime, OutboxMessage) == 0


def test_without_a_wiki_space_there_is_no_learning_log_to_invite_to(bare_runtime: Runtime) -> None:
    said = press(signed_in(bare_runtime), community_id(bare_runtime), stages.INVITE_PUBLISHING)
    assert said == ("This community has no wiki space to publish to yet; your admin maps one in learnloop.toml. "
                    "Nothing was done.")
    assert count(bare_runtime, OutboxMessage) == 0


def test_a_step_that_does_not_exist_is_refused(seeded_runtime: Runtime) -> None:
    client = signed_in(seeded_runtime)
    community = community_id(seeded_runtime)
    token = csrf(page(client, community))
    response = client.post(f"/dashboard/{community}/step", data={"csrf_token": token, "action": "delete_everyone"},
                           headers={"Accept": "text/html"})
    assert response.status_code == 400 and "is not a next step" in response.get_data(as_text=True)


def test_a_page_restored_after_its_deletion_is_back_on_the_shelf(seeded_runtime: Runtime) -> None:
    """Its latest major change before the deletion counts again; a deletion is the latest change only until the
    page comes back."""
    stocked(seeded_runtime)
    ingest(seeded_runtime, page_event(9, "old", "Old notes", action="restored", minute=9))
    with seeded_runtime.reader() as uow:
        community_id = community_for_channel(uow, seeded_runtime.settings, channel_id=CHANNEL, team_id=None,
                                             channel_name="data-guild", now=seeded_runtime.clock())
        titles = [item.title for item in seeding.shelf(uow, community_id, K,
                                                       skip_titles=frozenset({"learning log: data guild"}))]
    assert titles == [BLOG, "Deploying", "Onboarding", "Old notes", "Runbook"], "newest major change first"


def test_the_learning_log_stays_off_the_shelf_whatever_its_title(seeded_runtime: Runtime) -> None:
    """Ingest marks its changes as the learning log's (moved, or in a namespace, its title is not the configured
    one): the shelf leaves those out without being told its title."""
    stocked(seeded_runtime)
    with seeded_runtime.reader() as uow:
        community_id = community_for_channel(uow, seeded_runtime.settings, channel_id=CHANNEL, team_id=None,
                                             channel_name="data-guild", now=seeded_runtime.clock())
        titles = [item.title for item in seeding.shelf(uow, community_id, K)]
    assert titles == SHELF_TITLES

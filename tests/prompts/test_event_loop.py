"""Closing the loop on an event: the prompts before and after it name the event and its date, in the DM and in
`/learn prompts`; after the event each person is reminded, privately, of their own answer from before."""

from __future__ import annotations

from datetime import UTC, date, datetime

from flask.testing import FlaskClient
from sqlalchemy import select

from learnloop.bootstrap import Runtime
from learnloop.services.communities import community_for_channel
from learnloop.services.prompts import setup
from learnloop.storage.tables import Delivery
from tests.conftest import FakeClock
from tests.contract.mattermost_openapi import MattermostContract
from tests.prompts.world import CHANNEL, Person, World, click, opened_dialog, slash, submit, uid

ANN, BOB = Person("ann"), Person("bob")
HOPE = "How Helm charts are versioned"


def event_prompts(runtime: Runtime) -> None:
    with runtime.uow() as uow:
        community_id = community_for_channel(uow, runtime.settings, channel_id=CHANNEL, team_id=None,
                                             channel_name="data-guild", now=runtime.clock())
        setup.create_event_prompts(
            uow, community_id=community_id, timezone="Europe/Berlin", label="Kubernetes training",
            event_date=date(2026, 11, 4), when="both", question_before="What do you hope to learn?",
            question_after="What did you take away?", local_time="16:30", window="16h",
            default_visibility="private", created_by=uid("owner"), now=runtime.clock())


def sent_today(world: World, clock: FakeClock, moment: datetime) -> dict[str, dict]:
    clock.now = moment
    world.serve_statuses()
    world.serve_dm_and_posts(2)
    before = len(world.prompt_posts())
    world.tick()
    posts = world.prompt_posts()[before:]
    return {("ann" if "ann" in p.json["channel_id"] else "bob"): p.json["props"]["attachments"][0] for p in posts}


def test_the_prompt_after_an_event_reminds_each_person_of_their_own_answer_before(
        client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock) -> None:
    world = World(runtime, mattermost_contract, people=[ANN, BOB])
    event_prompts(runtime)
    listing = slash(client, ANN, "prompts")["text"]
    assert "Kubernetes training on Wed 04 Nov 2026" in listing
    clock.now = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
    world.serve_members()
    world.tick()

    before = sent_today(world, clock, datetime(2026, 11, 3, 15, 31, tzinfo=UTC))
    assert before["ann"]["title"] == "Kubernetes training on Wed 04 Nov · ~data-guild"
    assert "What do you hope to learn?" in before["ann"]["text"]
    mattermost_contract.add("POST", "/api/v4/actions/dialogs/open", json={"status": "OK"})
    reflect = next(a for a in before["ann"]["actions"] if a["name"] == "Reflect now")
    click(client, ANN, reflect["integration"]["context"])
    form = opened_dialog(mattermost_contract)
    assert submit(client, ANN, "reflect", form["state"], {"answer1": HOPE, "visibility": "private"}).status_code == 200
    mattermost_contract.add("PUT", f"/api/v4/posts/{'p' * 26}/patch", json={"id": "p" * 26, "message": ""})

    after = sent_today(world, clock, datetime(2026, 11, 4, 15, 31, tzinfo=UTC))
    assert after["ann"]["text"].startswith(f"Before Kubernetes training on Wed 04 Nov you wrote:\n> {HOPE}\n\n"
                                           "- What did you take away?")
    assert HOPE not in str(after["bob"]) and "you wrote" not in after["bob"]["text"], "bob answered nothing before"


def test_an_event_s_prompts_come_at_the_time_its_owners_chose_not_each_person_s_own(
        client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock) -> None:
    """Someone whose own time is 08:00, or who is in Tokyo, would be asked what they took away from an event that
    has not happened: the prompts before and after an event keep the owners' time (16:30 in Berlin)."""
    world = World(runtime, mattermost_contract, people=[ANN, Person("kenji", timezone="Asia/Tokyo")])
    slash(client, ANN, "prompts time 08:00")
    event_prompts(runtime)
    clock.now = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
    world.serve_members()
    world.tick()
    with runtime.reader() as uow:
        due = sorted(d.due_at for d in uow.session.scalars(select(Delivery)))
    assert due == [datetime(2026, 11, 3, 15, 30, tzinfo=UTC)] * 2 + [datetime(2026, 11, 4, 15, 30, tzinfo=UTC)] * 2

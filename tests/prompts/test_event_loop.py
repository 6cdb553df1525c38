"""Closing the loop on an event: the prompts before and after it name the event and its date, in the DM and in
`/learn prompts`; after the event each person is reminded, privately, of their own answer from before: *Reflect
now* shows it in its form, read when the form opens, never in the DM's post (Mattermost keeps posts)."""

from __future__ import annotations

import json
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


def answered_before(client: FlaskClient, runtime: Runtime, contract: MattermostContract, clock: FakeClock,
                    world: World) -> dict[str, dict]:
    """Ann answers the prompt before the event, bob does not; the prompts after it are sent."""
    event_prompts(runtime)
    clock.now = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
    world.serve_members()
    world.tick()
    before = sent_today(world, clock, datetime(2026, 11, 3, 15, 31, tzinfo=UTC))
    assert before["ann"]["title"] == "Kubernetes training on Wed 04 Nov · ~data-guild"
    assert "What do you hope to learn?" in before["ann"]["text"]
    form = reflect_now(client, contract, before["ann"])
    assert submit(client, ANN, "reflect", form["state"], {"answer1": HOPE, "visibility": "private"}).status_code == 200
    contract.add("PUT", f"/api/v4/posts/{'p' * 26}/patch", json={"id": "p" * 26, "message": ""})
    return sent_today(world, clock, datetime(2026, 11, 4, 15, 31, tzinfo=UTC))


def reflect_now(client: FlaskClient, contract: MattermostContract, prompt: dict) -> dict:
    contract.add("POST", "/api/v4/actions/dialogs/open", json={"status": "OK"})
    [reflect] = [a for a in prompt["actions"] if a["name"] == "Reflect now"]
    click(client, ANN, reflect["integration"]["context"])
    return opened_dialog(contract)


def test_the_prompt_after_an_event_reminds_each_person_of_their_own_answer_before(
        client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock) -> None:
    world = World(runtime, mattermost_contract, people=[ANN, BOB])
    event_prompts(runtime)
    assert "Kubernetes training on Wed 04 Nov 2026" in slash(client, ANN, "prompts")["text"]
    after = answered_before(client, runtime, mattermost_contract, clock, world)
    assert after["ann"]["text"].startswith("*Reflect now* shows what you wrote before Kubernetes training on "
                                           "Wed 04 Nov.\n\n- What did you take away?")
    assert HOPE not in str(after["ann"]), "Mattermost keeps its posts: the answer stays in its form"
    assert HOPE not in str(after["bob"]) and "you wrote" not in after["bob"]["text"], "bob answered nothing before"


def test_the_answer_before_an_event_is_shown_in_the_form_and_never_posted(
        client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock) -> None:
    world = World(runtime, mattermost_contract, people=[ANN, BOB])
    after = answered_before(client, runtime, mattermost_contract, clock, world)
    form = reflect_now(client, mattermost_contract, after["ann"])
    assert form["introduction_text"] == (f"Before Kubernetes training on Wed 04 Nov you wrote:\n> {HOPE}\n\n"
                                         "- What did you take away?")
    assert submit(client, ANN, "reflect", form["state"], {"answer1": "Pin chart versions",
                                                          "visibility": "private"}).status_code == 200
    mattermost_contract.add("PUT", f"/api/v4/posts/{'p' * 26}/patch", json={"id": "p" * 26, "message": ""})
    world.tick()
    posted = [json.dumps(c.json) for c in mattermost_contract.calls if c.path.startswith("/api/v4/posts")]
    assert len([p for p in posted if "Answered" in p]) == 2, "both prompts' posts say they were answered"
    assert not [p for p in posted if HOPE in p]


def test_an_answer_deleted_after_the_prompt_was_sent_is_not_shown_in_its_form(
        client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock) -> None:
    world = World(runtime, mattermost_contract, people=[ANN])
    after = answered_before(client, runtime, mattermost_contract, clock, world)
    assert HOPE in reflect_now(client, mattermost_contract, after["ann"])["introduction_text"]
    entry = slash(client, ANN, "journal")["attachments"][0]
    [delete] = [a for a in entry["actions"] if a["name"] == "Delete"]
    mattermost_contract.add("POST", "/api/v4/actions/dialogs/open", json={"status": "OK"})
    click(client, ANN, delete["integration"]["context"])
    assert submit(client, ANN, "journal_delete", opened_dialog(mattermost_contract)["state"], {}).status_code == 200
    form = reflect_now(client, mattermost_contract, after["ann"])
    assert form["introduction_text"] == "- What did you take away?"


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


def test_an_event_name_longer_than_the_form_allows_is_refused_not_cut_short(runtime: Runtime) -> None:
    """The form says 80 characters; a changed submission with more was stored cut to 100, another event."""
    name = "Kubernetes training for the platform team, " + "with the hands-on cluster upgrade lab " * 3
    with runtime.uow() as uow:
        community_id = community_for_channel(uow, runtime.settings, channel_id=CHANNEL, team_id=None,
                                             channel_name="data-guild", now=runtime.clock())
        try:
            setup.create_event_prompts(
                uow, community_id=community_id, timezone="Europe/Berlin", label=name, event_date=date(2026, 11, 4),
                when="both", question_before="What do you hope to learn?", question_after="What did you take away?",
                local_time="16:30", window="16h", default_visibility="private", created_by=uid("owner"),
                now=runtime.clock())
        except setup.InvalidSetup as exc:
            assert exc.errors == {"label": f"keep the event's name to 80 characters (it has {len(name.strip())})"}
        else:
            raise AssertionError("a name of more than 80 characters was saved")
        assert uow.schedules.for_community(community_id) == []


def test_an_event_name_of_80_characters_is_kept_whole(runtime: Runtime) -> None:
    name = ("Kubernetes training " * 4)[:80]
    with runtime.uow() as uow:
        community_id = community_for_channel(uow, runtime.settings, channel_id=CHANNEL, team_id=None,
                                             channel_name="data-guild", now=runtime.clock())
        setup.create_event_prompts(
            uow, community_id=community_id, timezone="Europe/Berlin", label=name, event_date=date(2026, 11, 4),
            when="both", question_before="What do you hope to learn?", question_after="What did you take away?",
            local_time="16:30", window="16h", default_visibility="private", created_by=uid("owner"),
            now=runtime.clock())
        uow.commit()
        assert {(row.event_name, row.label) for row in uow.schedules.for_community(community_id)} == {
            (name.strip(), f"before: {name.strip()}"), (name.strip(), f"after: {name.strip()}")}

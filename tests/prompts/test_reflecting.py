"""Answering a prompt, free reflections, the journal, and what stays private."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, date, datetime, timedelta

import pytest
import requests
from flask.testing import FlaskClient
from sqlalchemy import select

from learnloop.bootstrap import Runtime, build_runtime
from learnloop.config import Settings
from learnloop.mattermost import delivery as mattermost_delivery
from learnloop.mattermost.delivery import OUTBOX_PROP
from learnloop.mattermost.wiki_messages import announcer
from learnloop.services import personal_data
from learnloop.services import reflections as reflections_service
from learnloop.services.communities import join
from learnloop.services.outbox_kinds import CREATE_POST, SEND_DM
from learnloop.services.prompts import setup as prompt_setup
from learnloop.storage.tables import Community, ContentItem, Delivery, Event, OutboxMessage, PromptSchedule, Reflection
from learnloop.wiring import create_app
from tests.conftest import FakeClock, make_settings
from tests.contract.fixtures import MATTERMOST_TEST_URL
from tests.contract.mattermost_openapi import MattermostContract
from tests.prompts.world import (
    BOT,
    CHANNEL,
    Person,
    World,
    add_schedule,
    click,
    courier,
    opened_dialog,
    slash,
    submit,
    uid,
)

UTC = UTC
ANN, BOB = Person("ann"), Person("bob")
SECRET_TEXT = "I was wrong about the cache invalidation and nobody noticed"
HANDBOOK = {"name": "handbook", "kind": "mediawiki", "url": "https://wiki.acme.example/w",
            "secret": "s" * 32, "bot_user": "Admin@learnloop", "bot_password": "p" * 32}


@pytest.fixture
def settings() -> Settings:
    """A community whose wiki space reflections can be published to."""
    return make_settings(wikis=[HANDBOOK], communities=[{
        "name": "Data guild", "channel_id": CHANNEL, "wiki_spaces": [{"wiki": "handbook", "space": "Category:Data"}]}])


def send_prompt(runtime: Runtime, contract: MattermostContract, clock: FakeClock, visibility: str = "private") -> dict:
    """Ann receives this week's prompt; its DM's attachment."""
    world = World(runtime, contract, people=[ANN])
    add_schedule(runtime, anchor=date(2026, 11, 2), questions=["What did you learn?", "What will you try next?"],
                 scale="How useful was the week?", visibility=visibility)
    clock.now = datetime(2026, 11, 5, 12, 0, tzinfo=UTC)
    world.serve_members()
    world.tick()
    clock.now = datetime(2026, 11, 6, 15, 31, tzinfo=UTC)
    world.serve_statuses()
    world.serve_dm_and_posts(1)
    world.tick()
    [post] = world.prompt_posts()
    return post.json["props"]["attachments"][0]


def buttons(attachment: dict) -> dict:
    return {a["name"]: a["integration"]["context"] for a in attachment["actions"]}


@pytest.fixture
def sent_prompt(runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock) -> dict:
    """Ann has received this week's prompt; returns its buttons' contexts by name."""
    return buttons(send_prompt(runtime, mattermost_contract, clock))


def serve_patch(contract: MattermostContract, post_id: str = uid("post1"), channel_id: str = uid("dmann")) -> None:
    """Mattermost takes a patch of a post: by default the prompt's, once answered."""
    contract.add("PUT", f"/api/v4/posts/{post_id}/patch", json={"id": post_id, "channel_id": channel_id, "message": ""})


SHARED_POST = "s" * 26


def serve_shared_post(contract: MattermostContract) -> None:
    """Mattermost takes Ann's shared reflection as SHARED_POST in the community's channel."""
    contract.add("POST", "/api/v4/posts", status=201, json={"id": SHARED_POST, "channel_id": CHANNEL, "message": ""})


def tick_with_a_dm(runtime: Runtime, contract: MattermostContract) -> None:
    """The worker's pass, Mattermost taking one DM to Ann."""
    World(runtime, contract, people=[ANN]).serve_dm_and_posts(1)
    World(runtime, contract).tick()


def patched_prompt(runtime: Runtime, contract: MattermostContract) -> dict:
    """The worker's pass, Mattermost taking the edit of the prompt's post: the attachment it was patched to."""
    serve_patch(contract)
    World(runtime, contract).tick()
    [patch] = [c for c in contract.calls if c.method == "PUT"]
    return patch.json["props"]["attachments"][0]


def reflections(runtime: Runtime) -> list[Reflection]:
    with runtime.uow() as uow:
        return list(uow.session.scalars(select(Reflection)))


def test_reflect_now_opens_the_questions_and_saves_a_private_answer(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract, sent_prompt: dict
) -> None:
    mattermost_contract.add("POST", "/api/v4/actions/dialogs/open", json={"status": "OK"})
    assert click(client, ANN, sent_prompt["Reflect now"]).get_json() == {}
    form = opened_dialog(mattermost_contract)
    assert [e["name"] for e in form["elements"]] == ["answer1", "answer2", "scale", "visibility", "attribution"]
    assert form["elements"][-2]["default"] == "private"
    response = submit(client, ANN, "reflect", form["state"],
                      {"answer1": SECRET_TEXT, "answer2": "Write the test first", "scale": "4",
                       "visibility": "private"})
    assert response.status_code == 200 and response.data == b""
    [reflection] = reflections(runtime)
    assert reflection.visibility == "private" and reflection.scale == 4
    assert SECRET_TEXT not in reflection.body, "sealed at rest"
    with runtime.uow() as uow:
        assert uow.session.scalars(select(Delivery)).one().status == "answered"
        event_data = [json.dumps(e.data) for e in uow.session.scalars(select(Event))]
    assert not any("cache" in data for data in event_data)
    journal = slash(client, ANN, "journal")
    assert SECRET_TEXT in journal["attachments"][0]["text"]


def test_a_prompt_whose_owners_chose_sharing_says_what_its_answer_form_starts_at(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock
) -> None:
    """The owners' default preselects the form; the DM does not promise privacy the form does not start at."""
    attachment = send_prompt(runtime, mattermost_contract, clock, visibility="community")
    assert "private unless" not in attachment["text"]
    assert ("The answer form starts at *Share with my community*, as your community's owners set it; choose "
            "*Private journal (only you)* there to keep your answer to yourself.") in attachment["text"]
    mattermost_contract.add("POST", "/api/v4/actions/dialogs/open", json={"status": "OK"})
    click(client, ANN, buttons(attachment)["Reflect now"])
    [visibility] = [e for e in opened_dialog(mattermost_contract)["elements"] if e["name"] == "visibility"]
    assert visibility["default"] == "community"


def test_a_private_prompt_promises_privacy(
    runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock
) -> None:
    assert ("Your answer is private unless you choose to share it. Open until Sat 07 Nov at 08:30 (Europe/Berlin)."
            in send_prompt(runtime, mattermost_contract, clock)["text"])


@pytest.mark.parametrize(("visibility", "said"), [("private", "kept in your private journal (only you)"),
                                                  ("community", "shared with your community")])
def test_an_answer_from_reflect_now_is_confirmed_on_the_prompt_which_stops_offering_its_buttons(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract, sent_prompt: dict,
    visibility: str, said: str,
) -> None:
    """A form opened from a button has no slash command to answer: the prompt's post itself says what happened."""
    mattermost_contract.add("POST", "/api/v4/actions/dialogs/open", json={"status": "OK"})
    prompt_post = uid("post1")
    click(client, ANN, sent_prompt["Reflect now"], post_id=prompt_post)
    submit(client, ANN, "reflect", opened_dialog(mattermost_contract)["state"],
           {"answer1": "Feature flags beat long branches", "visibility": visibility})
    serve_patch(mattermost_contract, prompt_post)
    serve_shared_post(mattermost_contract)
    World(runtime, mattermost_contract).tick()
    [patch] = [c for c in mattermost_contract.calls if c.method == "PUT"]
    [attachment] = patch.json["props"]["attachments"]
    assert "actions" not in attachment
    assert attachment["text"].endswith(f"Answered: {said}. `/learn journal` shows it.")
    assert "- What did you learn?" in attachment["text"] and "Feature flags" not in attachment["text"]
    assert [c.json["channel_id"] for c in mattermost_contract.calls if c.path == "/api/v4/posts"] == [
        uid("dmann")] + ([CHANNEL] if visibility == "community" else []), "the prompt, then no second message"


class Stopped(Exception):
    """The process stopped right after the reflection was stored."""


@pytest.mark.parametrize("how", ["form", "command"])
def test_an_answer_stored_leaves_its_prompt_post_to_be_marked_answered_even_if_the_process_stops_there(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract, sent_prompt: dict,
    monkeypatch: pytest.MonkeyPatch, how: str,
) -> None:
    """The prompt's change is queued in the answer's own transaction: no moment when the answer is stored and its
    prompt would keep offering its buttons for good."""
    write, stopped = reflections_service.write, []

    def write_then_stop(*args: object, **kwargs: object) -> object:
        stopped.append(write(*args, **kwargs))  # type: ignore[arg-type]
        raise Stopped

    if how == "form":
        mattermost_contract.add("POST", "/api/v4/actions/dialogs/open", json={"status": "OK"})
        click(client, ANN, sent_prompt["Reflect now"], post_id=uid("post1"))
    monkeypatch.setattr(reflections_service, "write", write_then_stop)
    if how == "form":
        submit(client, ANN, "reflect", opened_dialog(mattermost_contract)["state"],
               {"answer1": "Small steps", "visibility": "private"})
    else:
        slash(client, ANN, "reflect Small steps")
    monkeypatch.undo()
    assert stopped, "the answer was stored, then the process stopped"
    assert delivery(runtime).status == "answered"
    prompt = patched_prompt(runtime, mattermost_contract)
    assert "actions" not in prompt
    assert "Answered: kept in your private journal (only you)." in prompt["text"]


def test_an_answer_from_reflect_now_too_late_for_its_prompt_is_confirmed_in_the_dm(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract, sent_prompt: dict,
) -> None:
    """The window closed while the form was open: saved on its own, and the person still hears so."""
    mattermost_contract.add("POST", "/api/v4/actions/dialogs/open", json={"status": "OK"})
    click(client, ANN, sent_prompt["Reflect now"])
    with runtime.uow() as uow:
        uow.session.scalars(select(Delivery)).one().window_end = runtime.clock()
        uow.commit()
    submit(client, ANN, "reflect", opened_dialog(mattermost_contract)["state"],
           {"answer1": "Late but true", "visibility": "private"})
    tick_with_a_dm(runtime, mattermost_contract)
    [dm] = [c for c in mattermost_contract.calls if c.path == "/api/v4/posts"
            and "learnloop_delivery" not in (c.json.get("props") or {})]
    assert (dm.json["channel_id"], dm.json["message"]) == (uid("dmann"), "Saved: kept in your private journal (only you).")


def test_an_answer_typed_with_the_command_marks_the_prompt_answered_too(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract, sent_prompt: dict,
) -> None:
    assert "It answers your open prompt." in slash(client, ANN, "reflect Small steps")["text"]
    prompt = patched_prompt(runtime, mattermost_contract)
    assert "actions" not in prompt
    assert "Answered: kept in your private journal (only you)." in prompt["text"]


def test_nobody_else_can_answer_or_read_it(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract, sent_prompt: dict
) -> None:
    assert "not yours" in click(client, BOB, sent_prompt["Reflect now"]).get_json()["ephemeral_text"]
    assert "not yours" in click(client, BOB, sent_prompt["Skip this one"]).get_json()["ephemeral_text"]
    slash(client, ANN, f"reflect {SECRET_TEXT}")
    assert "empty" in slash(client, BOB, "journal")["text"]


def test_a_shared_answer_is_posted_to_the_community_with_rating_buttons(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract, sent_prompt: dict
) -> None:
    mattermost_contract.add("POST", "/api/v4/actions/dialogs/open", json={"status": "OK"})
    click(client, ANN, sent_prompt["Reflect now"])
    form = opened_dialog(mattermost_contract)
    submit(client, ANN, "reflect", form["state"], {"answer1": "Feature flags beat long branches",
                                                   "visibility": "community"})
    serve_patch(mattermost_contract, "p" * 26)
    mattermost_contract.add("POST", "/api/v4/posts", status=201, json={"id": "s" * 26, "channel_id": CHANNEL,
                                                                       "message": ""})
    World(runtime, mattermost_contract).tick()
    shared = [c for c in mattermost_contract.calls if c.path == "/api/v4/posts" and c.json["channel_id"] == CHANNEL]
    [post] = shared
    attachment = post.json["props"]["attachments"][0]
    assert "Feature flags beat long branches" in attachment["text"]
    assert [a["integration"]["context"]["stars"] for a in attachment["actions"]] == [1, 2, 3, 4, 5]
    [stored] = reflections(runtime)
    assert re.search(r"/reflections/[0-9a-f]{16}\b", json.dumps(post.json))
    assert not re.search(rf"/reflections/{stored.id}\b", json.dumps(post.json)), "its id counts private ones too"
    tried = {hashlib.sha256(f"share-reflection:{n}".encode()).hexdigest()[:32] for n in range(1, 1000)}
    assert not tried & set(re.findall(r"[0-9a-f]{32}", json.dumps(post.json))), \
        "the post's marker, read by anyone in the channel, gives the id back to whoever hashes the ids in turn"


SNOOZED = ("Snoozed until Sat 07 Nov at 16:31 (Europe/Berlin): learnloop asks again then. Until then *Reflect now* still answers it, "
           "and *Skip this one* lets it go.")


def test_snooze_says_until_when_in_the_person_s_time_also_when_pressed_again(
    client: FlaskClient, runtime: Runtime, sent_prompt: dict, clock: FakeClock
) -> None:
    assert click(client, ANN, sent_prompt["Snooze 1 day"]).get_json()["ephemeral_text"] == SNOOZED
    with runtime.uow() as uow:
        delivery = uow.session.scalars(select(Delivery)).one()
    assert delivery.status == "scheduled" and delivery.due_at == datetime(2026, 11, 7, 15, 31, tzinfo=UTC)
    clock.now += timedelta(hours=2)
    assert click(client, ANN, sent_prompt["Snooze 1 day"]).get_json()["ephemeral_text"] == SNOOZED, \
        "not pushed back again, and no word like 'scheduled'"


def test_a_snoozed_prompt_answered_with_reflect_now_is_answered_and_not_sent_again(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract, sent_prompt: dict,
    clock: FakeClock
) -> None:
    click(client, ANN, sent_prompt["Snooze 1 day"])
    clock.now += timedelta(hours=3)
    mattermost_contract.add("POST", "/api/v4/actions/dialogs/open", json={"status": "OK"})
    assert click(client, ANN, sent_prompt["Reflect now"]).get_json() == {}
    form = opened_dialog(mattermost_contract)
    assert form["introduction_text"].startswith("- What did you learn?")
    submit(client, ANN, "reflect", form["state"], {"answer1": "Changed my mind", "visibility": "private"})
    assert (delivery(runtime).status, reflections(runtime)[0].answered_prompt) == ("answered", True)
    serve_patch(mattermost_contract, "p" * 26)
    clock.now = datetime(2026, 11, 7, 15, 31, tzinfo=UTC)
    world = World(runtime, mattermost_contract, people=[ANN])
    world.serve_statuses()
    world.tick()
    assert len(world.prompt_posts()) == 1, "the snoozed prompt is not sent again"
    assert delivery(runtime).status == "answered" and outcomes(runtime) == []


def test_a_snoozed_prompt_answered_with_the_reflect_command_is_not_sent_again(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract, sent_prompt: dict,
    clock: FakeClock
) -> None:
    click(client, ANN, sent_prompt["Snooze 1 day"])
    clock.now += timedelta(hours=3)
    reply = slash(client, ANN, "reflect Thought about it after all: the cache was the culprit")
    assert "open prompt" in reply["text"]
    assert (delivery(runtime).status, reflections(runtime)[0].answered_prompt) == ("answered", True)
    clock.now = datetime(2026, 11, 7, 15, 31, tzinfo=UTC)  # the snooze is up
    world = World(runtime, mattermost_contract, people=[ANN])
    world.serve_statuses()
    world.serve_dm_and_posts(1)
    world.tick()
    assert len(world.prompt_posts()) == 1, "answered, so not posted again"


def test_a_snoozed_prompt_can_be_skipped_and_then_is_not_sent_again(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract, sent_prompt: dict,
    clock: FakeClock
) -> None:
    click(client, ANN, sent_prompt["Snooze 1 day"])
    assert click(client, ANN, sent_prompt["Skip this one"]).get_json()["ephemeral_text"].startswith("Skipped.")
    assert (delivery(runtime).status, outcomes(runtime)) == ("skipped", [("prompt_unanswered", ANN.id, clock.now)])
    clock.now = datetime(2026, 11, 7, 15, 31, tzinfo=UTC)
    world = World(runtime, mattermost_contract, people=[ANN])
    world.serve_statuses()
    world.tick()
    assert len(world.prompt_posts()) == 1
    assert "already skipped" in click(client, ANN, sent_prompt["Reflect now"]).get_json()["ephemeral_text"]


@pytest.mark.parametrize("changed_at", [datetime(2026, 11, 6, 16, 10, tzinfo=UTC),
                                        datetime(2026, 11, 7, 9, 0, tzinfo=UTC)])
def test_a_snoozed_prompt_stays_a_day_away_when_its_receiver_changes_their_time(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract, sent_prompt: dict, clock: FakeClock,
    changed_at: datetime,
) -> None:
    """Snoozed, it is asked again a day later: a new time of day moves the prompts still to come, not this one
    (it was sent again at once, or put back to its closed window and lapsed unanswered)."""
    click(client, ANN, sent_prompt["Snooze 1 day"])
    clock.now = changed_at
    slash(client, ANN, "prompts time 17:00")
    world = World(runtime, mattermost_contract, people=[ANN])
    world.serve_statuses()
    world.serve_dm_and_posts(1)
    world.tick()
    assert len(world.prompt_posts()) == 1, "not sent again before the day is up"
    clock.now = datetime(2026, 11, 7, 15, 32, tzinfo=UTC)
    world.tick()
    assert len(world.prompt_posts()) == 2, "and sent again when it is"
    with runtime.uow() as uow:
        assert uow.session.scalars(select(Delivery)).one().status == "sent"


def test_a_snoozed_prompt_is_sent_again_a_day_later(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract, sent_prompt: dict, clock: FakeClock
) -> None:
    click(client, ANN, sent_prompt["Snooze 1 day"])
    world = World(runtime, mattermost_contract, people=[ANN])
    clock.now = datetime(2026, 11, 7, 15, 32, tzinfo=UTC)
    world.serve_statuses()
    world.serve_dm_and_posts(1)
    world.tick()
    assert len(world.prompt_posts()) == 2, "the first time, and again after the snooze"
    with runtime.uow() as uow:
        assert uow.session.scalars(select(Delivery)).one().status == "sent"


def test_reflect_with_text_answers_the_open_prompt_privately(
    client: FlaskClient, runtime: Runtime, sent_prompt: dict
) -> None:
    reply = slash(client, ANN, f"reflect {SECRET_TEXT}")
    assert "private journal" in reply["text"] and "open prompt" in reply["text"]
    assert [a["name"] for a in reply["attachments"][0]["actions"]] == [
        "Share with my community", "Publish to the wiki with my name", "Publish to the wiki without my name"]
    with runtime.uow() as uow:
        assert uow.session.scalars(select(Delivery)).one().status == "answered"


def test_a_free_reflection_can_be_shared_later_then_not_unshared(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract
) -> None:
    reply = slash(client, ANN, "reflect Reading the RFC was worth it")
    share = reply["attachments"][0]["actions"][0]["integration"]["context"]
    assert "shared with your community" in click(client, ANN, share).get_json()["ephemeral_text"]
    assert reflections(runtime)[0].visibility == "community"
    assert "not yours" in click(client, BOB, share).get_json()["ephemeral_text"].lower() or \
        "no reflection" in click(client, BOB, share).get_json()["ephemeral_text"].lower()


def test_wiki_choice_is_stored_and_explained(client: FlaskClient, runtime: Runtime) -> None:
    reply = slash(client, ANN, "reflect Our runbook needs a rollback section")
    wiki = reply["attachments"][0]["actions"][1]["integration"]["context"]
    text = click(client, ANN, wiki).get_json()["ephemeral_text"]
    assert "with your name" in text and "learning-log page in the wiki" in text
    [stored] = reflections(runtime)
    assert (stored.publish_state, stored.publish_attribution) == ("queued", "name")
    assert re.fullmatch(r"learnloop-reflection-[0-9a-f]{10}", stored.publish_marker or ""), "no id: it counts"
    with runtime.uow() as uow:
        assert uow.members.get(ANN.id).username == "ann", "the name the section will carry"


@pytest.mark.parametrize("first", [0, 1])
def test_a_reflection_goes_to_the_channel_or_to_the_wiki_not_both(
        client: FlaskClient, runtime: Runtime, first: int) -> None:
    """Choosing the other one after the first said why not and changed nothing: the wiki publication queued
    stays queued (it used to be dropped for good, silently, when the channel came second)."""
    reply = slash(client, ANN, "reflect Our runbook needs a rollback section")
    actions = [action["integration"]["context"] for action in reply["attachments"][0]["actions"][:2]]
    click(client, ANN, actions[first])
    before = [(r.visibility, r.publish_state, r.shared_item_id) for r in reflections(runtime)]
    with runtime.uow() as uow:
        queued = sorted(m.idempotency_key for m in uow.session.scalars(select(OutboxMessage)))
    text = click(client, ANN, actions[1 - first]).get_json()["ephemeral_text"]
    assert ("on its way there" if first else "already shared in your community's channel") in text
    assert [(r.visibility, r.publish_state, r.shared_item_id) for r in reflections(runtime)] == before
    with runtime.uow() as uow:
        assert sorted(m.idempotency_key for m in uow.session.scalars(select(OutboxMessage))) == queued


@pytest.mark.parametrize("state", ["failed", "no_wiki_space"])
def test_a_reflection_the_wiki_never_showed_can_still_be_shared_and_counts_as_shared_later(
        client: FlaskClient, runtime: Runtime, state: str) -> None:
    """Its author was told nothing of it is on the wiki: the channel is still open to it, and, counted since
    with what nobody else sees, it comes off that as a reflection shared later would."""
    reply = slash(client, ANN, "reflect Our runbook needs a rollback section")
    share, wiki = (action["integration"]["context"] for action in reply["attachments"][0]["actions"][:2])
    click(client, ANN, wiki)
    [stored] = reflections(runtime)
    with runtime.uow() as uow:
        reflections_service.mark_publication(uow, stored.id, state=state, now=runtime.clock())
        uow.commit()
    assert "shared with your community" in click(client, ANN, share).get_json()["ephemeral_text"]
    assert reflections(runtime)[0].visibility == "community"
    with runtime.reader() as uow:
        shared = uow.session.scalars(select(Event).where(Event.kind == "reflection_shared")).one()
    assert shared.data == {"later": True, "answered_prompt": False}


def test_publishing_without_my_name_is_remembered(client: FlaskClient, runtime: Runtime) -> None:
    reply = slash(client, ANN, "reflect Naming things is hard")
    anonymous = reply["attachments"][0]["actions"][2]["integration"]["context"]
    assert "without your name" in click(client, ANN, anonymous).get_json()["ephemeral_text"]
    assert reflections(runtime)[0].publish_attribution == "anonymous"
    assert "marked for the wiki, without your name" in slash(client, ANN, "journal")["attachments"][0]["title"]


@pytest.mark.parametrize(("chosen", "stored"), [("name", "name"), ("anonymous", "anonymous"), (None, "name")])
def test_the_dialog_asks_whether_the_wiki_names_me(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract, chosen: str | None, stored: str
) -> None:
    mattermost_contract.add("POST", "/api/v4/actions/dialogs/open", json={"status": "OK"})
    slash(client, ANN, "reflect")
    form = opened_dialog(mattermost_contract)
    choice = form["elements"][-1]
    assert (choice["name"], choice["type"], choice["default"]) == ("attribution", "radio", "name")
    assert [o["value"] for o in choice["options"]] == ["name", "anonymous"]
    assert "A member of Data guild" in choice["options"][1]["text"]
    answer = {"answer1": "Small commits review faster", "visibility": "wiki"}
    if chosen:
        answer["attribution"] = chosen
    assert submit(client, ANN, "reflect", form["state"], answer).data == b""
    [reflection] = reflections(runtime)
    assert (reflection.visibility, reflection.publish_attribution) == ("wiki", stored)


def test_a_choice_the_dialog_did_not_offer_is_a_form_error(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract
) -> None:
    mattermost_contract.add("POST", "/api/v4/actions/dialogs/open", json={"status": "OK"})
    slash(client, ANN, "reflect")
    form = opened_dialog(mattermost_contract)
    refused = submit(client, ANN, "reflect", form["state"],
                     {"answer1": "x", "visibility": "wiki", "attribution": "my boss"})
    assert refused.status_code == 200 and "with or without your name" in refused.get_json()["errors"]["attribution"]
    assert reflections(runtime) == []


def test_without_a_wiki_space_nothing_offers_or_accepts_publishing(
    engine, clock: FakeClock, mattermost_contract: MattermostContract
) -> None:
    runtime = build_runtime(make_settings(), clock=clock, engine=engine)
    client = create_app(runtime).test_client()
    reply = slash(client, ANN, "reflect Our runbook needs a rollback section")
    assert [a["name"] for a in reply["attachments"][0]["actions"]] == ["Share with my community"]
    mattermost_contract.add("POST", "/api/v4/actions/dialogs/open", json={"status": "OK"})
    slash(client, ANN, "reflect")
    form = opened_dialog(mattermost_contract)
    assert [o["value"] for o in form["elements"][-1]["options"]] == ["private", "community"]
    refused = submit(client, ANN, "reflect", form["state"], {"answer1": "x", "visibility": "wiki"}).get_json()
    assert "no wiki space" in refused["errors"]["visibility"]
    assert len(reflections(runtime)) == 1, "the refused answer was not saved"


def test_a_form_opened_before_its_channel_joined_another_saves_to_the_joined_community(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract
) -> None:
    """The form's signed state names the channel's community as it was; by the time it is sent, that community
    may have joined another and been retired, so the reflection goes where its history went."""
    alpha = "alphachannel00000000000000"
    mattermost_contract.add("POST", "/api/v4/actions/dialogs/open", json={"status": "OK"})
    slash(client, ANN, "reflect", channel=alpha, channel_name="alpha")
    form = opened_dialog(mattermost_contract)
    with runtime.uow() as uow:
        retired = uow.communities.by_channel(alpha).id
        joined = join(uow, runtime.settings, channel_id=alpha, team_id=None, channel_name="alpha",
                      other_channel_id=CHANNEL, other_channel_name="data-guild", k=5,
                      key=runtime.signing_key, now=runtime.clock())
    assert joined.community_id != retired
    assert submit(client, ANN, "reflect", form["state"], {"answer1": "Pairing works", "visibility": "community"}
                  ).data == b""
    [reflection] = reflections(runtime)
    with runtime.uow() as uow:
        shared = uow.items.get(reflection.shared_item_id)
        events = {e.kind: e.community_id for e in uow.session.scalars(select(Event))}
    assert (reflection.community_id, shared.community_id) == (joined.community_id, joined.community_id)
    assert events == {"reflection": joined.community_id, "reflection_shared": joined.community_id}


def test_a_prompt_is_answered_once(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract, sent_prompt: dict
) -> None:
    mattermost_contract.add("POST", "/api/v4/actions/dialogs/open", json={"status": "OK"})
    click(client, ANN, sent_prompt["Reflect now"])
    form = opened_dialog(mattermost_contract)
    assert submit(client, ANN, "reflect", form["state"], {"answer1": "first", "visibility": "private"}).data == b""
    again = submit(client, ANN, "reflect", form["state"], {"answer1": "second", "visibility": "private"}).get_json()
    assert "answered this prompt already" in again["errors"]["answer1"]
    assert len(reflections(runtime)) == 1


def test_the_form_sent_twice_without_a_prompt_stores_and_posts_one_reflection(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock
) -> None:
    mattermost_contract.add("POST", "/api/v4/actions/dialogs/open", json={"status": "OK"})
    slash(client, ANN, "reflect")
    form = opened_dialog(mattermost_contract)
    shared = {"answer1": "Reading the RFC was worth it", "visibility": "community"}
    for _ in range(2):
        assert submit(client, ANN, "reflect", form["state"], shared).data == b""
        clock.advance(minutes=1)
    assert len(reflections(runtime)) == 1
    with runtime.uow() as uow:
        messages = uow.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    assert [m.kind for m in messages if m.kind == "mattermost.create_post"] == ["mattermost.create_post"]
    assert [m.payload["body"]["text"] for m in messages if m.kind == "mattermost.respond"] == [
        "Saved: shared with your community.", "Already saved, nothing new was stored: shared with your community."]
    assert submit(client, ANN, "reflect", form["state"], shared | {"visibility": "private"}).data == b""
    clock.advance(minutes=11)
    assert submit(client, ANN, "reflect", form["state"], shared | {"visibility": "private"}).data == b""
    assert len(reflections(runtime)) == 3, "another choice, or the same words later, is another reflection"


def test_the_same_reflection_typed_twice_is_stored_once_and_says_so(client: FlaskClient, runtime: Runtime) -> None:
    assert slash(client, ANN, "reflect Pairing beats reading")["text"] == "Saved: kept in your private journal (only you)."
    again = slash(client, ANN, "reflect Pairing beats reading")["text"]
    assert again == "Already saved, nothing new was stored: kept in your private journal (only you)."
    assert len(reflections(runtime)) == 1


def test_the_form_sent_again_with_the_other_name_choice_for_the_wiki_is_another_reflection(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract
) -> None:
    mattermost_contract.add("POST", "/api/v4/actions/dialogs/open", json={"status": "OK"})
    slash(client, ANN, "reflect")
    form = opened_dialog(mattermost_contract)
    named = {"answer1": "Reading the RFC was worth it", "visibility": "wiki", "attribution": "name"}
    submit(client, ANN, "reflect", form["state"], named)
    submit(client, ANN, "reflect", form["state"], named | {"attribution": "anonymous"})
    assert sorted(r.publish_attribution for r in reflections(runtime)) == ["anonymous", "name"]


def test_reflect_without_text_opens_a_form(client: FlaskClient, mattermost_contract: MattermostContract) -> None:
    mattermost_contract.add("POST", "/api/v4/actions/dialogs/open", json={"status": "OK"})
    assert slash(client, ANN, "reflect") == {}
    form = opened_dialog(mattermost_contract)
    assert form["introduction_text"] == "- What did you learn?"
    empty = submit(client, ANN, "reflect", form["state"], {"answer1": "", "visibility": "private"}).get_json()
    assert "answer1" in empty["errors"]


def test_a_reflection_of_invisible_characters_only_is_refused(
        client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract) -> None:
    reply = slash(client, ANN, "reflect \u200b\u200e\ufeff")
    assert "needs some text" in reply["text"]
    mattermost_contract.add("POST", "/api/v4/actions/dialogs/open", json={"status": "OK"})
    slash(client, ANN, "reflect")
    form = opened_dialog(mattermost_contract)
    refused = submit(client, ANN, "reflect", form["state"], {"answer1": "\u200b", "visibility": "private"})
    assert refused.get_json()["errors"] == {"answer1": "write at least a sentence, or close the form"}
    assert reflections(runtime) == []


def test_an_overlong_reflection_is_refused_and_nothing_is_saved(client: FlaskClient, runtime: Runtime) -> None:
    reply = slash(client, ANN, "reflect " + "x" * 3001)
    assert "Not saved" in reply["text"] and "3000" in reply["text"]
    assert reflections(runtime) == []


def test_answers_that_each_fit_but_not_together_say_so_on_each_and_keep_the_form_open(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract, sent_prompt: dict
) -> None:
    """A reflection, however many answers it joins, is at most 3000 characters (the journal edits it whole):
    the form says so on every answer it takes, not that the first answer alone is too long."""
    mattermost_contract.add("POST", "/api/v4/actions/dialogs/open", json={"status": "OK"})
    click(client, ANN, sent_prompt["Reflect now"])
    form = opened_dialog(mattermost_contract)
    answer = submit(client, ANN, "reflect", form["state"],
                    {"answer1": "a" * 1600, "answer2": "b" * 1600, "visibility": "private"}).get_json()
    assert set(answer["errors"]) == {"answer1", "answer2"}
    assert "together, with their questions; keep them to 3000 in all" in answer["errors"]["answer2"]
    assert reflections(runtime) == []


def test_journal_edit_and_delete(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract
) -> None:
    slash(client, ANN, "reflect first draft")
    assert slash(client, ANN, "journal")["text"] == "Your last reflection (only you see this):"
    entry = slash(client, ANN, "journal")["attachments"][0]
    edit, delete = (a["integration"]["context"] for a in entry["actions"] if a["name"] in ("Edit", "Delete"))
    mattermost_contract.add("POST", "/api/v4/actions/dialogs/open", json={"status": "OK"})
    click(client, ANN, edit)
    form = opened_dialog(mattermost_contract)
    assert form["elements"][0]["default"] == "first draft"
    assert submit(client, ANN, "journal_edit", form["state"], {"text": "second draft"}).status_code == 200
    assert "second draft" in slash(client, ANN, "journal")["attachments"][0]["text"]
    forged = submit(client, BOB, "journal_edit", form["state"], {"text": "hijacked"}).get_json()
    assert "someone else" in forged["error"]
    click(client, ANN, delete)
    form = opened_dialog(mattermost_contract)
    submit(client, ANN, "journal_delete", form["state"], {})
    assert reflections(runtime) == []


@pytest.mark.parametrize("typed", ["reflect\n", "reflect\r\n", "reflect\t", "reflect \n "])
def test_a_reflection_typed_on_the_line_after_the_command_is_saved(
    client: FlaskClient, runtime: Runtime, typed: str
) -> None:
    """Mattermost sends a multi-line slash command as typed (Shift+Enter): `/learn reflect`, then the text below,
    kept with its own line breaks."""
    reply = slash(client, ANN, typed + "Today I learned that retries need jitter\nand a cap")
    assert reply["text"] == "Saved: kept in your private journal (only you)."
    assert slash(client, ANN, "journal")["attachments"][0]["text"] == \
        "Today I learned that retries need jitter\nand a cap"


def test_the_journal_dates_a_reflection_by_its_writer_s_own_day(
    client: FlaskClient, runtime: Runtime, clock: FakeClock
) -> None:
    """11:00 in UTC on Monday is already Tuesday in Kiritimati; this year's dates need no year."""
    clock.now = datetime(2026, 11, 2, 11, 0, tzinfo=UTC)
    with runtime.uow() as uow:
        uow.members.ensure(ANN.id, clock.now).timezone = "Pacific/Kiritimati"
        uow.commit()
    slash(client, ANN, "reflect Ask before you assume")
    assert slash(client, ANN, "journal")["attachments"][0]["title"].startswith("Tue 03 Nov · ")


def test_a_private_reflection_is_shared_later_from_the_journal(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract
) -> None:
    """`/learn reflect` says "Change your mind any time": the journal keeps that promise once its reply is gone."""
    slash(client, ANN, "reflect Small pull requests get reviewed the same day")
    entry = slash(client, ANN, "journal")["attachments"][0]
    assert entry["title"].endswith(" · kept in your private journal (only you)"), "the words of the reply"
    [share] = [a for a in entry["actions"] if a["name"] == "Share with my community"]
    assert "Done" in click(client, ANN, share["integration"]["context"]).get_json()["ephemeral_text"]
    [reflection] = reflections(runtime)
    assert reflection.visibility == "community"
    with runtime.uow() as uow:
        assert [m.kind for m in uow.session.scalars(select(OutboxMessage))] == [CREATE_POST]
    shared = slash(client, ANN, "journal")["attachments"][0]
    assert shared["title"].endswith("shared with your community")
    assert [a["name"] for a in shared["actions"]] == ["Edit", "Delete"], "shared already: nothing more to share"


def test_a_reflection_written_outside_any_community_offers_no_sharing_in_the_journal(
    client: FlaskClient, runtime: Runtime
) -> None:
    slash(client, ANN, "reflect Only for me", channel=uid("dmann"), channel_name=f"{BOT}__{ANN.id}")
    entry = slash(client, ANN, "journal")["attachments"][0]
    assert [a["name"] for a in entry["actions"]] == ["Edit", "Delete"]


def test_an_older_shared_reflection_can_still_be_deleted_with_its_post(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock
) -> None:
    """README: "delete it and the post goes too". The journal shows ten a page, and pages back to the first."""
    share_and_post(client, runtime, mattermost_contract, "The first thing I shared")
    for n in range(10):
        clock.advance(minutes=1)
        slash(client, ANN, f"reflect private note number {n}")
    first = slash(client, ANN, "journal")
    assert first["text"] == ("Page 1 of 2 of your reflections, newest first (only you see this); `/learn journal 2` "
                             "shows older ones:")
    assert [entry["text"] for entry in first["attachments"]] == [f"private note number {n}" for n in range(9, -1, -1)]
    last = slash(client, ANN, "journal 2")
    assert last["text"] == "Page 2 of 2 of your reflections, the oldest (only you see this):"
    [entry] = last["attachments"]
    assert entry["text"] == "The first thing I shared"
    [delete] = [a for a in entry["actions"] if a["name"] == "Delete"]
    mattermost_contract.add("POST", "/api/v4/actions/dialogs/open", json={"status": "OK"})
    click(client, ANN, delete["integration"]["context"])
    form = opened_dialog(mattermost_contract)
    assert "Its post in your community's channel is removed too" in form["introduction_text"]
    submit(client, ANN, "journal_delete", form["state"], {})
    mattermost_contract.add("DELETE", f"/api/v4/posts/{SHARED_POST}", json={"status": "OK"})
    World(runtime, mattermost_contract).tick()
    assert post_deletions(mattermost_contract) == [f"/api/v4/posts/{SHARED_POST}"]
    assert "Your last 10 reflections" in slash(client, ANN, "journal")["text"], "one page again"


@pytest.mark.parametrize("ask", ["journal all", "journal more", "journal 0", "journal -1", "journal 2 3", "journal 3",
                                 "journal 99999999999999999999"])
def test_the_journal_refuses_a_page_it_does_not_have(client: FlaskClient, ask: str) -> None:
    for n in range(12):
        slash(client, ANN, f"reflect note number {n}")
    reply = slash(client, ANN, ask)
    assert "attachments" not in reply
    assert "`/learn journal` shows your newest 10 reflections; `/learn journal 2` the 10 before them" in reply["text"]
    assert "Your journal has 2 pages." in reply["text"]


def test_the_form_opened_in_a_direct_message_offers_only_what_can_be_done_there(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract
) -> None:
    """No community, no open prompt: the reflection can only be private, and the form says why. A stale form
    that still asks for sharing is refused under "Who sees this", not under the answer."""
    mattermost_contract.add("POST", "/api/v4/actions/dialogs/open", json={"status": "OK"})
    slash(client, ANN, "reflect", channel=uid("dmann"), channel_name=f"{BOT}__{ANN.id}")
    form = opened_dialog(mattermost_contract)
    [who] = [e for e in form["elements"] if e["name"] == "visibility"]
    assert [o["value"] for o in who["options"]] == ["private"] and who["default"] == "private"
    assert "belongs to no community" in who["help_text"]
    assert "attribution" not in [e["name"] for e in form["elements"]]
    answer = submit(client, ANN, "reflect", form["state"], {"answer1": "A thought", "visibility": "community"})
    assert answer.get_json() == {"errors": {"visibility": "this reflection belongs to no community, so it cannot be "
                                                          "shared"}}
    assert reflections(runtime) == []
    assert submit(client, ANN, "reflect", form["state"], {"answer1": "A thought", "visibility": "private"}
                  ).status_code == 200
    assert [r.visibility for r in reflections(runtime)] == ["private"]


def reflect_and_share(client: FlaskClient, text: str) -> None:
    """Ann writes a reflection and shares it with her community from its reply; its post waits in the outbox."""
    reply = slash(client, ANN, f"reflect {text}")
    click(client, ANN, reply["attachments"][0]["actions"][0]["integration"]["context"])


def share_and_post(client: FlaskClient, runtime: Runtime, contract: MattermostContract, text: str) -> None:
    """Ann shares a reflection with her community, and the worker posts it in the channel as SHARED_POST."""
    reflect_and_share(client, text)
    serve_shared_post(contract)
    World(runtime, contract).tick()


def journal_form(client: FlaskClient, contract: MattermostContract, button: str) -> dict:
    """The dialog Ann's newest journal entry opens with its Edit or Delete button."""
    entry = slash(client, ANN, "journal")["attachments"][0]
    [action] = [a for a in entry["actions"] if a["name"] == button]
    contract.add("POST", "/api/v4/actions/dialogs/open", json={"status": "OK"})
    click(client, ANN, action["integration"]["context"])
    return opened_dialog(contract)


def delete_newest(client: FlaskClient, contract: MattermostContract) -> None:
    submit(client, ANN, "journal_delete", journal_form(client, contract, "Delete")["state"], {})


def forget_outbox(runtime: Runtime) -> None:
    """Retention deletes the outbox's messages, the one that made the post among them."""
    with runtime.uow() as uow:
        uow.session.execute(OutboxMessage.__table__.delete())
        uow.commit()


def post_deletions(contract: MattermostContract) -> list[str]:
    return [c.path for c in contract.calls if c.method == "DELETE"]


def app_error(status: int, error_id: str) -> dict:
    return {"id": error_id, "message": "refused", "request_id": "r" * 26, "status_code": status}


NOT_PERMITTED = app_error(403, "api.context.permissions.app_error")
POST_NOT_FOUND = app_error(404, "app.post.get.app_error")


@pytest.mark.parametrize("answer", [200, 404], ids=["deleted", "gone_404"])
def test_deleting_a_shared_reflection_removes_its_channel_post(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract, answer: int
) -> None:
    """The post is the bot's: its author cannot remove it in Mattermost, so the delete does. A post someone
    deleted already counts as removed: Mattermost answers 404 (server/channels/api4/post.go, deletePost)."""
    share_and_post(client, runtime, mattermost_contract, "Feature flags beat long branches")
    form = journal_form(client, mattermost_contract, "Delete")
    assert "Its post in your community's channel is removed too, with any replies to it." in form["introduction_text"]
    submit(client, ANN, "journal_delete", form["state"], {})
    mattermost_contract.add("DELETE", f"/api/v4/posts/{SHARED_POST}", status=answer, json={"status": "OK"}
                            if answer == 200 else POST_NOT_FOUND)
    World(runtime, mattermost_contract).tick()
    assert post_deletions(mattermost_contract) == [f"/api/v4/posts/{SHARED_POST}"]
    with runtime.reader() as uow:
        assert [m.status for m in uow.session.scalars(select(OutboxMessage))] == ["sent"], "done, nothing waits"


def refuse_removal(contract: MattermostContract, status: int = 403, post: dict = NOT_PERMITTED) -> None:
    """Mattermost refuses to delete SHARED_POST (403), then answers the look at it with `status` and `post`."""
    contract.add("DELETE", f"/api/v4/posts/{SHARED_POST}", status=403, json=NOT_PERMITTED)
    contract.add("GET", f"/api/v4/posts/{SHARED_POST}", status=status, json=post)


def refused_removal(client: FlaskClient, runtime: Runtime, contract: MattermostContract, status: int,
                    post: dict) -> list[OutboxMessage]:
    """Ann deletes her shared reflection; Mattermost refuses the post's removal (`refuse_removal`). The
    removal's outbox messages after the worker's pass."""
    share_and_post(client, runtime, contract, "Feature flags beat long branches")
    delete_newest(client, contract)
    refuse_removal(contract, status, post)
    World(runtime, contract).tick()
    with runtime.reader() as uow:
        return [m for m in uow.session.scalars(select(OutboxMessage)) if m.kind == "mattermost.delete_post"]


@pytest.mark.parametrize("status, post", [
    (200, {"id": SHARED_POST, "channel_id": CHANNEL, "message": "", "delete_at": 0, "user_id": BOT}),
    (403, NOT_PERMITTED)], ids=["readable", "unreadable"])
def test_a_post_the_bot_may_no_longer_delete_is_not_taken_for_deleted(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract, status: int, post: dict
) -> None:
    """Mattermost answers 403 when the bot lost the permission (it was removed from the community's private
    channel); older servers answered 403 for a post deleted already too. A look at the post tells which: the
    text stays readable to the channel, so Ann hears where it is and who can delete it."""
    [removal] = refused_removal(client, runtime, mattermost_contract, status, post)
    assert [c.path for c in mattermost_contract.calls if c.method == "GET" and "/posts/" in c.path] == \
        [f"/api/v4/posts/{SHARED_POST}"]
    assert removal.status == "failed" and ANN.id not in (removal.last_error or "")
    [told] = told_by_dm(runtime)
    assert "is still in the Data guild channel" in told and "a channel admin" in told.lower()
    assert f"{MATTERMOST_TEST_URL}/_redirect/pl/{SHARED_POST}" in told
    assert "Feature flags" not in told


@pytest.mark.parametrize("status, post", [
    (404, POST_NOT_FOUND),
    (200, {"id": SHARED_POST, "channel_id": CHANNEL, "message": "", "delete_at": 1, "user_id": BOT})],
    ids=["not_found", "delete_at"])
def test_a_refused_removal_of_a_post_deleted_already_counts_as_done(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract, status: int, post: dict
) -> None:
    [removal] = refused_removal(client, runtime, mattermost_contract, status, post)
    assert removal.status == "sent" and told_by_dm(runtime) == []


def test_a_shared_reflection_deleted_after_its_outbox_message_went_still_loses_its_post(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract
) -> None:
    """Retention deletes the message that made the post; the reflection remembers its post."""
    share_and_post(client, runtime, mattermost_contract, "Feature flags beat long branches")
    forget_outbox(runtime)
    delete_newest(client, mattermost_contract)
    mattermost_contract.add("DELETE", f"/api/v4/posts/{SHARED_POST}", json={"status": "OK"})
    World(runtime, mattermost_contract).tick()
    assert post_deletions(mattermost_contract) == [f"/api/v4/posts/{SHARED_POST}"]


def test_a_shared_reflection_deleted_while_the_worker_posts_it_loses_the_post_once_made(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract
) -> None:
    reflect_and_share(client, "Feature flags beat long branches")
    outbox = courier(runtime)
    [message] = outbox._claim(10, [CREATE_POST])
    serve_posts_since(mattermost_contract, runtime, [SHARED_POST])
    delete_newest(client, mattermost_contract)
    serve_shared_post(mattermost_contract)
    outbox.handlers[CREATE_POST](message)
    mattermost_contract.add("DELETE", f"/api/v4/posts/{SHARED_POST}", json={"status": "OK"})
    World(runtime, mattermost_contract).tick()
    assert set(post_deletions(mattermost_contract)) == {f"/api/v4/posts/{SHARED_POST}"}, \
        "by the id the worker recorded, and by its marker (the try in flight might have had no answer)"


def test_a_shared_reflection_deleted_before_it_was_posted_is_never_posted(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract
) -> None:
    reflect_and_share(client, "Feature flags beat long branches")
    delete_newest(client, mattermost_contract)
    World(runtime, mattermost_contract).tick()
    assert [c for c in mattermost_contract.calls if c.path.startswith("/api/v4/posts")] == []


def serve_posts_since(contract: MattermostContract, runtime: Runtime, posts: list[str], marker: str = "") -> None:
    """Mattermost's channel posts since a moment: these, carrying the marker of Ann's newest shared reflection."""
    if not marker:
        with runtime.reader() as uow:
            newest = max(uow.reflections.ids_of(ANN.id))
        marker = mattermost_delivery.post_marker(reflections_service.share_key(newest), runtime.signing_key)
    contract.add("GET", f"/api/v4/channels/{CHANNEL}/posts", json={"order": posts, "posts": {post: {
        "id": post, "channel_id": CHANNEL, "message": "", "root_id": "", "delete_at": 0,
        "props": {OUTBOX_PROP: marker}} for post in posts}})


def told_by_dm(runtime: Runtime) -> list[str]:
    with runtime.reader() as uow:
        return [m.payload["message"] for m in uow.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
                if m.kind == SEND_DM]


def edit_newest(client: FlaskClient, contract: MattermostContract, text: str) -> None:
    assert submit(client, ANN, "journal_edit", journal_form(client, contract, "Edit")["state"],
                  {"text": text}).status_code == 200


def test_a_share_whose_first_try_had_no_answer_is_looked_for_and_removed_when_it_is_deleted(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock
) -> None:
    """Mattermost may have made the post though learnloop heard nothing back: deleting the reflection removed the
    message that would have looked for it, and the post stayed in the channel for good."""
    reflect_and_share(client, "Feature flags beat long branches")
    mattermost_contract.add("POST", "/api/v4/posts", body=requests.ReadTimeout("read timed out"))
    World(runtime, mattermost_contract).tick()
    [reflection] = reflections(runtime)
    marker = mattermost_delivery.post_marker(reflections_service.share_key(reflection.id), runtime.signing_key)
    form = journal_form(client, mattermost_contract, "Delete")
    assert "removed too" in form["introduction_text"]
    submit(client, ANN, "journal_delete", form["state"], {})
    serve_posts_since(mattermost_contract, runtime, [SHARED_POST], marker)
    mattermost_contract.add("DELETE", f"/api/v4/posts/{SHARED_POST}", json={"status": "OK"})
    clock.advance(minutes=1)
    World(runtime, mattermost_contract).tick()
    assert post_deletions(mattermost_contract) == [f"/api/v4/posts/{SHARED_POST}"]
    with runtime.reader() as uow:
        assert not [m for m in uow.session.scalars(select(OutboxMessage)) if m.kind == CREATE_POST]


def test_deleting_a_reflection_shared_too_long_ago_to_find_its_post_says_so(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract
) -> None:
    """Shared before learnloop kept a post's id on its reflection, and the message that made it gone with
    retention: the post stays, and the dialog does not promise otherwise."""
    share_and_post(client, runtime, mattermost_contract, "Feature flags beat long branches")
    with runtime.uow() as uow:
        uow.session.execute(OutboxMessage.__table__.delete())
        uow.session.scalars(select(Reflection)).one().shared_post_id = None
        uow.commit()
    form = journal_form(client, mattermost_contract, "Delete")
    assert "removed too" not in form["introduction_text"]
    assert "too long ago for learnloop to find: a channel admin can delete it" in form["introduction_text"]


@pytest.mark.parametrize("how", ["journal delete", "erase"])
def test_an_edited_shared_reflection_deleted_or_erased_leaves_no_text_in_the_outbox(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract, how: str
) -> None:
    """The edit's message to Mattermost carries the text too: it goes with the post's own message."""
    share_and_post(client, runtime, mattermost_contract, "Feature flags beat long branches")
    edit_newest(client, mattermost_contract, "Feature flags beat long-lived branches, mostly")
    if how == "erase":
        with runtime.uow() as uow:
            personal_data.erase(uow, ANN.id, ANN.name, runtime.clock(), runtime.signing_key, announcer(runtime))
    else:
        submit(client, ANN, "journal_delete", journal_form(client, mattermost_contract, "Delete")["state"], {})
    with runtime.reader() as uow:
        kept = [json.dumps(m.payload) for m in uow.session.scalars(select(OutboxMessage))]
    assert kept and not [payload for payload in kept if "branches" in payload]


def test_editing_a_shared_reflection_updates_its_channel_post_and_says_so(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract
) -> None:
    share_and_post(client, runtime, mattermost_contract, "Feature flags beat long branches")
    edit_newest(client, mattermost_contract, "Feature flags beat long-lived branches, mostly")
    assert told_by_dm(runtime) == ["Edit saved. learnloop updates its post in your community's channel to match."]
    serve_patch(mattermost_contract, SHARED_POST, CHANNEL)
    tick_with_a_dm(runtime, mattermost_contract)
    [patch] = [c for c in mattermost_contract.calls if c.method == "PUT"]
    [attachment] = patch.json["props"]["attachments"]
    assert attachment["text"] == "Feature flags beat long-lived branches, mostly" and "@ann" in attachment["title"]
    assert [a["integration"]["context"]["stars"] for a in attachment["actions"]] == [1, 2, 3, 4, 5]
    with runtime.reader() as uow:
        kept = json.dumps([m.payload for m in uow.session.scalars(select(OutboxMessage))])
    assert "Feature flags beat long branches" not in kept, "the outbox keeps no copy of the earlier text"


def test_a_shared_reflection_edited_before_it_was_posted_is_posted_as_edited(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract
) -> None:
    reflect_and_share(client, "Feature flags beat long branches")
    edit_newest(client, mattermost_contract, "Feature flags beat long-lived branches")
    serve_shared_post(mattermost_contract)
    serve_patch(mattermost_contract, SHARED_POST, CHANNEL)
    tick_with_a_dm(runtime, mattermost_contract)
    [post] = [c for c in mattermost_contract.calls if c.path == "/api/v4/posts" and c.json["channel_id"] == CHANNEL]
    assert post.json["props"]["attachments"][0]["text"] == "Feature flags beat long-lived branches"


def test_a_shared_reflection_edited_after_its_outbox_message_went_still_updates_its_post(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract
) -> None:
    share_and_post(client, runtime, mattermost_contract, "Feature flags beat long branches")
    forget_outbox(runtime)
    edit_newest(client, mattermost_contract, "Feature flags beat long-lived branches")
    serve_patch(mattermost_contract, SHARED_POST, CHANNEL)
    tick_with_a_dm(runtime, mattermost_contract)
    [patch] = [c for c in mattermost_contract.calls if c.method == "PUT"]
    assert patch.json["props"]["attachments"][0]["text"] == "Feature flags beat long-lived branches"


def test_editing_a_published_reflection_says_its_wiki_section_keeps_the_earlier_text(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract
) -> None:
    slash(client, ANN, "reflect Our runbook needs a rollback section")
    with runtime.uow() as uow:
        [stored] = uow.session.scalars(select(Reflection))
        stored.visibility, stored.publish_state = "wiki", "published"
        stored.published_url = "https://wiki.acme.example/w/Learning_log"
        uow.commit()
    edit_newest(client, mattermost_contract, "Our runbook needs a rollback section, and an owner")
    assert told_by_dm(runtime) == ["Edit saved in your journal. Its section on the wiki keeps the earlier text; "
                                   "change it on the page: https://wiki.acme.example/w/Learning_log"]


def test_editing_a_private_reflection_tells_nothing_more(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract
) -> None:
    slash(client, ANN, "reflect first draft")
    edit_newest(client, mattermost_contract, "second draft")
    assert told_by_dm(runtime) == [] and [m for m in mattermost_contract.calls if m.method == "PUT"] == []


def test_buttons_and_forms_name_a_reflection_by_a_handle_not_the_id_that_counts_everyones(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract
) -> None:
    slash(client, ANN, "reflect first")
    slash(client, BOB, "reflect in between")
    reply = slash(client, ANN, "reflect second")
    entries = slash(client, ANN, "journal")["attachments"]
    contexts = [a["integration"]["context"] for entry in entries for a in entry["actions"]]
    contexts += [a["integration"]["context"] for a in reply["attachments"][0]["actions"]]
    assert all("reflection_id" not in c and re.fullmatch(r"[0-9a-f]{32}", c["reflection"]) for c in contexts)
    mattermost_contract.add("POST", "/api/v4/actions/dialogs/open", json={"status": "OK"})
    click(client, ANN, contexts[0])
    state = opened_dialog(mattermost_contract)["state"]
    assert "reflection_id" not in state
    bobs = slash(client, BOB, "journal")["attachments"][0]["actions"][0]["integration"]["context"]["reflection"]
    with runtime.reader() as uow, pytest.raises(reflections_service.NotYours, match="not one of your reflections"):
        reflections_service.own_id(uow, ANN.id, bobs, runtime.signing_key)


def test_the_admin_export_never_contains_reflection_text(client: FlaskClient, runtime: Runtime, tmp_path) -> None:
    from learnloop.storage.export import export_to_file

    slash(client, ANN, f"reflect {SECRET_TEXT}")
    out = tmp_path / "export.json"
    export_to_file(runtime.engine, out, now=runtime.clock())
    data = out.read_text()
    assert "reflections" in json.loads(data)["tables"]
    assert SECRET_TEXT not in data and "cache invalidation" not in data


def test_a_link_shared_in_a_direct_message_belongs_to_no_community(client: FlaskClient, runtime: Runtime) -> None:
    """Shared in one's direct message with learnloop, where its bot can post; not in one between two people or
    a group message, where Mattermost refuses its post (it is not a member): that is said at once."""
    ann, bob = Person("ann"), Person("bob")
    bot = runtime.settings.mattermost_bot_user_id
    for channel_name in (f"{ann.id}__{bob.id}", "3f2bd8a1c9e04c7f8e5b6a7d9c0e1f2a3b4c5d6e"):
        refused = slash(client, ann, "share https://docs.python.org/3/ helped", channel=uid("dmannbob"),
                        channel_name=channel_name)
        assert "cannot post in a direct or group message it is not part of" in refused["text"]
    with runtime.reader() as uow:
        assert uow.session.scalars(select(Event)).all() == [], "nothing was saved"
    reply = slash(client, ann, "share https://docs.python.org/3/ helped", channel=uid("dmannbot"),
                  channel_name=f"{bot}__{ann.id}")
    assert reply["text"].startswith("Thanks for sharing"), reply
    with runtime.reader() as uow:
        assert uow.session.scalars(select(Community)).all() == [], "the direct message became no community"
        assert [(e.kind, e.community_id) for e in uow.session.scalars(select(Event))] == [("link_shared", None)]
        item = uow.session.scalars(select(ContentItem)).one()
    assert (item.first_shared_by, item.shared_at) == (None, None), \
        "nobody else saw it: the wiki's widget offers no one to thank, and it is no page everyone may know of"


def test_sharing_in_a_direct_message_when_mattermost_cannot_say_which_bot_learnloop_is_says_try_again(
        engine, clock: FakeClock, mattermost_contract: MattermostContract) -> None:
    """Without LEARNLOOP_MATTERMOST_BOT_USER_ID learnloop asks Mattermost who its bot is: busy, it says so."""
    runtime = build_runtime(make_settings(mattermost_bot_user_id=None), clock=clock, engine=engine)
    mattermost_contract.add("GET", "/api/v4/users/me", status=503,
                            json={"id": "api.context.server_busy.app_error", "message": "busy", "status_code": 503})
    ann = Person("ann")
    reply = slash(create_app(runtime).test_client(), ann, "share https://docs.python.org/3/ helped",
                  channel=uid("dmannbob"), channel_name=f"{uid('bob')}__{ann.id}")
    assert "Try again in a moment" in reply["text"] and "503" in reply["text"]
    with runtime.reader() as uow:
        assert uow.session.scalars(select(Event)).all() == []


def outcomes(runtime: Runtime) -> list[tuple[str, str | None, datetime]]:
    """The prompt_unanswered events: (kind, person, when)."""
    with runtime.uow() as uow:
        return [(e.kind, e.actor_id, e.occurred_at) for e in uow.session.scalars(
            select(Event).where(Event.kind == "prompt_unanswered"))]


def delivery(runtime: Runtime) -> Delivery:
    with runtime.uow() as uow:
        return uow.session.scalars(select(Delivery)).one()


def test_a_snoozed_prompt_whose_schedule_is_stopped_lapses_unanswered(
        client: FlaskClient, runtime: Runtime, sent_prompt: dict, clock: FakeClock) -> None:
    """Sent once, it was counted sent: stopped before it came again, it is counted unanswered, as a snoozed
    prompt that is never sent again is."""
    click(client, ANN, sent_prompt["Snooze 1 day"])
    with runtime.uow() as uow:
        schedule = uow.session.scalars(select(PromptSchedule)).one()
        prompt_setup.stop(uow, schedule, clock.now)
    assert (delivery(runtime).status, delivery(runtime).reason) == ("skipped", "lapsed")
    assert [(kind, person) for kind, person, _ in outcomes(runtime)] == [("prompt_unanswered", ANN.id)]


def test_a_skipped_prompt_is_counted_unanswered_once(client: FlaskClient, runtime: Runtime, sent_prompt: dict,
                                                     clock: FakeClock) -> None:
    assert "skipped" in click(client, ANN, sent_prompt["Skip this one"]).get_json()["ephemeral_text"].lower()
    assert outcomes(runtime) == [("prompt_unanswered", ANN.id, clock.now)]
    assert delivery(runtime).status == "skipped"
    reply = slash(client, ANN, f"reflect {SECRET_TEXT}")
    assert "open prompt" not in reply["text"]
    with runtime.uow() as uow:
        [written] = [e.data for e in uow.session.scalars(select(Event).where(Event.kind == "reflection"))]
    assert written["answered_prompt"] is False, "a reflection after a skip answers no prompt"


def test_a_prompt_left_until_its_window_closed_lapses_and_a_late_answer_answers_nothing(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract, sent_prompt: dict,
    clock: FakeClock
) -> None:
    mattermost_contract.add("POST", "/api/v4/actions/dialogs/open", json={"status": "OK"})
    click(client, ANN, sent_prompt["Reflect now"])
    form = opened_dialog(mattermost_contract)
    closes = delivery(runtime).window_end
    clock.now = closes
    assert submit(client, ANN, "reflect", form["state"], {"answer1": SECRET_TEXT, "visibility": "private"}
                  ).status_code == 200, "the form sent once the window has closed, before the worker's pass"
    world = World(runtime, mattermost_contract, people=[ANN])
    world.tick()
    world.tick()
    assert (delivery(runtime).status, delivery(runtime).reason) == ("skipped", "lapsed")
    assert outcomes(runtime) == [("prompt_unanswered", ANN.id, closes)], "once, when its window closed"
    [reflection] = reflections(runtime)
    assert reflection.delivery_id is None
    with runtime.uow() as uow:
        [written] = [e.data for e in uow.session.scalars(select(Event).where(Event.kind == "reflection"))]
    assert written["answered_prompt"] is False


def test_a_prompt_whose_window_closed_while_the_worker_was_down_for_weeks_still_lapses(
    runtime: Runtime, mattermost_contract: MattermostContract, sent_prompt: dict, clock: FakeClock
) -> None:
    """Counted unanswered in the week its window closed, however long the worker was away: otherwise the
    dashboards' prompts sent (answered plus unanswered) would stay short for those weeks."""
    sent = delivery(runtime)
    clock.now = sent.due_at + timedelta(days=40)
    world = World(runtime, mattermost_contract, people=[ANN])
    world.tick()
    world.tick()
    with runtime.reader() as uow:
        back = uow.session.get(Delivery, sent.id)
    assert back is not None and (back.status, back.reason) == ("skipped", "lapsed")
    assert outcomes(runtime) == [("prompt_unanswered", ANN.id, sent.window_end)]


def test_an_answered_prompt_never_lapses(client: FlaskClient, runtime: Runtime, sent_prompt: dict,
                                         mattermost_contract: MattermostContract, clock: FakeClock) -> None:
    slash(client, ANN, f"reflect {SECRET_TEXT}")
    serve_patch(mattermost_contract)
    clock.now = delivery(runtime).window_end
    World(runtime, mattermost_contract, people=[ANN]).tick()
    assert delivery(runtime).status == "answered" and outcomes(runtime) == []


def test_a_snoozed_prompt_that_is_not_sent_again_lapses_unanswered(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract, sent_prompt: dict,
    clock: FakeClock
) -> None:
    """Snoozed, then expired before it could be sent again (the worker was down): it was sent once, so it counts
    as unanswered once."""
    click(client, ANN, sent_prompt["Snooze 1 day"])
    clock.now = delivery(runtime).window_end
    World(runtime, mattermost_contract, people=[ANN]).tick()
    assert (delivery(runtime).status, delivery(runtime).reason) == ("skipped", "lapsed")
    assert outcomes(runtime) == [("prompt_unanswered", ANN.id, clock.now)]


def test_a_snoozed_prompt_its_receiver_turns_off_before_it_comes_again_lapses_unanswered(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract, sent_prompt: dict,
    clock: FakeClock
) -> None:
    click(client, ANN, sent_prompt["Snooze 1 day"])
    slash(client, ANN, "prompts off")
    clock.now = delivery(runtime).due_at
    world = World(runtime, mattermost_contract, people=[ANN])
    world.serve_statuses()
    world.tick()
    assert (delivery(runtime).status, delivery(runtime).reason) == ("skipped", "lapsed")
    assert outcomes(runtime) == [("prompt_unanswered", ANN.id, clock.now)]


def test_a_lapsed_prompt_s_buttons_say_it_is_closed(client: FlaskClient, runtime: Runtime, sent_prompt: dict,
                                                   mattermost_contract: MattermostContract, clock: FakeClock) -> None:
    clock.now = delivery(runtime).window_end
    World(runtime, mattermost_contract, people=[ANN]).tick()
    assert "already closed" in click(client, ANN, sent_prompt["Skip this one"]).get_json()["ephemeral_text"]


def test_a_reflection_typed_in_a_direct_message_without_a_prompt_says_it_stays_private(client: FlaskClient) -> None:
    reply = slash(client, ANN, "reflect Pairing beats reading", channel=uid("dmann"), channel_name=f"{BOT}__{ANN.id}")
    assert reply["text"] == "Saved: kept in your private journal (only you)."
    [note] = reply["attachments"]
    assert "actions" not in note and "Change your mind" not in note["text"], "no promise without buttons"
    assert note["text"] == ("Only you can see it, and it stays private: it belongs to no community. To share one, "
                            "type `/learn reflect` in your community's channel.")

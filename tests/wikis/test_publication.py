"""Reflections published to a real MediaWiki by the worker's job: once, however often the job runs."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from flask.testing import FlaskClient
from pydantic import SecretStr
from sqlalchemy import Engine, select

from learnloop.bootstrap import Runtime, build_runtime
from learnloop.jobs.outbox import BLANK_FLAG, RATE_LIMITED_FOR
from learnloop.mattermost.signed_state import button_context
from learnloop.mattermost.wiki_messages import announcer
from learnloop.mattermost.wiki_removal_views import KEEP_ACTION, REMOVE_ACTION
from learnloop.mediawiki.host import MediaWikiHost
from learnloop.services import personal_data
from learnloop.services import reflections as reflections_service
from learnloop.services.outbox_kinds import RESPOND, SEND_DM
from learnloop.storage.outbox import ClaimedMessage
from learnloop.storage.tables import OutboxMessage, Reflection
from learnloop.wikis import PUBLISH_JOB, UNPUBLISH_JOB, Published, WikiError
from learnloop.wiring import create_app, wiki_hosts
from tests.conftest import START, FakeClock, make_settings
from tests.contract.mattermost_openapi import MattermostContract
from tests.prompts.world import CHANNEL, Person, World, click, courier, opened_dialog, slash, submit, uid
from tests.wikis import jobs as wiki_jobs

from .mediawiki_server import MediaWikiServer
from .mediawiki_support import WIKI_SECRET, Editor, needs_mediawiki

pytestmark = needs_mediawiki

ANN, BOB = Person("ann"), Person("bob")


@pytest.fixture
def log_title() -> str:
    """Each test its own learning log on the one wiki of the session."""
    return f"Learning log {uuid.uuid4().hex[:8]}"


@pytest.fixture
def runtime(mediawiki: MediaWikiServer, engine: Engine, clock: FakeClock, log_title: str) -> Runtime:
    settings = make_settings(
        wikis=[{"name": "handbook", "kind": "mediawiki", "url": mediawiki.url, "secret": WIKI_SECRET,
                "bot_user": mediawiki.bot_user, "bot_password": mediawiki.bot_password}],
        communities=[{"name": "Data guild", "channel_id": CHANNEL, "learning_log_page": log_title,
                      "wiki_spaces": [{"wiki": "handbook", "space": "Category:Onboarding"}]}])
    return build_runtime(settings, clock=clock, engine=engine)


@pytest.fixture
def client(runtime: Runtime) -> FlaskClient:
    return create_app(runtime).test_client()


@pytest.fixture
def mattermost_contract(mattermost_contract: MattermostContract, mediawiki: MediaWikiServer) -> MattermostContract:
    """Mattermost's API checked against its contract; the real wiki reached as it is."""
    mattermost_contract.add_passthru(mediawiki.url)
    return mattermost_contract


def publish_buttons(client: FlaskClient, text: str) -> dict[str, dict[str, Any]]:
    reply = slash(client, ANN, f"reflect {text}")
    return {action["name"]: action["integration"]["context"] for action in reply["attachments"][0]["actions"]}


def queued(runtime: Runtime, kind: str) -> list[OutboxMessage]:
    with runtime.uow() as uow:
        return list(uow.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind)
                                        .order_by(OutboxMessage.id)))


def reflection(runtime: Runtime) -> Reflection:
    with runtime.uow() as uow:
        return uow.session.scalars(select(Reflection)).one()


def test_the_worker_publishes_a_reflection_once_even_when_its_job_runs_again(
        client: FlaskClient, runtime: Runtime, mediawiki: MediaWikiServer, mediawiki_editor: Editor,
        log_title: str) -> None:
    buttons = publish_buttons(client, "Reading the [[runbook]] first saves {{time}}.")
    click(client, ANN, buttons["Publish to the wiki with my name"])
    [job] = queued(runtime, PUBLISH_JOB)

    first = wiki_jobs.publish(runtime, job.payload)
    # The worker died after the wiki saved the section and before it recorded that: the job runs again.
    again = wiki_jobs.publish(runtime, job.payload, attempt=2)

    url = f"{mediawiki.url}/wiki/{log_title.replace(' ', '_')}"
    assert first == again == {"published": True, "url": url}
    wikitext = mediawiki_editor.wikitext(log_title)
    assert wikitext.count(f"<!-- {reflection(runtime).publish_marker}") == 1
    assert wikitext.count("Reading the [[runbook]] first saves {{time}}.") == 1
    assert mediawiki_editor.categories(log_title) == ["Category:Onboarding"]
    stored = reflection(runtime)
    assert (stored.publish_state, stored.published_url) == ("published", url)
    [told] = queued(runtime, SEND_DM)
    assert told.payload == {"user_id": ANN.id, "message": f"Your reflection is in the learning log: {url}"}


@pytest.mark.parametrize(("button", "heading"), [
    ("Publish to the wiki with my name", "2026-11-02 · ann"),
    ("Publish to the wiki without my name", "2026-11-02 · A member of Data guild")])
def test_the_heading_names_the_author_only_when_they_chose_so(
        client: FlaskClient, runtime: Runtime, mediawiki_editor: Editor, log_title: str, button: str,
        heading: str) -> None:
    click(client, ANN, publish_buttons(client, "Small commits are easier to review.")[button])
    [job] = queued(runtime, PUBLISH_JOB)
    assert wiki_jobs.publish(runtime, job.payload)["published"] is True
    wikitext = mediawiki_editor.wikitext(log_title)
    assert f"== {heading} ==" in wikitext
    assert wikitext.count("== ") == 1 and ("ann" in wikitext) is (button.endswith("with my name"))
    stored = reflection(runtime)
    assert (stored.published_wiki, stored.published_title) == ("handbook", log_title)
    assert stored.published_page_ref == str(mediawiki_editor.page_id(log_title))
    assert f"<!-- {stored.publish_marker} -->" in wikitext


def test_a_reflection_published_days_after_it_was_written_is_dated_when_it_was_published(
        client: FlaskClient, runtime: Runtime, clock: FakeClock, mediawiki_editor: Editor, log_title: str) -> None:
    """Dated when it was written, a section published later told the dashboard's readers which week's
    private reflections it had been one of."""
    buttons = publish_buttons(client, "Pairing on the migration paid off.")
    clock.advance(days=9)
    click(client, ANN, buttons["Publish to the wiki with my name"])
    [job] = queued(runtime, PUBLISH_JOB)
    assert wiki_jobs.publish(runtime, job.payload, queued_at=job.created_at)["published"] is True
    assert "== 2026-11-11 · ann ==" in mediawiki_editor.wikitext(log_title)


def test_a_wiki_that_refuses_for_good_is_told_to_the_author(
        mediawiki: MediaWikiServer, engine: Engine, clock: FakeClock) -> None:
    settings = make_settings(
        wikis=[{"name": "handbook", "kind": "mediawiki", "url": mediawiki.url, "secret": WIKI_SECRET,
                "bot_user": mediawiki.bot_user, "bot_password": mediawiki.bot_password}],
        communities=[{"name": "Data guild", "channel_id": CHANNEL,
                      "wiki_spaces": [{"wiki": "handbook", "space": "Shelf:Not a MediaWiki space"}]}])
    runtime = build_runtime(settings, clock=clock, engine=engine)
    client = create_app(runtime).test_client()
    click(client, ANN, publish_buttons(client, "This will not reach the wiki.")["Publish to the wiki with my name"])
    [job] = queued(runtime, PUBLISH_JOB)

    result = wiki_jobs.publish(runtime, job.payload)

    assert result["published"] is False and "neither 'Category:<name>'" in result["error"]
    assert reflection(runtime).publish_state == "failed"
    [told] = queued(runtime, SEND_DM)
    assert told.payload["user_id"] == ANN.id
    assert "could not be published to the wiki handbook" in told.payload["message"]
    assert "nothing of it is on the wiki" in told.payload["message"]


class RateLimited(MediaWikiHost):
    """A MediaWiki that answers every publication with 429."""

    def publish(self, wiki: Any, **_: Any) -> Published:
        raise WikiError(f"{wiki.name}: HTTP 429: rate limited", retry_after=60)


def test_a_wiki_that_rate_limits_for_a_day_is_told_to_the_author(client: FlaskClient, runtime: Runtime,
                                                                  clock: FakeClock) -> None:
    click(client, ANN, publish_buttons(client, "This will not reach the wiki.")["Publish to the wiki with my name"])
    [job] = queued(runtime, PUBLISH_JOB)
    limited = wiki_jobs.handlers(runtime, {"mediawiki": RateLimited()})[PUBLISH_JOB]
    with pytest.raises(WikiError):  # the outbox waits the limit out
        limited(wiki_jobs.message(PUBLISH_JOB, job.payload, 1, queued_at=job.created_at))
    assert reflection(runtime).publish_state != "failed" and queued(runtime, SEND_DM) == []
    clock.advance(seconds=RATE_LIMITED_FOR.total_seconds())
    result = limited(wiki_jobs.message(PUBLISH_JOB, job.payload, 1, queued_at=job.created_at))
    assert result["published"] is False and "HTTP 429" in result["error"]
    assert reflection(runtime).publish_state == "failed"
    [told] = queued(runtime, SEND_DM)
    assert told.payload["user_id"] == ANN.id and "could not be published to the wiki handbook" in told.payload["message"]


# --- deleting a published reflection: remove its section, or be told where it stays ---------------------------


def published(client: FlaskClient, runtime: Runtime, text: str) -> Reflection:
    """Ann publishes a reflection with her name and the worker puts it on the wiki."""
    click(client, ANN, publish_buttons(client, text)["Publish to the wiki with my name"])
    job = queued(runtime, PUBLISH_JOB)[-1]
    assert wiki_jobs.publish(runtime, job.payload)["published"] is True
    with runtime.uow() as uow:
        return uow.session.get(Reflection, job.payload["reflection_id"])


def buttons_of(attachments: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {action["name"]: action["integration"]["context"] for a in attachments for action in a["actions"]}


def delete_from_journal(client: FlaskClient, contract: MattermostContract) -> dict[str, Any]:
    """Ann deletes her newest reflection from the journal; returns the dialog she confirmed."""
    entry = slash(client, ANN, "journal")["attachments"][0]
    delete = {a["name"]: a["integration"]["context"] for a in entry["actions"]}["Delete"]
    contract.add("POST", "/api/v4/actions/dialogs/open", json={"status": "OK"})
    assert click(client, ANN, delete).get_json() == {}
    form = opened_dialog(contract)
    assert submit(client, ANN, "journal_delete", form["state"], {}).status_code == 200
    return form


def test_deleting_a_published_reflection_offers_its_removal_and_removes_it_through_the_outbox(
        client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract, mediawiki: MediaWikiServer,
        mediawiki_editor: Editor, log_title: str) -> None:
    first = published(client, runtime, "Ann's first thought stays.")
    second = published(client, runtime, "Ann's second thought goes.")
    url = f"{mediawiki.url}/wiki/{log_title.replace(' ', '_')}"
    where = f"“{log_title}” ({url})"

    form = delete_from_journal(client, mattermost_contract)

    assert f"Its section on the wiki page {where} stays unless you remove it" in form["introduction_text"]
    [offer] = [m for m in queued(runtime, SEND_DM) if m.idempotency_key == f"deleted:{second.id}"]
    assert offer.payload["user_id"] == ANN.id
    assert offer.payload["message"] == f"Deleted from your journal. Its section is still on the wiki page {where}."
    [attachment] = offer.payload["props"]["attachments"]
    assert attachment["text"] == f"Still on the wiki: {where}"
    buttons = buttons_of(offer.payload["props"]["attachments"])
    assert list(buttons) == ["Also remove it from the wiki", "Leave it there"]
    assert "second thought" not in json.dumps(offer.payload), "the offer holds the section's place, not its text"

    kept = click(client, ANN, buttons["Leave it there"]).get_json()["ephemeral_text"]
    assert kept.startswith(f"It stays on the wiki: {where}.")
    assert "not yours" in click(client, BOB, buttons["Also remove it from the wiki"]).get_json()["ephemeral_text"]
    asked = click(client, ANN, buttons["Also remove it from the wiki"]).get_json()["ephemeral_text"]
    assert asked.startswith(f"Removing it from {where}.")
    [job] = queued(runtime, UNPUBLISH_JOB)
    assert job.payload == {"wiki": "handbook", "page_ref": str(mediawiki_editor.page_id(log_title)),
                           "marker": second.publish_marker, "title": log_title, "url": url, "notify": ANN.id}
    again = click(client, ANN, buttons["Also remove it from the wiki"]).get_json()["ephemeral_text"]
    assert again.startswith("You asked already") and len(queued(runtime, UNPUBLISH_JOB)) == 1

    assert wiki_jobs.unpublish(runtime, job.payload) == {"removed": True, "gone": False}
    wikitext = mediawiki_editor.wikitext(log_title)
    assert "second thought" not in wikitext and str(second.publish_marker) not in wikitext
    assert "Ann's first thought stays." in wikitext and str(first.publish_marker) in wikitext
    assert mediawiki_editor.categories(log_title) == ["Category:Onboarding"]
    [told] = [m for m in queued(runtime, SEND_DM) if m.idempotency_key.startswith("unpublished:")]
    assert told.payload == {"user_id": ANN.id, "message": f"Removed: your reflection is no longer on {where}.",
                            BLANK_FLAG: True}
    retried = wiki_jobs.unpublish(runtime, job.payload, attempt=2)
    assert retried == {"removed": False, "gone": False}, "removing twice is fine"
    assert mediawiki_editor.wikitext(log_title) == wikitext

    world = World(runtime, mattermost_contract, people=[ANN])
    world.serve_dm_and_posts(len(queued(runtime, SEND_DM)))
    assert courier(runtime).deliver(kinds=[SEND_DM]).failed == 0, "Mattermost takes the offer as it is"
    [posted] = [c.json for c in world.calls("POST", "/api/v4/posts") if c.json["message"].startswith("Deleted")]
    assert [a["name"] for a in posted["props"]["attachments"][0]["actions"]] == [
        "Also remove it from the wiki", "Leave it there"]


def test_a_wiki_that_refuses_the_removal_is_told_with_where_the_section_stays(
        client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract, mediawiki: MediaWikiServer,
        mediawiki_editor: Editor, engine: Engine, clock: FakeClock, log_title: str) -> None:
    gone = published(client, runtime, "The wiki will keep this one.")
    delete_from_journal(client, mattermost_contract)
    [offer] = queued(runtime, SEND_DM)[-1:]
    click(client, ANN, buttons_of(offer.payload["props"]["attachments"])["Also remove it from the wiki"])
    [job] = queued(runtime, UNPUBLISH_JOB)
    wrong = SecretStr("wrong0123456789abcdefghijklmnopqrs")
    locked_out = build_runtime(runtime.settings.model_copy(update={"wikis": [
        runtime.settings.wikis[0].model_copy(update={"bot_password": wrong})]}), clock=clock, engine=engine)

    result = wiki_jobs.unpublish(locked_out, job.payload)

    assert result["removed"] is False and "Incorrect username or password" in result["error"]
    [told] = [m for m in queued(runtime, SEND_DM) if m.idempotency_key.startswith("unpublished:")]
    url = f"{mediawiki.url}/wiki/{log_title.replace(' ', '_')}"
    assert told.payload["message"].startswith("The wiki refused to remove your reflection: could not log in")
    assert told.payload["message"].endswith(f"It is still on “{log_title}” ({url}): remove the section there, "
                                            "or ask the wiki's admins.")
    assert "The wiki will keep this one." in mediawiki_editor.wikitext(log_title)
    assert str(gone.publish_marker) in mediawiki_editor.wikitext(log_title)


def test_erasing_my_data_offers_the_removal_of_what_i_published_and_stores_me_no_more(
        client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract, mediawiki: MediaWikiServer,
        mediawiki_editor: Editor, engine: Engine, log_title: str) -> None:
    published(client, runtime, "First published thought.")
    published(client, runtime, "Second published thought.")
    mattermost_contract.add("POST", "/api/v4/actions/dialogs/open", json={"status": "OK"})
    assert slash(client, ANN, "mydata delete") == {}
    form = opened_dialog(mattermost_contract)
    assert "published to the wiki stay there unless you remove them" in form["introduction_text"]
    assert submit(client, ANN, "mydata_delete", form["state"], {}).status_code == 200

    [reply] = queued(runtime, RESPOND)
    url = f"{mediawiki.url}/wiki/{log_title.replace(' ', '_')}"
    body = reply.payload["body"]
    assert f"Reflections you published stay on the wiki unless you remove them: “{log_title}” ({url}), 2 sections."\
        in body["text"]
    buttons = buttons_of(body["attachments"])
    assert list(buttons) == ["Also remove them from the wiki", "Leave them there"]
    with runtime.reader() as uow:
        assert uow.reflections.recent(ANN.id, 10) == [] and uow.members.get(ANN.id) is None

    assert "Removing them from" in click(client, ANN, buttons["Also remove them from the wiki"]).get_json()[
        "ephemeral_text"]
    jobs = queued(runtime, UNPUBLISH_JOB)
    assert len(jobs) == 2 and all("published thought" not in json.dumps(job.payload) for job in jobs)
    assert [wiki_jobs.unpublish(runtime, job.payload)["removed"] for job in jobs] == [True, True]
    assert "published thought" not in mediawiki_editor.wikitext(log_title)
    World(runtime, mattermost_contract, people=[ANN]).serve_dm_and_posts(2)
    report = courier(runtime).deliver(kinds=[SEND_DM])
    assert (report.sent, report.failed) == (len(queued(runtime, SEND_DM)), 0)
    with runtime.reader() as uow:
        assert uow.members.get(ANN.id) is None, "telling her how it went stores nothing about her"


def test_the_offer_to_remove_what_i_published_reaches_me_when_the_erase_form_outlived_its_response_url(
        client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock) -> None:
    """A slash command's response URL lasts 30 minutes, and a form can stay open longer: the offer, the only way
    left to remove the sections (an erase keeps nothing of where they are), comes by direct message instead,
    and is not kept once delivered."""
    published(client, runtime, "Thought worth removing later.")
    mattermost_contract.add("POST", "/api/v4/actions/dialogs/open", json={"status": "OK"})
    slash(client, ANN, "mydata delete")
    form = opened_dialog(mattermost_contract)
    clock.advance(seconds=31 * 60)
    assert submit(client, ANN, "mydata_delete", form["state"], {}).status_code == 200
    [reply] = queued(runtime, RESPOND)
    mattermost_contract.add_unvalidated(reply.payload["response_url"], status=400, body=json.dumps({
        "id": "app.command_webhook.try_use.invalid", "message": "Invalid webhook.", "status_code": 400}))
    World(runtime, mattermost_contract, people=[ANN]).serve_dm_and_posts(1)
    report = courier(runtime).deliver(kinds=[RESPOND])
    assert (report.sent, report.failed) == (1, 0)
    [dm] = [call for call in mattermost_contract.calls if call.path == "/api/v4/posts"]
    assert dm.json["channel_id"] == uid("dmann")
    assert list(buttons_of(dm.json["props"]["attachments"])) == ["Also remove it from the wiki", "Leave it there"]
    assert queued(runtime, RESPOND) == [], "nothing naming her is kept"


def test_an_erase_keeps_a_removal_already_asked_for_without_naming_whom_it_was_for(
        client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract) -> None:
    published(client, runtime, "Going, and then everything goes.")
    delete_from_journal(client, mattermost_contract)
    [offer] = queued(runtime, SEND_DM)[-1:]
    click(client, ANN, buttons_of(offer.payload["props"]["attachments"])["Also remove it from the wiki"])
    [asked] = queued(runtime, UNPUBLISH_JOB)
    with runtime.uow() as uow:
        personal_data.erase(uow, ANN.id, "ann", runtime.clock(), runtime.signing_key, announcer(runtime))
    [kept] = queued(runtime, UNPUBLISH_JOB)
    assert kept.payload == {**asked.payload, "notify": None}
    assert kept.idempotency_key == asked.idempotency_key


def test_a_reflection_deleted_while_it_was_being_published_is_taken_off_again(
        client: FlaskClient, runtime: Runtime, mediawiki_editor: Editor, log_title: str) -> None:
    click(client, ANN, publish_buttons(client, "Deleted mid-flight.")["Publish to the wiki with my name"])
    [job] = queued(runtime, PUBLISH_JOB)
    hosts = wiki_hosts()
    host = hosts["mediawiki"]
    original = host.publish

    def publish_while_the_author_deletes(*args: Any, **kwargs: Any) -> Published:
        with runtime.uow() as uow:
            reflections_service.delete(uow, ANN.id, job.payload["reflection_id"], runtime.clock())
        return original(*args, **kwargs)

    host.publish = publish_while_the_author_deletes  # type: ignore[method-assign]
    handler = wiki_jobs.handlers(runtime, hosts)[PUBLISH_JOB]
    assert handler(ClaimedMessage(0, PUBLISH_JOB, "k", job.payload, 1, START))["published"] is True
    [removal] = queued(runtime, UNPUBLISH_JOB)
    assert removal.payload["notify"] is None and "mid-flight" not in json.dumps(removal.payload)
    assert queued(runtime, SEND_DM) == [], "nobody is told of a section they never saw"
    assert wiki_jobs.unpublish(runtime, removal.payload)["removed"] is True
    assert "Deleted mid-flight." not in mediawiki_editor.wikitext(log_title)


def test_a_section_published_before_sections_were_marked_is_named_where_it_stays(
        client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract) -> None:
    slash(client, ANN, "reflect Published by an older learnloop.")
    with runtime.uow() as uow:
        old = uow.session.scalars(select(Reflection)).one()
        old.visibility, old.publish_state = "wiki", "published"
        old.published_url = "https://wiki.acme.example/wiki/Learning_log"
        uow.commit()
    form = delete_from_journal(client, mattermost_contract)
    assert "Its section on the wiki stays: https://wiki.acme.example/wiki/Learning_log." in form["introduction_text"]
    [told] = queued(runtime, SEND_DM)
    assert told.payload["message"].startswith(
        "Deleted from your journal. Its section stays on https://wiki.acme.example/wiki/Learning_log")
    assert "props" not in told.payload


def test_a_forged_or_outdated_removal_button_changes_nothing(client: FlaskClient, runtime: Runtime) -> None:
    for context in ({"sections": "x"}, {"sections": []}, {"sections": [{"wiki": "handbook"}]},
                    {"sections": [{"wiki": "h", "page_ref": "1", "marker": "learnloop-reflection-1 -->", "title": "t",
                                   "url": "u"}]}, {"sections": [{}] * 21}):
        signed = button_context(REMOVE_ACTION, runtime.signing_key, for_user=ANN.id, **context)
        reply = click(client, ANN, signed)
        assert reply.status_code == 200 and "nothing was changed" in reply.get_json()["ephemeral_text"]
    signed = button_context(KEEP_ACTION, runtime.signing_key, for_user=ANN.id, places=[{"title": 1}])
    assert "nothing was changed" in click(client, ANN, signed).get_json()["ephemeral_text"]
    assert queued(runtime, UNPUBLISH_JOB) == []

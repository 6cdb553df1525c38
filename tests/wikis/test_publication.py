"""Reflections published to a real MediaWiki by the worker's job: once, however often the job runs."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, select

from learnloop.bootstrap import Runtime, build_runtime
from learnloop.services.outbox_kinds import SEND_DM
from learnloop.storage.tables import OutboxMessage, Reflection
from learnloop.wikis import PUBLISH_JOB
from learnloop.wiring import create_app
from tests.conftest import FakeClock, make_settings
from tests.prompts.world import CHANNEL, Person, click, slash
from tests.wikis import jobs as wiki_jobs

from .mediawiki_server import MediaWikiServer
from .mediawiki_support import WIKI_SECRET, Editor, needs_mediawiki

pytestmark = needs_mediawiki

ANN = Person("ann")


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
    assert wikitext.count(f"<!-- learnloop-reflection-{reflection(runtime).id}") == 1
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

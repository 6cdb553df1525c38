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
    click(client, ANN, buttons["Publish to the wiki"])
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

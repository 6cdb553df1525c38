"""A reflection deleted, or erased with all its author's data, while the worker records its publication does
not stay on the wiki unnoticed: on
PostgreSQL the two transactions run side by side, so both hold the reflection's row (SQLite's writer lock
serialises them anyway)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, select

from learnloop.bootstrap import Runtime, build_runtime
from learnloop.mattermost.wiki_messages import announcer
from learnloop.services import personal_data
from learnloop.services import reflections as reflections_service
from learnloop.services.reflections import ReflectionView
from learnloop.storage.personal_records import PersonalRecords
from learnloop.storage.prompt_repositories import ReflectionRepository
from learnloop.storage.tables import OutboxMessage, Reflection
from learnloop.wikis import PUBLISH_JOB, UNPUBLISH_JOB, Published, WikiError
from learnloop.wiring import create_app, wiki_hosts
from tests.conftest import FakeClock, make_settings
from tests.privacy.test_personal_data import everything_stored
from tests.prompts.world import CHANNEL, Person, click, slash
from tests.wikis import jobs as wiki_jobs

ANN = Person("ann")


@pytest.fixture
def runtime(engine: Engine, clock: FakeClock) -> Runtime:
    settings = make_settings(
        wikis=[{"name": "handbook", "kind": "mediawiki", "url": "http://wiki.test", "secret": "s" * 40,
                "bot_user": "bot", "bot_password": "pw"}],
        communities=[{"name": "Data guild", "channel_id": CHANNEL, "learning_log_page": "Learning log",
                      "wiki_spaces": [{"wiki": "handbook", "space": "Category:Onboarding"}]}])
    return build_runtime(settings, clock=clock, engine=engine)


def queued(runtime: Runtime, kind: str) -> list[OutboxMessage]:
    with runtime.uow() as uow:
        return list(uow.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind)))


def chosen_for_the_wiki(runtime: Runtime, text: str) -> OutboxMessage:
    """Ann writes a reflection and chooses to publish it with her name: the publish job it queues."""
    client = create_app(runtime).test_client()
    reply = slash(client, ANN, f"reflect {text}")
    buttons = {a["name"]: a["integration"]["context"] for a in reply["attachments"][0]["actions"]}
    click(client, ANN, buttons["Publish to the wiki with my name"])
    [job] = queued(runtime, PUBLISH_JOB)
    return job


def recorded_meanwhile(runtime: Runtime, job: OutboxMessage, web: Callable[[], None], read: threading.Event,
                       go_on: threading.Event) -> list[Any]:
    """`web` runs in a thread until it has `read` (and waits for `go_on`); the worker's publish job, which the wiki
    accepts, records the publication meanwhile; then both finish. The job's results."""
    hosts = wiki_hosts()
    hosts["mediawiki"].publish = lambda *_a, **_k: Published(  # type: ignore[method-assign]
        "http://wiki.test/wiki/Learning_log", "Learning log", "42")
    thread = threading.Thread(target=web)
    thread.start()
    assert read.wait(10)
    results: list[Any] = []
    worker = threading.Thread(target=lambda: results.append(wiki_jobs.handlers(runtime, hosts)[PUBLISH_JOB](
        wiki_jobs.message(PUBLISH_JOB, job.payload, 1))))
    worker.start()
    worker.join(0.5)
    go_on.set()
    thread.join(10)
    worker.join(10)
    return results


def test_a_reflection_deleted_as_its_publication_is_recorded_is_offered_or_taken_off(
        runtime: Runtime, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite's writer lock runs the two transactions one after the other")
    job = chosen_for_the_wiki(runtime, "Deleted while it was being published.")
    reflection_id = job.payload["reflection_id"]
    read, go_on = threading.Event(), threading.Event()
    found = ReflectionRepository.of_author

    def of_author(self: ReflectionRepository, *args: Any, **kwargs: Any) -> Reflection | None:
        reflection = found(self, *args, **kwargs)
        read.set()
        go_on.wait(10)  # the rest of the delete: the outbox looked up, what nobody saw recorded
        return reflection

    monkeypatch.setattr(ReflectionRepository, "of_author", of_author)
    views: list[ReflectionView] = []

    def delete() -> None:
        with runtime.uow() as uow:
            views.append(reflections_service.delete(uow, ANN.id, reflection_id, runtime.clock()))

    results = recorded_meanwhile(runtime, job, delete, read, go_on)
    assert results and results[0]["published"] is True
    with runtime.reader() as uow:
        assert uow.session.get(Reflection, reflection_id) is None
    assert views[0].section is not None or len(queued(runtime, UNPUBLISH_JOB)) == 1, \
        "the author is offered the section's removal, or it is taken off"


def test_a_reflection_erased_as_its_publication_is_recorded_is_offered_or_taken_off(
        runtime: Runtime, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite's writer lock runs the two transactions one after the other")
    job = chosen_for_the_wiki(runtime, "Erased while it was being published.")
    read, go_on = threading.Event(), threading.Event()
    found = PersonalRecords.reflections

    def reflections(self: PersonalRecords, *args: Any, **kwargs: Any) -> list[Reflection]:
        mine = found(self, *args, **kwargs)
        read.set()
        go_on.wait(10)  # the rest of the erase
        return mine

    monkeypatch.setattr(PersonalRecords, "reflections", reflections)
    erased: list[personal_data.Erased] = []

    def erase() -> None:
        with runtime.uow() as uow:
            erased.append(personal_data.erase(uow, ANN.id, ANN.name, runtime.clock(), runtime.signing_key,
                                              announcer(runtime)))

    results = recorded_meanwhile(runtime, job, erase, read, go_on)
    assert results and results[0]["published"] is True
    with runtime.reader() as uow:
        assert uow.session.scalars(select(Reflection)).all() == []
    assert erased[0].wiki_sections or len(queued(runtime, UNPUBLISH_JOB)) == 1, \
        "the author is offered the section's removal, or it is taken off"


def test_a_publication_the_wiki_refuses_after_its_author_erased_their_data_tells_nobody(
        runtime: Runtime, engine: Engine) -> None:
    job = chosen_for_the_wiki(runtime, "Erased while the wiki was being asked.")

    def erased_meanwhile(*_a: Any, **_k: Any) -> Published:
        with runtime.uow() as uow:
            personal_data.erase(uow, ANN.id, ANN.name, runtime.clock(), runtime.signing_key, announcer(runtime))
        raise WikiError("MediaWiki edit: HTTP 403 permissiondenied", retryable=False)

    hosts = wiki_hosts()
    hosts["mediawiki"].publish = erased_meanwhile  # type: ignore[method-assign]
    assert wiki_jobs.handlers(runtime, hosts)[PUBLISH_JOB](wiki_jobs.message(PUBLISH_JOB, job.payload, 1)) == {
        "published": False, "error": "MediaWiki edit: HTTP 403 permissiondenied"}
    assert ANN.id not in everything_stored(engine)

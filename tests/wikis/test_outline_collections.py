"""A collection deleted, archived or restored in Outline takes its documents with it, without an event of their
own: each page learnloop follows on the wiki is checked by its id, through the real route and the worker's
fetch jobs, against a stubbed Outline API."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import responses
from flask.testing import FlaskClient
from sqlalchemy import select

from learnloop.bootstrap import Runtime
from learnloop.domain.wiki_events import WikiEvent
from learnloop.jobs.worker import Worker
from learnloop.mattermost.wiki_messages import announcer
from learnloop.services import dashboard, wiki_ingest
from learnloop.services.rating import Rater, rate_url
from learnloop.storage.tables import ContentItem
from learnloop.wiring import create_app
from tests.conftest import FakeClock
from tests.wikis import jobs as wiki_jobs
from tests.wikis.test_outline_webhooks import (
    COLLECTION_ID,
    DOCUMENT_ID,
    OUTLINE_URL,
    WIKI,
    deliver,
    fetch_jobs,
    fixture_body,
    outline_runtime,
    signature,
)

DOCUMENTS = {"doc-in-collection": "/doc/runbook-Aa11", "doc-elsewhere": "/doc/rota-Bb22"}


@pytest.fixture
def runtime(engine: Any, clock: FakeClock) -> Runtime:
    runtime = outline_runtime(engine, clock)
    for page_id, path in DOCUMENTS.items():
        event = WikiEvent(wiki=WIKI, event_id=f"{page_id}:created", action="created", page_id=page_id,
                          title=page_id, url=OUTLINE_URL + path, spaces=(COLLECTION_ID, "Engineering"),
                          author=None, summary=None, occurred_at=datetime(2026, 11, 2, 8, tzinfo=UTC))
        with runtime.uow() as uow:
            wiki_ingest.ingest(uow, runtime.settings, event, clock(), announcer(runtime))
    return runtime


class Outline(dict[str, dict[str, Any]]):
    """documents.info by id: what Outline shows of each document now (edit it to change that); `tree` is what
    collections.documents answers."""

    tree: list[dict[str, Any]]


@pytest.fixture
def outline() -> Iterator[Outline]:
    shown = Outline({page_id: {**copy.deepcopy(json.loads(fixture_body("documents.update"))["payload"]["model"]),
                               "id": page_id, "url": path} for page_id, path in DOCUMENTS.items()})
    shown.tree = []

    def info(request: Any) -> tuple[int, dict[str, str], str]:
        """By id, or by a URL's last part, `<slug>-<urlId>`, as Outline's Document.findByPk finds it."""
        asked = json.loads(request.body)["id"]
        url_id = re.fullmatch(r"(?:[0-9a-zA-Z_~-]*-)?([a-zA-Z0-9]{10,15})", asked)
        found = shown.get(asked) or next((d for d in shown.values()
                                          if url_id and d["url"].endswith("-" + url_id.group(1))), None)
        if found is None:
            return 404, {}, json.dumps({"ok": False, "error": "not_found", "status": 404})
        return 200, {}, json.dumps({"ok": True, "status": 200, "data": found})

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback(responses.POST, f"{OUTLINE_URL}/api/documents.info", callback=info)
        mock.add_callback(responses.POST, f"{OUTLINE_URL}/api/collections.documents",
                          callback=lambda _: (200, {}, json.dumps({"ok": True, "status": 200, "data": shown.tree})))
        mock.post(f"{OUTLINE_URL}/api/collections.info",
                  json={"ok": True, "status": 200, "data": {"id": COLLECTION_ID, "name": "Engineering"}})
        yield shown


def collection_event(runtime: Runtime, clock: FakeClock, event: str) -> list[Any]:
    """The delivery through the route, then its fetch job and the jobs it queues, as the worker runs them."""
    client: FlaskClient = create_app(runtime).test_client()
    body = fixture_body(event)
    assert deliver(client, body, signature(body, clock())).get_json()["queued"] == 1
    delivery = json.loads(body)["id"]
    [job] = [j for j in fetch_jobs(runtime) if j["event_id"] == delivery]
    assert job == {"wiki": WIKI, "event_id": delivery, "collection_id": COLLECTION_ID, "action": "collection",
                   "check": "restored" if event == "collections.restore" else "deleted"}
    results = [wiki_jobs.fetch(runtime, job)]
    results += [wiki_jobs.fetch(runtime, j) for j in fetch_jobs(runtime) if j["event_id"].startswith(delivery + ":")]
    return results


def retired(runtime: Runtime) -> dict[str, bool]:
    with runtime.uow() as uow:
        return {i.page_ref: i.retired_at is not None for i in uow.session.scalars(select(ContentItem))}


@pytest.mark.parametrize(("event", "gone_field"), [("collections.delete", "deletedAt"),
                                                   ("collections.archive", "archivedAt")])
def test_a_collection_gone_retires_its_documents_and_its_restore_brings_them_back(
        event: str, gone_field: str, runtime: Runtime, clock: FakeClock,
        outline: Outline) -> None:
    outline["doc-in-collection"][gone_field] = "2026-11-02T09:10:00.000Z"
    results = collection_event(runtime, clock, event)
    assert results[0] == {"events": 1, "recorded": 0, "pages_to_check": 2}
    assert retired(runtime) == {"doc-in-collection": True, "doc-elsewhere": False}

    outline["doc-in-collection"][gone_field] = None
    results = collection_event(runtime, clock, "collections.restore")
    assert results[0] == {"events": 1, "recorded": 0, "pages_to_check": 1}, "only the retired page is checked"
    assert retired(runtime) == {"doc-in-collection": False, "doc-elsewhere": False}


def test_a_document_emptied_from_the_trash_with_its_collection_is_retired(
        runtime: Runtime, clock: FakeClock, outline: Outline) -> None:
    del outline["doc-in-collection"]
    collection_event(runtime, clock, "collections.delete")
    assert retired(runtime) == {"doc-in-collection": True, "doc-elsewhere": False}


def test_a_collection_event_without_a_collection_id_is_refused(runtime: Runtime, clock: FakeClock) -> None:
    body = json.loads(fixture_body("collections.delete"))
    body["payload"]["id"] = "../../etc"
    raw = json.dumps(body).encode()
    response = deliver(create_app(runtime).test_client(), raw, signature(raw, clock()))
    assert response.status_code == 400 and "collection id" in response.get_json()["error"]["message"]
    assert fetch_jobs(runtime) == []


def test_a_document_moved_into_a_community_s_collection_takes_its_nested_documents_there(
        engine: Any, clock: FakeClock, outline: Outline) -> None:
    runtime = outline_runtime(engine, clock)
    for page_id, path in {**DOCUMENTS, DOCUMENT_ID: "/doc/onboarding-guide-hD4kq9Zt2W"}.items():
        event = WikiEvent(wiki=WIKI, event_id=f"{page_id}:created", action="created", page_id=page_id,
                          title=page_id, url=OUTLINE_URL + path, spaces=("elsewhere-id", "Elsewhere"), author=None,
                          summary=None, occurred_at=datetime(2026, 11, 2, 8, tzinfo=UTC))
        with runtime.uow() as uow:
            wiki_ingest.ingest(uow, runtime.settings, event, clock(), announcer(runtime))
    outline[DOCUMENT_ID] = {**outline["doc-elsewhere"], "id": DOCUMENT_ID, "url": "/doc/onboarding-guide-hD4kq9Zt2W"}
    child = {"id": "doc-in-collection", "title": "Runbook", "url": DOCUMENTS["doc-in-collection"], "children": []}
    outline.tree = [{"id": DOCUMENT_ID, "title": "Onboarding guide", "url": "/doc/onboarding-guide-hD4kq9Zt2W",
                     "children": [child]}]
    body = fixture_body("documents.move")
    assert deliver(create_app(runtime).test_client(), body, signature(body, clock())).get_json()["queued"] == 1
    [job] = fetch_jobs(runtime)
    assert wiki_jobs.fetch(runtime, job) == {"events": 2, "recorded": 2}
    with runtime.uow() as uow:
        places = {i.page_ref: (i.space, i.community_id is not None, i.title)
                  for i in uow.session.scalars(select(ContentItem))}
    assert places == {DOCUMENT_ID: ("Engineering", True, "Onboarding guide"),
                      "doc-in-collection": ("Engineering", True, "Runbook"),
                      "doc-elsewhere": (None, False, "doc-elsewhere")}


def test_a_document_first_rated_by_its_url_learns_its_id_and_goes_with_its_collection(
        runtime: Runtime, clock: FakeClock, outline: Outline) -> None:
    """Outline names a document in a collection's deletion, or emptied from the trash, by its id alone: the worker
    asks beforehand which document the URL an item was first rated by is (a trashed one is retired then)."""
    model = outline["doc-in-collection"]
    outline["doc-rated"] = {**copy.deepcopy(model), "id": "doc-rated", "url": "/doc/handbook-Cc33cc33cc"}
    outline["doc-trashed"] = {**copy.deepcopy(model), "id": "doc-trashed", "url": "/doc/old-Dd44dd44dd",
                              "deletedAt": "2026-11-02T09:10:00.000Z"}
    for path in ("/doc/handbook-Cc33cc33cc", "/doc/old-Dd44dd44dd", "/doc/missing-Ee55ee55ee", "/collection/x"):
        with runtime.uow() as uow:
            rate_url(uow, runtime.settings, Rater("rater".ljust(26, "0")), OUTLINE_URL + path, 5, None, clock())
    clock.advance(minutes=1)
    Worker(runtime).run_wikis()
    jobs = [job for job in fetch_jobs(runtime) if job["event_id"].startswith("identify:")]
    assert [job["url"] for job in jobs] == [OUTLINE_URL + path for path in (
        "/doc/handbook-Cc33cc33cc", "/doc/old-Dd44dd44dd", "/doc/missing-Ee55ee55ee", "/collection/x")]
    assert [wiki_jobs.fetch(runtime, job)["events"] for job in jobs] == [1, 1, 0, 0]
    assert retired(runtime) == {"doc-in-collection": False, "doc-elsewhere": False, "doc-rated": False,
                                "doc-trashed": True, None: False}

    outline["doc-rated"]["deletedAt"] = "2026-11-02T09:20:00.000Z"
    results = collection_event(runtime, clock, "collections.delete")
    assert results[0] == {"events": 1, "recorded": 0, "pages_to_check": 3}
    assert retired(runtime)["doc-rated"] is True


def test_a_document_identified_for_a_rating_is_not_listed_too_early_until_the_wiki_names_it(
        runtime: Runtime, clock: FakeClock, outline: Outline) -> None:
    """Looking up the page behind a rated URL says nothing to anyone: the dashboard lists the pages everyone can
    know of (named by the wiki's events, or shared), and one rating must not add a page to it."""
    outline["doc-rated"] = {**copy.deepcopy(outline["doc-in-collection"]), "id": "doc-rated",
                            "url": "/doc/handbook-Cc33cc33cc", "title": "Handbook"}
    with runtime.reader() as uow:
        community_id = uow.items.by_page(WIKI, "doc-in-collection").community_id

    def too_early() -> list[str]:
        with runtime.reader() as uow:
            return sorted(item.url for item in dashboard.too_early(uow, community_id, runtime.settings.min_group_size))

    listed = too_early()
    with runtime.uow() as uow:
        rate_url(uow, runtime.settings, Rater("rater".ljust(26, "0")), OUTLINE_URL + "/doc/handbook-Cc33cc33cc", 2,
                 None, clock())
    clock.advance(minutes=1)
    Worker(runtime).run_wikis()
    for job in fetch_jobs(runtime):
        wiki_jobs.fetch(runtime, job)
    with runtime.reader() as uow:
        assert uow.items.by_page(WIKI, "doc-rated") is not None, "identified"
    assert too_early() == listed
    with runtime.uow() as uow:
        wiki_ingest.ingest(uow, runtime.settings, WikiEvent(
            wiki=WIKI, event_id="doc-rated:edit", action="updated", page_id="doc-rated", title="Handbook",
            url=OUTLINE_URL + "/doc/handbook-Cc33cc33cc", spaces=(COLLECTION_ID, "Engineering"), author=None,
            summary=None, occurred_at=clock()), clock(), announcer(runtime))
    assert too_early() == sorted([*listed, OUTLINE_URL + "/doc/handbook-Cc33cc33cc"]), "named by the wiki now"

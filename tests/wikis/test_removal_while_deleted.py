"""A removal asked for while the learning log is deleted (in Outline's trash, BookStack's recycle bin, or deleted
on MediaWiki, all restorable): the author is told so, and the section is taken off when the page comes back."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import responses
from sqlalchemy import Engine, select

from learnloop.bootstrap import Runtime
from learnloop.outline.host import OutlineHost
from learnloop.services.outbox_kinds import SEND_DM
from learnloop.storage.tables import OutboxMessage, ParkedRemoval
from learnloop.wikis import UNPUBLISH_JOB
from tests.conftest import FakeClock
from tests.wikis import jobs as wiki_jobs
from tests.wikis.standins import OutlineStandIn
from tests.wikis.test_outline_host import wiki_config
from tests.wikis.test_outline_webhooks import API_TOKEN, COLLECTION_ID, OUTLINE_URL, WIKI, outline_runtime

MARKER = "learnloop-reflection-42-abcdefghij"
ANN = "ann".ljust(26, "0")


@pytest.fixture
def outline() -> Iterator[OutlineStandIn]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.post(f"{OUTLINE_URL}/api/collections.info",
                  json={"ok": True, "status": 200, "data": {"id": COLLECTION_ID, "name": "Engineering"}})
        yield OutlineStandIn(mock, OUTLINE_URL, API_TOKEN, [{"id": COLLECTION_ID, "name": "Engineering"}])


def messages(runtime: Runtime, kind: str) -> list[OutboxMessage]:
    with runtime.reader() as uow:
        return list(uow.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind)
                                        .order_by(OutboxMessage.id)))


def parked(runtime: Runtime) -> list[tuple[str, str, str]]:
    with runtime.reader() as uow:
        return [tuple(row) for row in uow.session.execute(
            select(ParkedRemoval.wiki, ParkedRemoval.page_ref, ParkedRemoval.marker)).all()]


def test_a_removal_asked_while_the_outline_log_is_in_the_trash_is_made_when_it_is_restored(
        engine: Engine, clock: FakeClock, outline: OutlineStandIn) -> None:
    runtime = outline_runtime(engine, clock)
    published = OutlineHost().publish(wiki_config(), space=COLLECTION_ID, page_title="Learning log",
                                      heading="2026-11-02 · Ann", text="Mine.", marker=MARKER)
    OutlineHost().publish(wiki_config(), space=COLLECTION_ID, page_title="Learning log", heading="2026-11-03 · Bob",
                          text="Bob stays.", marker="learnloop-reflection-43-abcdefghij")
    log = outline.documents[published.page_ref]
    log["deletedAt"] = "2026-11-03T10:00:00.000Z"  # someone moves the log to the trash
    section: dict[str, Any] = {"wiki": WIKI, "page_ref": published.page_ref, "marker": MARKER,
                               "title": published.page_title, "url": published.url}

    assert wiki_jobs.unpublish(runtime, {**section, "notify": ANN}) == {"removed": False, "gone": True}
    [told] = messages(runtime, SEND_DM)
    assert "is deleted on the wiki" in told.payload["message"]
    assert "If someone restores the page" in told.payload["message"]
    assert parked(runtime) == [(WIKI, published.page_ref, MARKER)]
    assert MARKER in log["text"]

    log["deletedAt"] = None  # restored from the trash a day later; Outline tells of it
    result = wiki_jobs.fetch(runtime, {"wiki": WIKI, "event_id": "delivery-restore", "document_id": published.page_ref,
                                       "action": "restored", "actor": None})
    assert result["events"] == 1
    [removal] = [m for m in messages(runtime, UNPUBLISH_JOB) if m.status == "pending"]
    assert removal.payload == {**section, "notify": None} and parked(runtime) == []
    assert wiki_jobs.unpublish(runtime, removal.payload) == {"removed": True, "gone": False}
    assert MARKER not in log["text"] and "Bob stays" in log["text"]
    assert len(messages(runtime, SEND_DM)) == 1, "who asked is not kept: nobody is told again"


def test_a_removal_from_a_page_that_is_gone_for_good_is_kept_once(
        engine: Engine, clock: FakeClock, outline: OutlineStandIn) -> None:
    runtime = outline_runtime(engine, clock)
    section = {"wiki": WIKI, "page_ref": "4d3c2b1a-0f9e-4d8c-b7a6-5f4e3d2c1b0a", "marker": MARKER,
               "title": "Learning log", "url": OUTLINE_URL + "/doc/learning-log-Ab12Cd34Ef"}
    for _ in range(2):
        assert wiki_jobs.unpublish(runtime, {**section, "notify": ANN}) == {"removed": False, "gone": True}
    assert parked(runtime) == [(WIKI, section["page_ref"], MARKER)]

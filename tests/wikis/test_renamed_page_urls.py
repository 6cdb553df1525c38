"""A renamed page keeps being found by the URL it had: Outline's widget is an embed whose address holds the
document's URL as it was pasted (`/doc/<slug>-<urlId>`), and a rename changes the slug."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select

from learnloop.domain.wiki_events import PageAction, WikiEvent
from learnloop.jobs.worker import Worker
from learnloop.mattermost.wiki_messages import announcer
from learnloop.services import wiki_ingest
from learnloop.services.rating import Rater, give_reason, rate_url, standing
from learnloop.storage.tables import ContentItem, Feedback, Rating
from tests.conftest import FakeClock
from tests.wikis import jobs as wiki_jobs
from tests.wikis.test_outline_collections import Outline, outline  # noqa: F401  (documents.info by id or urlId)
from tests.wikis.test_outline_webhooks import COLLECTION_ID, OUTLINE_URL, WIKI, fetch_jobs, outline_runtime

OLD, NEW = "/doc/onboarding-guide-Gg11gg11gg", "/doc/getting-started-Gg11gg11gg"
ANN, BOB = "ann".ljust(26, "0"), "bob".ljust(26, "0")


def _event(event_id: str, action: PageAction, page_id: str, path: str, title: str, at: datetime) -> WikiEvent:
    return WikiEvent(wiki=WIKI, event_id=event_id, action=action, page_id=page_id, title=title,
                     url=OUTLINE_URL + path, spaces=(COLLECTION_ID, "Engineering"), author=None, summary=None,
                     occurred_at=at, current=True)


def _ingest(runtime: Any, event: WikiEvent, clock: FakeClock) -> None:
    with runtime.uow() as uow:
        wiki_ingest.ingest(uow, runtime.settings, event, clock(), announcer(runtime))


def test_a_renamed_outline_document_is_rated_under_one_item_by_either_url(
        engine: Engine, clock: FakeClock, outline: Outline) -> None:  # noqa: F811
    runtime = outline_runtime(engine, clock)
    outline["doc-guide"] = {**copy.deepcopy(next(iter(outline.values()))), "id": "doc-guide", "url": OLD,
                            "title": "Onboarding guide"}
    _ingest(runtime, _event("c", "created", "doc-guide", OLD, "Onboarding guide", datetime(2026, 11, 2, 8, tzinfo=UTC)),
            clock)
    with runtime.uow() as uow:  # rated through the embed before the rename
        first = rate_url(uow, runtime.settings, Rater(ANN), OUTLINE_URL + OLD, 5, None, clock())
    outline["doc-guide"].update(url=NEW, title="Getting started")  # renamed: the item follows to the new slug
    _ingest(runtime, _event("u", "updated", "doc-guide", NEW, "Getting started", clock()), clock)
    with runtime.uow() as uow:  # the embed on the same document still names the old URL
        second = rate_url(uow, runtime.settings, Rater(BOB), OUTLINE_URL + OLD, 2, None, clock())
        give_reason(uow, BOB, OUTLINE_URL + OLD, "outdated", None, clock())
        seen = standing(uow, OUTLINE_URL + OLD, BOB)
    assert first.item_id == second.item_id
    assert seen is not None and (seen.item_id, seen.url, seen.my_stars) == (first.item_id, OUTLINE_URL + NEW, 2)
    clock.advance(minutes=5)
    Worker(runtime).run_wikis()  # the identify pass finds no item known by its URL alone
    for job in fetch_jobs(runtime):
        wiki_jobs.fetch(runtime, job)
    with runtime.reader() as uow:
        rated = {rating.item_id for rating in uow.session.scalars(select(Rating))}
        items = uow.session.scalars(select(ContentItem.url)).all()
        reasons = uow.session.scalars(select(Feedback.item_id)).all()
    assert rated == {first.item_id} and reasons == [first.item_id] and items == [OUTLINE_URL + NEW]


def test_a_page_made_later_at_the_old_url_is_rated_as_itself(engine: Engine, clock: FakeClock) -> None:
    """A wiki whose URLs are titles (MediaWiki, a page moved without a redirect): a new page at the old title is
    another page, and the old URL names it from then on."""
    runtime = outline_runtime(engine, clock)
    at = datetime(2026, 11, 2, 8, tzinfo=UTC)
    _ingest(runtime, _event("c1", "created", "page-1", "/doc/shared-title", "Shared title", at), clock)
    _ingest(runtime, _event("m1", "moved", "page-1", "/doc/archived-title", "Archived title", at), clock)
    with runtime.uow() as uow:
        moved = rate_url(uow, runtime.settings, Rater(ANN), OUTLINE_URL + "/doc/shared-title", 4, None, clock())
    _ingest(runtime, _event("c2", "created", "page-2", "/doc/shared-title", "Shared title", at), clock)
    with runtime.uow() as uow:
        fresh = rate_url(uow, runtime.settings, Rater(ANN), OUTLINE_URL + "/doc/shared-title", 3, None, clock())
        page_2 = uow.items.by_page(WIKI, "page-2")
        page_1 = uow.items.by_page(WIKI, "page-1")
    assert page_1 is not None and page_2 is not None
    assert (moved.item_id, fresh.item_id) == (page_1.id, page_2.id)
    assert page_1.url == OUTLINE_URL + "/doc/archived-title"

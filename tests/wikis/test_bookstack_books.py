"""A book or chapter changed in BookStack: its pages' URLs follow a rename, a chapter's move or a sort, and the
pages a book or chapter took to the recycle bin are retired (and come back with it), through the real route and
the worker's fetch jobs, against the BookStack stand-in."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import responses
from sqlalchemy import func, select

from learnloop.bookstack import client as bookstack_client
from learnloop.bootstrap import Runtime
from learnloop.jobs.worker import Worker
from learnloop.services.rating import Rater, rate_url
from learnloop.storage.tables import ContentItem, Event
from learnloop.wikis import WikiError
from learnloop.wiring import create_app
from tests.conftest import FakeClock
from tests.wikis import jobs as wiki_jobs
from tests.wikis.standins import BookStackStandIn

from .test_bookstack_webhooks import API_TOKEN, BASE_URL, bookstack_runtime, deliver, fetch_messages, fixture

HANDBOOK = f"{BASE_URL}/books/onboarding-handbook/page"


@pytest.fixture
def runtime(engine: Any, clock: Any) -> Runtime:
    return bookstack_runtime(engine, clock)


@pytest.fixture
def wiki() -> Iterator[BookStackStandIn]:
    with responses.RequestsMock() as mock:
        stand_in = BookStackStandIn(mock, BASE_URL, API_TOKEN)
        stand_in.books[21] = {**stand_in.books[13], "id": 21, "name": "Team Handbook", "slug": "team-handbook"}
        stand_in.chapters[7] = {"id": 7, "book_id": 13, "name": "First week", "slug": "first-week"}
        yield stand_in


def run(runtime: Runtime, event_id: str) -> list[Any]:
    """The fetch jobs queued for this event id (and the jobs they queue in turn), as the worker runs them."""
    results, done = [], set()
    while todo := [m for m in fetch_messages(runtime)
                   if m.payload["event_id"].startswith(event_id) and m.id not in done]:
        for message in todo:
            done.add(message.id)
            results.append(wiki_jobs.fetch(runtime, message.payload))
    return results


def deliver_event(runtime: Runtime, name: str, **related: Any) -> str:
    """The event id of the fetch job one delivery queued."""
    payload = fixture(name)
    payload["related_item"].update(related)
    before = {m.id for m in fetch_messages(runtime)}
    assert deliver(create_app(runtime).test_client(), payload).get_json()["queued"] == 1
    [message] = [m for m in fetch_messages(runtime) if m.id not in before]
    return str(message.payload["event_id"])


def follow(runtime: Runtime, page: dict[str, Any]) -> None:
    """learnloop follows the page from its next edit on."""
    event_id = deliver_event(runtime, "page_update", id=page["id"], book_id=page["book_id"])
    assert run(runtime, event_id) == [{"events": 1, "recorded": 1}]


def items(runtime: Runtime) -> dict[str, tuple[str, bool]]:
    """Page id to (URL, retired)."""
    with runtime.uow() as uow:
        return {i.page_ref: (i.url, i.retired_at is not None) for i in uow.session.scalars(select(ContentItem))}


def event_count(runtime: Runtime) -> int:
    with runtime.uow() as uow:
        return uow.session.scalar(select(func.count()).select_from(Event)) or 0


def test_a_renamed_book_moves_the_pages_learnloop_follows_and_no_other(runtime: Runtime,
                                                                        wiki: BookStackStandIn) -> None:
    first, second = wiki.add_page(name="First day"), wiki.add_page(name="Tools", chapter_id=7)
    wiki.add_page(name="Nobody rated this")
    wiki.add_page(name="A draft")["draft"] = True
    follow(runtime, first)
    follow(runtime, second)
    before = event_count(runtime)
    wiki.books[13].update(name="Onboarding Guide", slug="onboarding-guide")
    [result] = run(runtime, deliver_event(runtime, "book_update"))
    assert result == {"events": 3, "recorded": 3}, "three pages listed (not the draft), two of them followed"
    assert items(runtime) == {
        str(first["id"]): (f"{BASE_URL}/books/onboarding-guide/page/first-day", False),
        str(second["id"]): (f"{BASE_URL}/books/onboarding-guide/page/tools", False),
    }, "the page nobody followed is still unknown to learnloop"
    assert event_count(runtime) == before, "a book's rename is no event of its pages"


def test_a_chapter_moved_to_another_book_takes_its_pages_there(runtime: Runtime, wiki: BookStackStandIn) -> None:
    in_chapter, outside = wiki.add_page(name="Tools", chapter_id=7), wiki.add_page(name="First day")
    follow(runtime, in_chapter)
    follow(runtime, outside)
    wiki.chapters[7]["book_id"] = in_chapter["book_id"] = 21
    run(runtime, deliver_event(runtime, "chapter_move"))
    assert items(runtime) == {str(in_chapter["id"]): (f"{BASE_URL}/books/team-handbook/page/tools", False),
                              str(outside["id"]): (f"{HANDBOOK}/first-day", False)}


def test_pages_sorted_into_another_book_follow(runtime: Runtime, wiki: BookStackStandIn) -> None:
    page = wiki.add_page(name="Tools")
    follow(runtime, page)
    page["book_id"] = 21
    run(runtime, deliver_event(runtime, "book_sort", id=21, slug="team-handbook"))
    assert items(runtime) == {str(page["id"]): (f"{BASE_URL}/books/team-handbook/page/tools", False)}


def test_a_deleted_chapter_retires_its_pages_and_a_restore_brings_them_back(runtime: Runtime,
                                                                            wiki: BookStackStandIn) -> None:
    in_chapter, outside = wiki.add_page(name="Tools", chapter_id=7), wiki.add_page(name="First day")
    elsewhere = wiki.add_page(name="Rota", book_id=21)
    for page in (in_chapter, outside, elsewhere):
        follow(runtime, page)
    trashed = {in_chapter["id"]: wiki.pages.pop(in_chapter["id"])}
    chapter = wiki.chapters.pop(7)
    results = run(runtime, deliver_event(runtime, "chapter_delete"))
    assert results[0] == {"events": 1, "recorded": 0, "pages_to_check": 3}, "every page followed on the wiki"
    assert items(runtime) == {str(in_chapter["id"]): (f"{HANDBOOK}/tools", True),
                              str(outside["id"]): (f"{HANDBOOK}/first-day", False),
                              str(elsewhere["id"]): (f"{BASE_URL}/books/team-handbook/page/rota", False)}

    restore = fixture("recycle_bin_restore")["triggered_at"]
    event_id = deliver_event(runtime, "recycle_bin_restore", deletable_type="chapter", deletable_id=7)
    assert event_id == f"recycle_bin_restore:chapter7:{restore}"
    with pytest.raises(WikiError) as early:  # BookStack tells of the restore before it makes it
        run(runtime, event_id)
    assert early.value.retryable and items(runtime)[str(in_chapter["id"])][1] is True
    wiki.chapters[7] = chapter
    wiki.pages.update(trashed)
    assert [m.payload["event_id"] for m in fetch_messages(runtime)].count(event_id) == 1
    [message] = [m for m in fetch_messages(runtime) if m.payload["event_id"] == event_id]
    wiki_jobs.fetch(runtime, message.payload, 2)
    assert items(runtime)[str(in_chapter["id"])] == (f"{HANDBOOK}/tools", False)


def test_a_deleted_book_retires_every_page_learnloop_follows_in_it(runtime: Runtime,
                                                                   wiki: BookStackStandIn) -> None:
    pages = [wiki.add_page(name=f"Page {n}") for n in range(3)]
    elsewhere = wiki.add_page(name="Rota", book_id=21)
    for page in (*pages, elsewhere):
        follow(runtime, page)
    for page in pages:
        del wiki.pages[page["id"]]
    del wiki.books[13]
    event_id = deliver_event(runtime, "book_delete")
    results = run(runtime, event_id)
    assert results[0]["pages_to_check"] == 4 and len(results) == 5
    assert {ref: retired for ref, (_, retired) in items(runtime).items()} == {
        **{str(page["id"]): True for page in pages}, str(elsewhere["id"]): False}
    queued = len(fetch_messages(runtime))
    assert deliver(create_app(runtime).test_client(), fixture("book_delete")).get_json()["queued"] == 0
    [job] = [m for m in fetch_messages(runtime) if m.payload["event_id"] == event_id]
    assert wiki_jobs.fetch(runtime, job.payload, 2) == {"events": 1, "recorded": 0}, "a retried job queues none"
    assert len(fetch_messages(runtime)) == queued


def test_a_book_with_more_pages_than_a_listing_holds_is_read_whole(runtime: Runtime, wiki: BookStackStandIn,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bookstack_client, "LIST_PAGE", 2)
    pages = [wiki.add_page(name=f"Page {n}") for n in range(5)]
    for page in pages:
        follow(runtime, page)
    wiki.books[13]["slug"] = "onboarding-guide"
    [result] = run(runtime, deliver_event(runtime, "book_update"))
    assert result == {"events": 5, "recorded": 5}
    assert all(url.startswith(f"{BASE_URL}/books/onboarding-guide/") for url, _ in items(runtime).values())


def test_a_deleted_book_retires_pages_stored_under_its_old_slug(runtime: Runtime, wiki: BookStackStandIn) -> None:
    """The book was renamed before learnloop read book events (or the rename's refresh came after the delete):
    its pages' stored URLs still carry the old slug, and they are retired all the same."""
    page = wiki.add_page(name="Tools")
    follow(runtime, page)
    wiki.books[13]["slug"] = "onboarding-guide"
    del wiki.pages[page["id"]]
    run(runtime, deliver_event(runtime, "book_delete"))
    assert items(runtime) == {str(page["id"]): (f"{HANDBOOK}/tools", True)}


def test_a_chapter_made_a_book_of_its_own_takes_its_pages_there(runtime: Runtime, wiki: BookStackStandIn) -> None:
    page = wiki.add_page(name="Tools", chapter_id=7)
    follow(runtime, page)
    wiki.books[22] = {**wiki.books[13], "id": 22, "name": "First week", "slug": "first-week"}
    page.update(book_id=22, chapter_id=0)
    run(runtime, deliver_event(runtime, "book_create_from_chapter"))
    assert items(runtime) == {str(page["id"]): (f"{BASE_URL}/books/first-week/page/tools", False)}


def rated_by_url(runtime: Runtime, url: str) -> None:
    with runtime.uow() as uow:
        rate_url(uow, runtime.settings, Rater("rater".ljust(26, "0")), url, 4, None, runtime.clock())


def test_a_page_first_rated_by_its_url_learns_its_id_so_its_deletion_retires_it(
        runtime: Runtime, wiki: BookStackStandIn, clock: FakeClock) -> None:
    """BookStack names a deleted page by its id alone: the worker asks which page the URL is, beforehand."""
    page = wiki.add_page(name="Tools")
    rated_by_url(runtime, f"{HANDBOOK}/tools?utm_source=chat")
    rated_by_url(runtime, f"{HANDBOOK}/no-such-page")
    rated_by_url(runtime, "https://elsewhere.example.com/books/onboarding-handbook/page/tools")
    Worker(runtime).run_wikis()
    assert not run(runtime, "identify:"), "an item waits until its rating's transaction has surely committed"
    clock.advance(minutes=1)
    Worker(runtime).run_wikis()
    assert run(runtime, "identify:") == [{"events": 1, "recorded": 1}, {"events": 0, "recorded": 0}], \
        "the two on the wiki are asked about"
    with runtime.reader() as uow:
        pages = {i.url: (i.page_ref, i.kind) for i in uow.session.scalars(select(ContentItem))}
    assert pages == {f"{HANDBOOK}/tools": (str(page["id"]), "wiki_page"), f"{HANDBOOK}/no-such-page": (None, "link"),
                     "https://elsewhere.example.com/books/onboarding-handbook/page/tools": (None, "link")}
    Worker(runtime).run_wikis()
    assert len([m for m in fetch_messages(runtime) if m.payload["event_id"].startswith("identify:")]) == 2, \
        "each is asked about once"

    del wiki.pages[page["id"]]  # in the recycle bin: the API no longer shows it
    assert run(runtime, deliver_event(runtime, "page_delete", id=page["id"], book_id=13)) == [
        {"events": 1, "recorded": 1}]
    assert items(runtime)[str(page["id"])] == (f"{HANDBOOK}/tools", True)
    rated_by_url(runtime, f"{HANDBOOK}/tools")  # known only from a rating: refusing would tell someone rated it
    assert items(runtime)[str(page["id"])] == (f"{HANDBOOK}/tools", True), "rated, it stays retired"

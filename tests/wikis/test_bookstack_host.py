"""BookStackHost against a stubbed BookStack API (`responses`): re-reading pages, publishing,
errors, and a delivery all the way to a content item and a announcement posted at once."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
import responses
from responses import matchers
from sqlalchemy import select

from learnloop.bookstack.client import DEFAULT_TIMEOUT, BookStackClient
from learnloop.bookstack.host import (
    CUSTOM_HEAD_SNIPPET,
    WEBHOOK_EVENTS,
    BookStackHost,
    custom_head_snippet,
    webhook_url,
)
from learnloop.config import WikiConfig
from learnloop.domain.wiki_events import WikiEvent
from learnloop.errors import HostError
from learnloop.storage.tables import Announcement, ContentItem, Event
from learnloop.wikis import WIKI_RETRY_AFTER, Published, Removed, WikiError
from learnloop.wiring import create_app, wiki_hosts
from tests.wikis import jobs as wiki_jobs_support
from tests.wikis.standins import BookStackStandIn

from .test_bookstack_webhooks import (
    API_TOKEN,
    BASE_URL,
    SECRET,
    WIKI,
    api_fixture,
    bookstack_runtime,
    deliver,
    fetch_messages,
    fixture,
)

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
PAGE_API = f"{BASE_URL}/api/pages/2432"
BOOK_API = f"{BASE_URL}/api/books/13"
PAGE_URL = f"{BASE_URL}/books/onboarding-handbook/page/first-week-checklist"
AUTH = matchers.header_matcher({"Authorization": f"Token {API_TOKEN}"})


def wiki_config(**overrides: Any) -> WikiConfig:
    return WikiConfig(**{"name": WIKI, "kind": "bookstack", "url": BASE_URL + "/", "secret": SECRET,
                         "api_token": API_TOKEN, **overrides})


def job(action: str = "updated", **overrides: Any) -> dict[str, Any]:
    return {"wiki": WIKI, "event_id": f"page_x:2432:{action}", "page_id": 2432, "action": action,
            "actor": "Benny Lee", **overrides}


@pytest.fixture
def api():
    """A stub BookStack: a request nobody registered fails with ConnectionError."""
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


def stub_page_and_book(api: responses.RequestsMock, page: dict[str, Any] | None = None) -> None:
    api.get(PAGE_API, json=page or api_fixture("pages-read-2432"), match=[AUTH])
    api.get(BOOK_API, json=api_fixture("books-read-13"), match=[AUTH])


def assert_calls(api: responses.RequestsMock, expected: list[str]) -> None:
    assert [f"{call.request.method} {call.request.url}" for call in api.calls] == expected
    for call in api.calls:
        assert call.request.headers["Authorization"] == f"Token {API_TOKEN}"
        assert call.request.req_kwargs["timeout"] == DEFAULT_TIMEOUT


def test_the_host_is_registered() -> None:
    assert isinstance(wiki_hosts()[wiki_config().kind], BookStackHost)


# --- fetch ---------------------------------------------------------------------------------------


def test_fetch_rereads_the_page_and_its_book(api: responses.RequestsMock) -> None:
    stub_page_and_book(api)
    events = BookStackHost().fetch(wiki_config(), job(), NOW)
    assert_calls(api, [f"GET {PAGE_API}", f"GET {BOOK_API}"])
    assert events == [WikiEvent(
        wiki=WIKI, event_id="page_x:2432:updated", action="updated", page_id="2432", title="First week checklist",
        url=PAGE_URL, spaces=("book:13", "book:onboarding-handbook", "Onboarding Handbook"), author="Benny Lee",
        summary=None, occurred_at=datetime(2026, 11, 2, 8, 55, 10, tzinfo=UTC),
        minor=False, old_size=None, new_size=None,
    )]


def test_fetch_trusts_the_api_not_the_delivery(api: responses.RequestsMock) -> None:
    """Whatever the delivery says (url, names, book), only the configured host is asked, and its answer wins."""
    payload = fixture("page_update")
    payload["url"] = "http://169.254.169.254/latest/meta-data/iam"
    payload["triggered_by_profile_url"] = "http://internal.example/user"
    payload["related_item"].update(name="Spoofed title", book_id=999, slug="spoofed",
                                   url="http://attacker.example/", book_slug="attacker")
    [queued] = BookStackHost().receive(wiki_config(), json.dumps(payload).encode(), {},
                                       {"secret": SECRET}, NOW)
    stub_page_and_book(api)
    [event] = BookStackHost().fetch(wiki_config(), queued, NOW)
    assert all(call.request.url.startswith(f"{BASE_URL}/api/") for call in api.calls)
    assert (event.title, event.url) == ("First week checklist", PAGE_URL)


def test_fetch_does_not_follow_redirects(api: responses.RequestsMock) -> None:
    api.get(PAGE_API, status=302, headers={"Location": "http://169.254.169.254/latest/meta-data"})
    with pytest.raises(WikiError) as error:
        BookStackHost().fetch(wiki_config(), job(), NOW)
    assert error.value.retryable is False
    assert len(api.calls) == 1


@pytest.mark.parametrize("action", ["created", "updated", "moved"])
def test_a_page_the_api_does_not_show_is_no_event(action: str, api: responses.RequestsMock) -> None:
    api.get(PAGE_API, status=404, json={"error": {"code": 404, "message": "Page not found"}})
    assert BookStackHost().fetch(wiki_config(), job(action), NOW) == []
    assert_calls(api, [f"GET {PAGE_API}"])


def test_a_restore_the_api_does_not_show_yet_is_tried_again(api: responses.RequestsMock) -> None:
    """BookStack logs recycle_bin_restore, and sends its webhook, before it restores the page."""
    api.get(PAGE_API, status=404, json={"error": {"code": 404, "message": "Page not found"}})
    with pytest.raises(WikiError) as error:
        BookStackHost().fetch(wiki_config(), job("restored"), NOW)
    assert error.value.retryable and "not back from the recycle bin yet" in str(error.value)


def test_a_deleted_page_in_the_recycle_bin_is_a_deletion_by_its_id(api: responses.RequestsMock) -> None:
    api.get(PAGE_API, status=404, json={"error": {"code": 404, "message": "Page not found"}})
    assert BookStackHost().fetch(wiki_config(), job("deleted"), NOW) == [WikiEvent(
        wiki=WIKI, event_id="page_x:2432:deleted", action="deleted", page_id="2432", title="", url="", spaces=(),
        author="Benny Lee", summary=None, occurred_at=NOW)]
    assert_calls(api, [f"GET {PAGE_API}"])


def test_a_deletion_of_a_page_the_api_shows_again_is_no_event(api: responses.RequestsMock) -> None:
    """Restored from the recycle bin before the worker read it."""
    api.get(PAGE_API, json=api_fixture("pages-read-2432"), match=[AUTH])
    assert BookStackHost().fetch(wiki_config(), job("deleted"), NOW) == []


def test_a_moved_page_is_read_in_its_new_book(api: responses.RequestsMock) -> None:
    api.get(PAGE_API, json={**api_fixture("pages-read-2432"), "book_id": 21, "chapter_id": None}, match=[AUTH])
    api.get(f"{BASE_URL}/api/books/21", json={**api_fixture("books-read-13"), "id": 21, "name": "Team Handbook",
                                               "slug": "team-handbook"}, match=[AUTH])
    [event] = BookStackHost().fetch(wiki_config(), job("moved"), NOW)
    assert (event.action, event.page_id, event.url, event.spaces) == (
        "moved", "2432", f"{BASE_URL}/books/team-handbook/page/first-week-checklist",
        ("book:21", "book:team-handbook", "Team Handbook"))


def test_a_draft_is_not_an_event(api: responses.RequestsMock) -> None:
    api.get(PAGE_API, json={**api_fixture("pages-read-2432"), "draft": True})
    assert BookStackHost().fetch(wiki_config(), job("created"), NOW) == []


def test_the_delivery_actor_is_the_author_and_else_the_last_editor(api: responses.RequestsMock) -> None:
    """triggered_by made this change; the page's updated_by may be someone who edited it since."""
    stub_page_and_book(api, api_fixture("pages-read-2432"))
    [event] = BookStackHost().fetch(wiki_config(), job(actor="Someone Else"), NOW)
    assert event.author == "Someone Else"
    [event] = BookStackHost().fetch(wiki_config(), job(actor=None), NOW)
    assert event.author == "Benny Lee", "the page's last editor when the delivery names nobody"


def test_old_bookstack_timestamps_are_utc(api: responses.RequestsMock) -> None:
    stub_page_and_book(api, {**api_fixture("pages-read-2432"), "updated_at": "2020-11-28 14:43:20"})
    [event] = BookStackHost().fetch(wiki_config(), job(), NOW)
    assert event.occurred_at == datetime(2020, 11, 28, 14, 43, 20, tzinfo=UTC)


@pytest.mark.parametrize("saved", ["9999-12-31T23:59:59.000000+14:00", "0001-01-01T00:00:00.000000+14:00",
                                   "2999-01-01T00:00:00.000000Z"])
def test_a_save_time_outside_1970_to_now_is_taken_as_now(saved: str, api: responses.RequestsMock) -> None:
    stub_page_and_book(api, {**api_fixture("pages-read-2432"), "updated_at": saved})
    [event] = BookStackHost().fetch(wiki_config(), job(), NOW)
    assert event.occurred_at == NOW


@pytest.mark.parametrize(("status", "retryable"), [
    (500, True), (502, True), (503, True), (429, True), (408, True),
    (400, False), (401, False), (403, False), (422, False),
])
def test_api_errors_say_whether_to_retry(status: int, retryable: bool, api: responses.RequestsMock) -> None:
    api.get(PAGE_API, status=status, json={"error": {"code": status, "message": f"failed with token {API_TOKEN}"}})
    with pytest.raises(WikiError) as error:
        BookStackHost().fetch(wiki_config(), job(), NOW)
    assert error.value.retryable is retryable
    assert str(status) in str(error.value)
    assert API_TOKEN not in str(error.value) and "def" not in str(error.value).split("HTTP")[1]


@pytest.mark.parametrize(("headers", "wait"), [({"Retry-After": "120"}, 120.0), ({}, WIKI_RETRY_AFTER)])
def test_a_rate_limit_says_when_to_come_back(headers: dict[str, str], wait: float,
                                             api: responses.RequestsMock) -> None:
    """The outbox waits a 429 out without counting an attempt (a bulk import must not use them all up)."""
    api.get(PAGE_API, status=429, headers=headers, json={"error": {"code": 429, "message": "Too many requests"}})
    with pytest.raises(WikiError) as error:
        BookStackHost().fetch(wiki_config(), job(), NOW)
    assert error.value.retry_after == wait


@pytest.mark.parametrize("failure", [requests.ConnectionError("refused"), requests.ReadTimeout("slow"),
                                     requests.ConnectTimeout("slow")])
def test_network_failures_are_retryable(failure: Exception, api: responses.RequestsMock) -> None:
    api.get(PAGE_API, body=failure)
    with pytest.raises(WikiError) as error:
        BookStackHost().fetch(wiki_config(), job(), NOW)
    assert error.value.retryable is True


def test_a_non_json_answer_is_not_retried(api: responses.RequestsMock) -> None:
    api.get(PAGE_API, body="<html>Login</html>", content_type="text/html")
    with pytest.raises(WikiError) as error:
        BookStackHost().fetch(wiki_config(), job(), NOW)
    assert error.value.retryable is False


def test_a_token_without_its_secret_half_is_a_configuration_error() -> None:
    with pytest.raises(WikiError) as error:
        BookStackHost().fetch(wiki_config(api_token="only-an-id"), job(), NOW)
    assert error.value.retryable is False


def test_the_client_never_builds_a_path_from_text() -> None:
    client = BookStackClient(BASE_URL, API_TOKEN)
    for bad in ("../../admin", "1/../../x", -3, 0, True):
        with pytest.raises(WikiError):
            client.page(bad)  # type: ignore[arg-type]


def test_poll_changes_nothing() -> None:
    assert BookStackHost().poll(wiki_config(), "42", NOW) == ([], "42")
    assert BookStackHost().poll(wiki_config(), None, NOW) == ([], None)


# --- publish -------------------------------------------------------------------------------------

BOOKS_BY_SLUG = f"{BASE_URL}/api/books"
PAGES = f"{BASE_URL}/api/pages"
BOOK_ROW = {"id": 13, "name": "Onboarding Handbook", "slug": "onboarding-handbook",
            "created_at": "2026-01-12T14:09:59.000000Z", "updated_at": "2026-10-12T14:11:51.000000Z"}
LOG_ROW = {"id": 77, "book_id": 13, "chapter_id": 0, "name": "Learning log", "slug": "learning-log", "draft": False,
           "template": False, "priority": 9, "created_at": "2026-10-01T10:00:00.000000Z",
           "updated_at": "2026-10-30T10:00:00.000000Z", "created_by": 1, "updated_by": 1, "owned_by": 1}
HEADING = "2026-11-02 · Ann Example"
TEXT = "Pairing on the deploy taught me to read the runbook <first>.\n\nNext time: ask earlier."
MARKER = "learnloop-reflection-42-k3q9x7m2ab"
SECTION = ('<h2 id="bkmrk-learnloop-reflection-42-k3q9x7m2ab">2026-11-02 · Ann Example</h2>\n'
           "<p>Pairing on the deploy taught me to read the runbook &lt;first&gt;.</p>\n"
           "<p>Next time: ask earlier.</p>\n")


def page_row(**fields: Any) -> dict[str, Any]:
    return {**LOG_ROW, "html": "", "markdown": "", "created_by": {"id": 1, "name": "Admin"},
            "updated_by": {"id": 1, "name": "Admin"}, "owned_by": {"id": 1, "name": "Admin"}, "tags": [], **fields}


def stub_book_by_slug(api: responses.RequestsMock) -> None:
    api.get(BOOKS_BY_SLUG, json={"data": [BOOK_ROW], "total": 1}, match=[
        AUTH, matchers.query_param_matcher({"filter[slug]": "onboarding-handbook", "count": "500", "offset": "0"})])


def stub_log_lookup(api: responses.RequestsMock, rows: list[dict[str, Any]]) -> None:
    api.get(PAGES, json={"data": rows, "total": len(rows)}, match=[
        AUTH, matchers.query_param_matcher({"filter[book_id]": "13", "filter[name]": "Learning log", "count": "500", "offset": "0"})])


def publish(space: str = "book:onboarding-handbook", text: str = TEXT, last_page: str | None = None) -> Published:
    return BookStackHost().publish(wiki_config(), space=space, page_title="Learning log", heading=HEADING, text=text,
                                   marker=MARKER, last_page=last_page)


def test_publish_creates_the_page(api: responses.RequestsMock) -> None:
    stub_book_by_slug(api)
    stub_log_lookup(api, [])
    api.post(PAGES, json=page_row(markdown=SECTION), match=[
        AUTH, matchers.json_params_matcher({"book_id": 13, "name": "Learning log", "markdown": SECTION},
                                           strict_match=True)])
    assert publish() == Published(f"{BASE_URL}/books/onboarding-handbook/page/learning-log", "Learning log", "77")
    assert_calls(api, [
        f"GET {BOOKS_BY_SLUG}?filter%5Bslug%5D=onboarding-handbook&count=500&offset=0",
        f"GET {PAGES}?filter%5Bbook_id%5D=13&filter%5Bname%5D=Learning+log&count=500&offset=0",
        f"POST {PAGES}",
    ])


def test_publish_appends_to_a_markdown_page(api: responses.RequestsMock) -> None:
    existing = "# Learning log\r\n\r\n## 2026-10-30 · Bo\r\n\r\nEarlier entry."
    stub_book_by_slug(api)
    stub_log_lookup(api, [LOG_ROW])
    api.get(f"{PAGES}/77", json=page_row(markdown=existing, html="<h1>Learning log</h1>"), match=[AUTH])
    api.put(f"{PAGES}/77", json=page_row(), match=[
        AUTH, matchers.json_params_matcher({"markdown": f"{existing}\n\n{SECTION}"}, strict_match=True)])
    assert publish().url == f"{BASE_URL}/books/onboarding-handbook/page/learning-log"
    assert [call.request.method for call in api.calls] == ["GET", "GET", "GET", "PUT"]


def test_publish_appends_html_to_a_wysiwyg_page(api: responses.RequestsMock) -> None:
    existing = '<p id="bkmrk-intro">What we learned.</p>'
    stub_book_by_slug(api)
    stub_log_lookup(api, [LOG_ROW])
    api.get(f"{PAGES}/77", json=page_row(markdown="", html=existing))
    api.put(f"{PAGES}/77", json=page_row(), match=[
        AUTH, matchers.json_params_matcher({"html": f"{existing}\n{SECTION}"}, strict_match=True)])
    assert publish().url.endswith("/books/onboarding-handbook/page/learning-log")


@pytest.mark.parametrize("field", ["markdown", "html"])
def test_a_page_that_carries_the_marker_is_not_written_again(field: str, api: responses.RequestsMock) -> None:
    """BookStack may have rewritten the section (the WYSIWYG editor, a switch of editors): the heading's
    bkmrk- id is what stays."""
    saved = '<h2 id="bkmrk-learnloop-reflection-42-k3q9x7m2ab" class="x">2026-11-02 · Ann</h2><p>Edited.</p>'
    stub_book_by_slug(api)
    stub_log_lookup(api, [LOG_ROW])
    api.get(f"{PAGES}/77", json=page_row(**{field: f"# Learning log\r\n\r\n{saved}"}))
    assert publish().page_ref == "77"
    assert [call.request.method for call in api.calls] == ["GET", "GET", "GET"]


def test_publish_skips_drafts_and_other_books(api: responses.RequestsMock) -> None:
    stub_book_by_slug(api)
    stub_log_lookup(api, [{**LOG_ROW, "id": 5, "draft": True}, {**LOG_ROW, "id": 6, "book_id": 14}])
    api.post(PAGES, json=page_row(id=90))
    assert publish() == Published(f"{BASE_URL}/books/onboarding-handbook/page/learning-log", "Learning log", "90")


def test_publish_to_a_book_by_id(api: responses.RequestsMock) -> None:
    api.get(BOOK_API, json=api_fixture("books-read-13"), match=[AUTH])
    stub_log_lookup(api, [])
    api.post(PAGES, json=page_row())
    publish("book:13")
    assert api.calls[0].request.url == BOOK_API


def test_publish_to_a_book_by_name(api: responses.RequestsMock) -> None:
    api.get(BOOKS_BY_SLUG, json={"data": [BOOK_ROW], "total": 1},
            match=[matchers.query_param_matcher({"filter[name]": "Onboarding Handbook", "count": "500", "offset": "0"})])
    stub_log_lookup(api, [])
    api.post(PAGES, json=page_row())
    publish("Onboarding Handbook")


@pytest.mark.parametrize("space", ["book:no-such-book", "shelf:engineering"])
def test_publish_to_an_unknown_book_or_a_shelf_is_not_retried(space: str, api: responses.RequestsMock) -> None:
    api.get(BOOKS_BY_SLUG, json={"data": [], "total": 0})
    with pytest.raises(WikiError) as error:
        publish(space)
    assert error.value.retryable is False
    api.assert_all_requests_are_fired = False


def test_a_failing_publish_is_retryable(api: responses.RequestsMock) -> None:
    stub_book_by_slug(api)
    api.get(PAGES, status=503)
    with pytest.raises(WikiError) as error:
        publish()
    assert error.value.retryable is True


MARKUP = ("# heading\n[link](javascript:alert(1)) <script>alert(2)</script> **bold** `code`\n"
          "| a | b |\n|---|---|\n\n    indented\n<img src=x onerror=alert(3)> &amp; ~~strike~~ {{@2432}}")


@pytest.mark.parametrize("editor", ["markdown", "html"])
def test_the_authors_markdown_and_html_reach_bookstack_escaped(editor: str, api: responses.RequestsMock) -> None:
    bookstack = BookStackStandIn(api, BASE_URL, API_TOKEN)
    bookstack.add_page(name="Learning log", **{editor: "<p>Intro.</p>" if editor == "html" else "Intro."})
    publish(text=MARKUP)
    [log] = bookstack.pages.values()
    html = log["html"]
    assert re.findall(r"<(/?[a-z0-9]+)", html.split("Intro.", 1)[1]) == ["/p", "h2", "/h2", "p", "br", "br", "br",
                                                                        "/p", "p", "br", "/p"]
    assert '<h2 id="bkmrk-learnloop-reflection-42-k3q9x7m2ab">' in html
    for shown in ("# heading", "[link](javascript:alert(1))", "&lt;script&gt;alert(2)&lt;/script&gt;", "**bold**",
                  "`code`", "| a | b |", "|---|---|", "indented", "&lt;img src=x onerror=alert(3)&gt;", "&amp;amp;",
                  "~~strike~~", "&#123;&#123;@2432&#125;&#125;"):
        assert shown in html, shown
    assert "{{@" not in html, "BookStack would include page 2432 here"


def test_publishing_writes_back_the_stored_content_not_the_page_as_rendered(api: responses.RequestsMock) -> None:
    """BookStack answers a page read with its includes expanded (as the API token's user sees them) in `html`
    and the content as stored in `raw_html`: writing `html` back would copy an included page's text, say one
    only HR can read, onto the learning log for good."""
    bookstack = BookStackStandIn(api, BASE_URL, API_TOKEN)
    restricted = bookstack.add_page(name="HR salary bands", html="<p>Salary bands 2027</p>")
    log = bookstack.add_page(name="Learning log", html=f"<p>Intro.</p>\n<p>{{{{@{restricted['id']}}}}}</p>")
    publish(text="Second.")
    assert f"{{{{@{restricted['id']}}}}}" in log["raw_html"] and "Salary bands" not in log["raw_html"]


def test_a_reflection_goes_to_the_log_learnloop_last_published_to_wherever_an_admin_moved_it(
        api: responses.RequestsMock) -> None:
    bookstack = BookStackStandIn(api, BASE_URL, API_TOKEN)
    bookstack.books[14] = {**bookstack.books[13], "id": 14, "name": "Team notes", "slug": "team-notes"}
    log = bookstack.add_page(name="Our learning log", markdown="## 2026-11-01 · Bo\n\nEarlier.", book_id=14)
    assert publish(last_page=str(log["id"])) == Published(f"{BASE_URL}/books/team-notes/page/our-learning-log",
                                                          "Our learning log", str(log["id"]))
    assert len(bookstack.pages) == 1 and MARKER in log["markdown"] and "Earlier." in log["markdown"]


@pytest.mark.parametrize("gone", ["recycle bin", "draft"])
def test_a_log_learnloop_last_published_to_that_is_gone_is_looked_for_by_its_title(
        gone: str, api: responses.RequestsMock) -> None:
    bookstack = BookStackStandIn(api, BASE_URL, API_TOKEN)
    old = bookstack.add_page(name="Our learning log", markdown="Old.", book_id=13)
    if gone == "recycle bin":
        del bookstack.pages[old["id"]]
    else:
        old["draft"] = True
    log = bookstack.add_page(name="Learning log", markdown="Current.")
    assert publish(last_page=str(old["id"])).page_ref == str(log["id"])
    assert MARKER in log["markdown"] and old["markdown"] == "Old."


@pytest.mark.parametrize("access", [None, "view"])
def test_a_log_moved_out_of_the_api_tokens_reach_is_left_for_one_in_the_configured_book(
        access: str | None, api: responses.RequestsMock) -> None:
    """BookStack answers 404 for a page its API token's user may not view, and 403 to updating one it may only
    view: either way the log is left as a deleted one is."""
    bookstack = BookStackStandIn(api, BASE_URL, API_TOKEN)
    bookstack.books[14] = {**bookstack.books[13], "id": 14, "name": "Team notes", "slug": "team-notes"}
    bookstack.access[14] = access
    old = bookstack.add_page(name="Learning log", markdown="Old.", book_id=14)
    published = publish(last_page=str(old["id"]))
    [log] = [page for page in bookstack.pages.values() if page is not old]
    assert published == Published(f"{BASE_URL}/books/onboarding-handbook/page/learning-log", "Learning log",
                                  str(log["id"]))
    assert log["book_id"] == 13 and MARKER in log["markdown"] and old["markdown"] == "Old."


@pytest.mark.parametrize("existing", [False, True])
def test_a_configured_book_the_api_token_may_not_write_to_fails_saying_so(
        existing: bool, api: responses.RequestsMock) -> None:
    bookstack = BookStackStandIn(api, BASE_URL, API_TOKEN)
    if existing:
        bookstack.add_page(name="Learning log", markdown="Earlier.")
    bookstack.access[13] = "view"
    with pytest.raises(WikiError) as error:
        publish()
    assert error.value.retryable is False and bookstack.writes == []
    assert str(error.value).startswith("learnloop's API token may not write to the BookStack book "
                                       "'book:onboarding-handbook' (BookStack ")
    assert "HTTP 403" in str(error.value)


@pytest.mark.parametrize("lost", ["POST pages", "PUT page"])
def test_a_retry_after_a_lost_answer_appends_once(lost: str, api: responses.RequestsMock) -> None:
    bookstack = BookStackStandIn(api, BASE_URL, API_TOKEN)
    if lost == "PUT page":
        bookstack.add_page(name="Learning log", markdown="## 2026-11-01 · Bo\n\nEarlier.")
    bookstack.lose_answer_to(lost)
    with pytest.raises(WikiError) as failed:
        publish()
    assert failed.value.retryable is True and bookstack.lost == [lost]

    published = publish()

    [log] = bookstack.pages.values()
    assert published == Published(f"{BASE_URL}/books/onboarding-handbook/page/learning-log", "Learning log",
                                  str(log["id"]))
    assert [write for write, _ in bookstack.writes] == [lost], "the retry found the marker and wrote nothing"
    assert log["markdown"].count(MARKER) == 1 and log["html"].count("Next time: ask earlier.") == 1


# --- remove --------------------------------------------------------------------------------------


def remove(page_ref: str, marker: str = MARKER) -> Removed:
    return BookStackHost().remove(wiki_config(), page_ref=page_ref, marker=marker)


@pytest.mark.parametrize("editor", ["markdown", "html"])
def test_remove_takes_the_section_off_a_page_and_keeps_the_rest(editor: str, api: responses.RequestsMock) -> None:
    bookstack = BookStackStandIn(api, BASE_URL, API_TOKEN)
    intro = {"markdown": "# Our log\n\nWritten by people."} if editor == "markdown" else {
        "html": '<h1 id="bkmrk-our-log">Our log</h1><p id="bkmrk-written">Written by people.</p>'}
    log = bookstack.add_page(name="Learning log", **intro)
    publish()
    BookStackHost().publish(wiki_config(), space="book:onboarding-handbook", page_title="Learning log",
                            heading="2026-11-03 · Bob", text="Bob stays.", marker="learnloop-reflection-43-z9y8x7w6vu")

    assert remove(str(log["id"])) == Removed(True)

    assert ("markdown" if editor == "markdown" else "html") in bookstack.writes[-1][1]
    assert "Ann Example" not in log["html"] and "runbook" not in log["html"] and MARKER not in log["html"]
    assert "Our log" in log["html"] and "Written by people." in log["html"]
    assert '<h2 id="bkmrk-learnloop-reflection-43-z9y8x7w6vu">2026-11-03 · Bob</h2>' in log["html"]
    assert "Bob stays." in log["html"]
    assert remove(str(log["id"])) == Removed(False)
    assert len(bookstack.writes) == 3, "removing twice writes nothing the second time"


def test_a_section_the_wysiwyg_editor_rewrote_is_found_by_its_heading_id(api: responses.RequestsMock) -> None:
    bookstack = BookStackStandIn(api, BASE_URL, API_TOKEN)
    log = bookstack.add_page(name="Learning log", html=(
        '<p id="bkmrk-a">Before.</p><h2 id="bkmrk-learnloop-reflection-42-k3q9x7m2ab" class="align-left">Ann</h2>'
        '<p id="bkmrk-b">Edited <strong>text</strong>.</p><ul id="bkmrk-c"><li>added</li></ul>'
        '<h2 id="bkmrk-next">Next</h2><p id="bkmrk-d">Kept.</p>'))
    assert remove(str(log["id"])) == Removed(True)
    assert log["html"] == '<p id="bkmrk-a">Before.</p>\n<h2 id="bkmrk-next">Next</h2><p id="bkmrk-d">Kept.</p>'


def test_removing_the_only_section_leaves_an_empty_page(api: responses.RequestsMock) -> None:
    bookstack = BookStackStandIn(api, BASE_URL, API_TOKEN)
    publish()
    [log] = bookstack.pages.values()
    assert remove(str(log["id"])) == Removed(True)
    assert bookstack.writes[-1] == ("PUT page", {"markdown": "<p></p>"})


def test_remove_from_a_page_bookstack_no_longer_shows(api: responses.RequestsMock) -> None:
    BookStackStandIn(api, BASE_URL, API_TOKEN)
    assert remove("999") == Removed(False, gone=True)
    with pytest.raises(WikiError) as refused:
        remove("../books/13")
    assert refused.value.retryable is False


def test_a_refused_removal_says_whether_to_try_again(api: responses.RequestsMock) -> None:
    api.get(f"{PAGES}/77", json=page_row(markdown=SECTION))
    api.put(f"{PAGES}/77", status=403, json={"error": {"code": 403, "message": "You do not have permission"}})
    with pytest.raises(WikiError) as refused:
        remove("77")
    assert refused.value.retryable is False and "permission" in str(refused.value)


# --- installer helpers ---------------------------------------------------------------------------


def test_webhook_url_carries_the_secret_for_the_admin_to_paste() -> None:
    wiki = wiki_config(secret="s3cret/with+odd=chars&more-0123456789")
    assert webhook_url("https://learnloop.example.com/", wiki) == (
        "https://learnloop.example.com/wiki/kb/events?secret=s3cret%2Fwith%2Bodd%3Dchars%26more-0123456789")
    assert WEBHOOK_EVENTS == ("page_create", "page_update", "page_restore", "page_move", "page_delete",
                              "recycle_bin_restore", "book_update", "book_sort", "chapter_move",
                              "book_create_from_chapter", "book_delete", "chapter_delete")


def test_the_printed_webhook_url_is_accepted_by_the_route(engine: Any, clock: Any) -> None:
    runtime = bookstack_runtime(engine, clock, secret="s3cret/with+odd=chars&more-0123456789")
    url = webhook_url("https://learnloop.example.com", runtime.settings.wiki(WIKI))
    path = url.removeprefix("https://learnloop.example.com")
    with responses.RequestsMock():
        response = create_app(runtime).test_client().post(path, data=json.dumps(fixture("page_update")))
    assert response.status_code == 200 and response.get_json()["queued"] == 1


def test_custom_head_snippet() -> None:
    assert "{widget_url}" in CUSTOM_HEAD_SNIPPET
    snippet = custom_head_snippet('https://learnloop.example.com/widget.js?a=1&b="2"', wiki_config())
    assert '<script src="https://learnloop.example.com/widget.js?a=1&amp;b=&quot;2&quot;"' in snippet
    assert 'data-learnloop-wiki="kb"' in snippet


# --- end to end ----------------------------------------------------------------------------------


def test_a_delivery_becomes_a_content_item_an_event_and_a_pending_announcement(engine: Any, clock: Any) -> None:
    runtime = bookstack_runtime(engine, clock)
    client = create_app(runtime).test_client()
    with responses.RequestsMock():
        assert deliver(client, fixture("page_update")).get_json()["queued"] == 1
    [message] = fetch_messages(runtime)

    with responses.RequestsMock() as api:
        stub_page_and_book(api)
        result = wiki_jobs_support.fetch(runtime, message.payload, 1)
        assert_calls(api, [f"GET {PAGE_API}", f"GET {BOOK_API}"])
    assert result == {"events": 1, "recorded": 1}

    with runtime.uow() as uow:
        item = uow.session.scalars(select(ContentItem)).one()
        events = list(uow.session.scalars(select(Event)))
        announcement = uow.session.scalars(select(Announcement)).one()
        community = uow.communities.by_channel("kbchannel00000000000000001")
        assert (item.url, item.kind, item.title) == (PAGE_URL, "wiki_page", "First week checklist")
        assert item.community_id == community.id
        assert [(e.kind, e.item_id, e.dedupe_key) for e in events] == [
            ("wiki_page_updated", item.id, "wiki:kb:page_update:2432:2026-11-02T08:55:10.000000Z")]
        assert (announcement.status, announcement.item_id, announcement.created_page, announcement.edits,
                announcement.authors) == ("queued", item.id, False, 1, [{"name": "Benny Lee"}])

    with responses.RequestsMock() as api:  # the outbox retries a job whose answer was lost: nothing doubles
        stub_page_and_book(api)
        assert wiki_jobs_support.fetch(runtime, message.payload, 2) == {"events": 1, "recorded": 0}
    with runtime.uow() as uow:
        assert len(list(uow.session.scalars(select(Event)))) == 1
        assert uow.session.scalars(select(Announcement)).one().edits == 1


def _deliver_and_fetch(runtime: Any, name: str, page: dict[str, Any] | None, book: dict[str, Any] | None) -> Any:
    """One delivery through the route, then its fetch job against a stub BookStack that shows `page` (404
    when None) in `book`."""
    with responses.RequestsMock():
        assert deliver(create_app(runtime).test_client(), fixture(name)).get_json()["queued"] == 1
    [message] = [m for m in fetch_messages(runtime) if m.payload["event_id"].startswith(name + ":")]
    with responses.RequestsMock() as api:
        if page is None:
            api.get(PAGE_API, status=404, json={"error": {"code": 404, "message": "Page not found"}})
        else:
            api.get(PAGE_API, json=page)
            api.get(f"{BASE_URL}/api/books/{page['book_id']}", json=book)
        return wiki_jobs_support.fetch(runtime, message.payload, 1)


def test_a_page_is_followed_through_a_move_a_deletion_and_a_restore_end_to_end(engine: Any, clock: Any) -> None:
    runtime = bookstack_runtime(engine, clock)
    page, book = api_fixture("pages-read-2432"), api_fixture("books-read-13")
    moved_page, team_book = {**page, "book_id": 21}, {**book, "id": 21, "name": "Team Handbook",
                                                       "slug": "team-handbook"}
    moved_url = f"{BASE_URL}/books/team-handbook/page/first-week-checklist"

    def item() -> ContentItem:
        with runtime.uow() as uow:
            return uow.session.scalars(select(ContentItem)).one()

    _deliver_and_fetch(runtime, "page_update", page, book)
    first = item()
    assert _deliver_and_fetch(runtime, "page_move", moved_page, team_book) == {"events": 1, "recorded": 1}
    assert (item().id, item().url, item().community_id) == (first.id, moved_url, first.community_id), \
        "moved out of the mapped book: same item, new URL, still in the community it was in"
    assert _deliver_and_fetch(runtime, "page_delete", None, None) == {"events": 1, "recorded": 1}
    assert item().retired_at is not None and item().url == moved_url
    assert _deliver_and_fetch(runtime, "recycle_bin_restore", moved_page, team_book) == {"events": 1, "recorded": 1}
    assert (item().id, item().retired_at) == (first.id, None)
    with runtime.uow() as uow:
        assert [e.kind for e in uow.session.scalars(select(Event).order_by(Event.id))] == [
            "wiki_page_updated", "wiki_page_moved", "wiki_page_deleted", "wiki_page_restored"]


def test_a_bookstack_outage_is_retried_by_the_outbox(engine: Any, clock: Any) -> None:
    runtime = bookstack_runtime(engine, clock)
    with responses.RequestsMock():
        deliver(create_app(runtime).test_client(), fixture("page_create"))
    [message] = fetch_messages(runtime)
    with responses.RequestsMock() as api:
        api.get(PAGE_API, status=500)
        with pytest.raises(HostError) as error:
            wiki_jobs_support.fetch(runtime, message.payload, 1)
    assert error.value.retryable is True

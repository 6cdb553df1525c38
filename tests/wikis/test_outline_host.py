"""OutlineHost against a stubbed Outline API (`responses`): fetch, publish, errors, and one run end to end."""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
import responses
from flask.testing import FlaskClient
from sqlalchemy import Engine, select

from learnloop.config import WikiConfig
from learnloop.domain.wiki_events import WikiEvent, edit_session
from learnloop.errors import HostError
from learnloop.mattermost.wiki_messages import announcer
from learnloop.outline.client import OutlineClient, OutlineError
from learnloop.outline.host import OutlineHost, markdown_section, sign, without_markdown_section
from learnloop.services import personal_data, reflections
from learnloop.services.outbox_kinds import SEND_DM
from learnloop.storage.tables import Announcement, ContentItem, Cursor, OutboxMessage
from learnloop.wikis import Published, Removed, WikiError, learning_log_cursor
from learnloop.wiring import create_app, wiki_hosts
from tests.conftest import START, FakeClock
from tests.privacy.test_personal_data import everything_stored
from tests.prompts.world import uid
from tests.wikis import jobs as wiki_jobs_support
from tests.wikis.standins import OUTLINE_MARKDOWN, OutlineStandIn
from tests.wikis.test_learning_log_writes import published
from tests.wikis.test_outline_webhooks import (
    API_TOKEN,
    CHANNEL,
    COLLECTION_ID,
    DOCUMENT_ID,
    OUTLINE_URL,
    SECRET,
    WIKI,
    deliver,
    fetch_jobs,
    fixture_body,
    outline_runtime,
    signature,
)

HOST = OutlineHost()
API = OUTLINE_URL + "/api"
DOCUMENT_URL = OUTLINE_URL + "/doc/onboarding-guide-hD4kq9Zt2W"
LOG_ID = "4d3c2b1a-0f9e-4d8c-b7a6-5f4e3d2c1b0a"


def wiki_config(url: str = OUTLINE_URL) -> WikiConfig:
    return WikiConfig(name=WIKI, kind="outline", url=url, secret=SECRET, api_token=API_TOKEN)


def document(event: str = "documents.update", **changes: Any) -> dict[str, Any]:
    """What documents.info answers: the same presenter as the webhook's model."""
    model = copy.deepcopy(json.loads(fixture_body(event))["payload"]["model"])
    model.update(changes)
    return model


def ok(data: Any) -> dict[str, Any]:
    return {"data": data, "status": 200, "ok": True}


def job(action: str = "updated", actor: str | None = "Grace Hopper",
        event_id: str = "d0c1e5a7-0003-4a1b-8c2d-3e4f5a6b7c03") -> dict[str, Any]:
    return {"wiki": WIKI, "event_id": event_id, "document_id": DOCUMENT_ID, "action": action, "actor": actor}


def stub_reads(mock: responses.RequestsMock, doc: dict[str, Any] | None = None,
               collection: dict[str, Any] | None = None) -> None:
    mock.post(f"{API}/documents.info", json=ok(doc or document()))
    mock.post(f"{API}/collections.info", json=ok(collection or {"id": COLLECTION_ID, "name": "Engineering"}))


def assert_outline_call(call: Any, method: str, body: dict[str, Any]) -> None:
    assert call.request.method == "POST"
    assert call.request.url == f"{API}/{method}"
    assert call.request.headers["Authorization"] == f"Bearer {API_TOKEN}"
    assert json.loads(call.request.body) == body
    timeout = call.request.req_kwargs["timeout"]
    assert timeout is not None and all(t and t > 0 for t in (timeout if isinstance(timeout, tuple) else (timeout,)))


# fetch


@responses.activate
def test_fetch_reads_the_document_and_its_collection() -> None:
    stub_reads(responses.mock)
    events = HOST.fetch(wiki_config(), job(), START)
    saved = datetime(2026, 11, 2, 8, 59, 55, tzinfo=UTC)
    assert events == [WikiEvent(
        wiki=WIKI, event_id=edit_session(DOCUMENT_ID, saved), action="updated", page_id=DOCUMENT_ID,
        title="Onboarding guide", url=DOCUMENT_URL, spaces=(COLLECTION_ID, "Engineering"), author="Grace Hopper",
        summary=None, occurred_at=saved, current=True)]
    assert len(responses.calls) == 2
    assert_outline_call(responses.calls[0], "documents.info", {"id": DOCUMENT_ID})
    assert_outline_call(responses.calls[1], "collections.info", {"id": COLLECTION_ID})


@responses.activate
def test_fetch_author_falls_back_to_the_document() -> None:
    stub_reads(responses.mock)
    assert HOST.fetch(wiki_config(), job(actor=None), START)[0].author == "Grace Hopper"
    assert HOST.fetch(wiki_config(), job(action="created", actor=None), START)[0].author == "Ada Lovelace"


@responses.activate
def test_create_and_publish_of_one_page_are_one_event() -> None:
    stub_reads(responses.mock, document("documents.create"))
    created = HOST.fetch(wiki_config(), job("created", event_id="d0c1e5a7-0001-4a1b-8c2d-3e4f5a6b7c01"), START)
    published = HOST.fetch(wiki_config(), job("created", event_id="d0c1e5a7-0002-4a1b-8c2d-3e4f5a6b7c02"), START)
    assert created[0].event_id == published[0].event_id == f"{DOCUMENT_ID}:created"


@responses.activate
def test_the_saves_of_one_editing_session_are_one_edit() -> None:
    """Outline's editor sends documents.update at every store while someone types."""
    ids = []
    for saved in ("2026-11-02T09:00:05.000Z", "2026-11-02T09:12:40.000Z", "2026-11-02T09:31:00.000Z"):
        responses.mock.reset()
        stub_reads(responses.mock, document(updatedAt=saved))
        ids.append(HOST.fetch(wiki_config(), job(), START)[0].event_id)
    assert ids[0] == ids[1] != ids[2], "a half hour later is another edit"


@responses.activate
@pytest.mark.parametrize("saved", ["9999-12-31T23:59:59.000+14:00", "0001-01-01T00:00:00.000-14:00",
                                   "2026-11-03T09:00:00.000Z"])
def test_a_save_time_outside_1970_to_now_is_taken_as_now(saved: str) -> None:
    """A day past `now` here; read back from PostgreSQL, year 9999 in a zone east of UTC cannot be."""
    stub_reads(responses.mock, document(updatedAt=saved))
    assert HOST.fetch(wiki_config(), job(), START)[0].occurred_at == START


@responses.activate
def test_a_draft_is_not_recorded() -> None:
    responses.post(f"{API}/documents.info", json=ok(document("documents.create", publishedAt=None)))
    assert HOST.fetch(wiki_config(), job("created"), START) == []
    assert len(responses.calls) == 1


@responses.activate
def test_a_page_deleted_before_the_fetch_is_not_announced_as_updated() -> None:
    responses.post(f"{API}/documents.info", json=ok(document(deletedAt="2026-11-02T08:59:57.000Z")))
    assert HOST.fetch(wiki_config(), job("updated"), START) == []


@responses.activate
def test_a_deletion_is_recorded_while_outline_still_shows_the_page_in_the_trash() -> None:
    stub_reads(responses.mock, document("documents.delete"))
    [event] = HOST.fetch(wiki_config(), job("deleted", event_id="d0c1e5a7-0004-4a1b-8c2d-3e4f5a6b7c04"), START)
    assert (event.action, event.url) == ("deleted", DOCUMENT_URL)
    assert event.event_id == "d0c1e5a7-0004-4a1b-8c2d-3e4f5a6b7c04"
    assert event.occurred_at == datetime(2026, 11, 2, 8, 59, 57, tzinfo=UTC)


@responses.activate
@pytest.mark.parametrize("action", ["created", "updated", "moved", "restored"])
def test_a_document_outline_no_longer_has_is_no_event_and_no_error(action: str) -> None:
    responses.post(f"{API}/documents.info", status=404,
                   json={"ok": False, "error": "not_found", "status": 404, "message": "Resource not found"})
    assert HOST.fetch(wiki_config(), job(action), START) == []


@responses.activate
def test_a_deletion_of_a_document_outline_no_longer_has_is_recorded_by_its_id() -> None:
    """Emptied from the trash (documents.permanent_delete, whose model is null): the page learnloop knows by
    that id is retired."""
    responses.post(f"{API}/documents.info", status=404,
                   json={"ok": False, "error": "not_found", "status": 404, "message": "Resource not found"})
    [event] = HOST.fetch(wiki_config(), job("deleted", actor=None, event_id="d0c1e5a7-0005"), START)
    assert event == WikiEvent(wiki=WIKI, event_id="d0c1e5a7-0005", action="deleted", page_id=DOCUMENT_ID, title="",
                              url="", spaces=(), author=None, summary=None, occurred_at=START)


SALES = "99999999-9999-4999-8999-999999999999"


def tree_node(node_id: str, *children: dict[str, Any]) -> dict[str, Any]:
    """A node of collections.documents: the collection's published documents as a tree."""
    return {"id": node_id, "title": f"Title of {node_id}", "url": f"/doc/{node_id}-x1", "children": list(children)}


@responses.activate
def test_a_move_is_the_document_as_it_is_now_in_its_collection() -> None:
    stub_reads(responses.mock, document("documents.move", collectionId=SALES),
               collection={"id": SALES, "name": "Sales"})
    responses.mock.post(f"{API}/collections.documents", json=ok([tree_node("other")]))
    [event] = HOST.fetch(wiki_config(), job("moved", event_id="d0c1e5a7-0006"), START)
    assert (event.action, event.url, event.spaces) == ("moved", DOCUMENT_URL, (SALES, "Sales"))
    assert_outline_call(responses.mock.calls[-1], "collections.documents", {"id": SALES})


@responses.activate
def test_the_documents_nested_under_a_moved_one_follow_it() -> None:
    """Outline sends one documents.move for a document and those nested under it: each is read again from the
    new collection's tree, for learnloop to follow if it follows them."""
    stub_reads(responses.mock, document("documents.move", collectionId=SALES),
               collection={"id": SALES, "name": "Sales"})
    nested = tree_node(DOCUMENT_ID, tree_node("child-a", tree_node("grandchild")), tree_node("child-b"),
                       {"id": "../bad", "url": "https://elsewhere.example/x", "children": []})
    responses.mock.post(f"{API}/collections.documents", json=ok([tree_node("top", nested), tree_node("sibling")]))
    moved, *rest = HOST.fetch(wiki_config(), job("moved", event_id="d0c1e5a7-0006"), START)
    assert not moved.follow_only
    assert sorted((e.page_id, e.url, e.title, e.spaces, e.event_id, e.follow_only, e.action) for e in rest) == [
        (page, f"{OUTLINE_URL}/doc/{page}-x1", f"Title of {page}", (SALES, "Sales"), f"d0c1e5a7-0006:{page}", True,
         "moved") for page in ("child-a", "child-b", "grandchild")], "not the sibling, nor a node with a bad id"


@responses.activate
def test_a_collection_tree_outline_will_not_give_leaves_the_move_alone() -> None:
    stub_reads(responses.mock, document("documents.move", collectionId=SALES),
               collection={"id": SALES, "name": "Sales"})
    responses.mock.post(f"{API}/collections.documents", status=403,
                        json={"ok": False, "error": "authorization_error", "status": 403})
    [event] = HOST.fetch(wiki_config(), job("moved", event_id="d0c1e5a7-0006"), START)
    assert event.action == "moved"
    responses.mock.replace(responses.POST, f"{API}/collections.documents", status=503)
    with pytest.raises(WikiError) as error:
        HOST.fetch(wiki_config(), job("moved", event_id="d0c1e5a7-0006"), START)
    assert error.value.retryable


@responses.activate
def test_an_archived_document_is_gone_and_its_restore_brings_it_back() -> None:
    stub_reads(responses.mock, document("documents.archive"))
    [archived] = HOST.fetch(wiki_config(), job("deleted", event_id="d0c1e5a7-0007"), START)
    assert (archived.action, archived.url) == ("deleted", DOCUMENT_URL)
    assert archived.occurred_at == datetime(2026, 11, 2, 8, 59, 57, tzinfo=UTC)
    assert HOST.fetch(wiki_config(), job("updated"), START) == [], "an archived document's edits are not news"
    assert HOST.fetch(wiki_config(), job("restored"), START) == [], "archived again since the restore"
    responses.replace(responses.POST, f"{API}/documents.info", json=ok(document("documents.unarchive")))
    [restored] = HOST.fetch(wiki_config(), job("restored", event_id="d0c1e5a7-0008"), START)
    assert (restored.action, restored.url) == ("restored", DOCUMENT_URL)
    assert restored.spaces == (COLLECTION_ID, "Engineering")
    assert HOST.fetch(wiki_config(), job("deleted"), START) == [], "restored since the deletion"


@responses.activate
def test_a_document_back_in_the_drafts_is_gone_until_it_is_published_again() -> None:
    """Unpublished, only its author reads it: retired like a deleted page, so nobody rates it meanwhile."""
    stub_reads(responses.mock, document(publishedAt=None, collectionId=None))
    [unpublished] = HOST.fetch(wiki_config(), job("deleted", event_id="d0c1e5a7-0009"), START)
    assert (unpublished.action, unpublished.page_id) == ("deleted", DOCUMENT_ID)
    assert HOST.fetch(wiki_config(), job("updated"), START) == [], "a draft's edits are not news"
    responses.mock.reset()
    stub_reads(responses.mock, document("documents.publish"))
    [published] = HOST.fetch(wiki_config(), job("created", event_id="d0c1e5a7-0010"), START)
    assert published.action == "created" and published.current, "published again: the page as it is now"
    assert HOST.fetch(wiki_config(), job("deleted"), START) == [], "published since it went back to the drafts"


@responses.activate
@pytest.mark.parametrize(("status", "retryable"), [(500, True), (502, True), (503, True), (429, True),
                                                   (401, False), (403, False), (400, False)])
def test_api_failures_say_whether_to_retry(status: int, retryable: bool) -> None:
    responses.post(f"{API}/documents.info", status=status,
                   json={"ok": False, "error": "x", "status": status, "message": f"failed with {API_TOKEN}"})
    with pytest.raises(WikiError) as raised:
        HOST.fetch(wiki_config(), job(), START)
    assert raised.value.retryable is retryable
    assert API_TOKEN not in str(raised.value)


@responses.activate
def test_a_rate_limit_says_when_to_come_back() -> None:
    responses.post(f"{API}/documents.info", status=429, headers={"Retry-After": "45"},
                   json={"ok": False, "error": "rate_limit_exceeded", "status": 429})
    with pytest.raises(WikiError) as raised:
        HOST.fetch(wiki_config(), job(), START)
    assert raised.value.retry_after == 45.0 and raised.value.retryable


@responses.activate
def test_network_failure_is_retryable() -> None:
    responses.post(f"{API}/documents.info", body=requests.ConnectionError("refused"))
    with pytest.raises(WikiError) as raised:
        HOST.fetch(wiki_config(), job(), START)
    assert raised.value.retryable is True


@responses.activate
def test_a_timeout_is_retryable() -> None:
    responses.post(f"{API}/documents.info", body=requests.ReadTimeout("slow"))
    with pytest.raises(WikiError) as raised:
        HOST.fetch(wiki_config(), job(), START)
    assert raised.value.retryable is True


@responses.activate
def test_a_redirect_is_not_followed() -> None:
    responses.post(f"{API}/documents.info", status=302, headers={"Location": "https://elsewhere.example.net/api"})
    with pytest.raises(WikiError) as raised:
        HOST.fetch(wiki_config(), job(), START)
    assert raised.value.retryable is False
    assert len(responses.calls) == 1


@responses.activate
def test_a_non_json_answer_is_not_retried() -> None:
    responses.post(f"{API}/documents.info", body="<html>Sign in</html>", content_type="text/html")
    with pytest.raises(WikiError) as raised:
        HOST.fetch(wiki_config(), job(), START)
    assert raised.value.retryable is False


@responses.activate
def test_collection_name_is_optional_but_a_flaky_outline_is_retried() -> None:
    responses.post(f"{API}/documents.info", json=ok(document()))
    responses.post(f"{API}/collections.info", status=403, json={"ok": False, "error": "authorization_error"})
    assert HOST.fetch(wiki_config(), job(), START)[0].spaces == (COLLECTION_ID,)
    responses.replace(responses.POST, f"{API}/collections.info", status=503)
    with pytest.raises(WikiError) as raised:
        HOST.fetch(wiki_config(), job(), START)
    assert raised.value.retryable is True


@responses.activate
def test_only_the_configured_outline_is_called_whatever_the_delivery_says() -> None:
    """A signed delivery's model names another host; the worker still asks only the configured wiki."""
    delivery = json.loads(fixture_body("documents.update"))
    delivery["payload"]["model"]["url"] = "https://evil.example.net/steal"
    delivery["payload"]["model"]["collectionId"] = "http://169.254.169.254/latest/meta-data"
    body = json.dumps(delivery).encode()
    now = START
    [queued] = HOST.receive(wiki_config(), body, {"Outline-Signature": sign(SECRET, body, int(now.timestamp() * 1000))},
                            {}, now)
    stub_reads(responses.mock)
    [event] = HOST.fetch(wiki_config(OUTLINE_URL + "/"), {"wiki": WIKI, **queued}, now)
    assert event.url == DOCUMENT_URL
    assert {call.request.url.split("/api/")[0] for call in responses.calls} == {OUTLINE_URL}


@responses.activate
@pytest.mark.parametrize("url", ["https://evil.example.net/doc/x", "//evil.example.net/doc/x", None, "doc/x"])
def test_an_api_url_that_is_not_relative_is_refused(url: str | None) -> None:
    stub_reads(responses.mock, document(url=url))
    with pytest.raises(WikiError) as raised:
        HOST.fetch(wiki_config(), job(), START)
    assert raised.value.retryable is False


def test_client_refuses_anything_but_an_rpc_method_name() -> None:
    client = OutlineClient(OUTLINE_URL, API_TOKEN)
    for method in ("../admin", "documents.info?x=1", "https://evil.example.net/x", "documents/info"):
        with pytest.raises(ValueError):
            client.call(method, {})


def test_poll_has_nothing_to_do() -> None:
    assert HOST.poll(wiki_config(), "cursor-1", START) == ([], "cursor-1")
    assert HOST.poll(wiki_config(), None, START) == ([], None)


def test_the_outline_kind_is_registered() -> None:
    assert isinstance(wiki_hosts()[wiki_config().kind], OutlineHost)


# publish


MARKER = "learnloop-reflection-42-k3q9x7m2ab"
MARK = f"[\u200b](#{MARKER})"


def _new_log(url: str = "/doc/learning-log-Lg7Kp2Qw9X", **changes: Any) -> dict[str, Any]:
    return document("documents.create", id=LOG_ID, title="Learning log", url=url, urlId="Lg7Kp2Qw9X", **changes)


@responses.activate
def test_publish_appends_a_section_to_the_existing_page_in_a_collection_named_by_id() -> None:
    responses.post(f"{API}/documents.search_titles", json=ok([
        document("documents.create", id="aaaaaaaa-0000-4000-8000-000000000000", title="Learning log (old)"),
        _new_log(),
    ]))
    responses.post(f"{API}/documents.info", json=ok(_new_log(text="## 2026-11-01 · Bo\n\nEarlier.")))
    responses.post(f"{API}/documents.update", json=ok(_new_log()))
    published = HOST.publish(wiki_config(), space=COLLECTION_ID, page_title="Learning log",
                             heading="2026-11-02 · Ada Lovelace", text="Pairing on the VPN setup taught me a lot.\n",
                             marker=MARKER)
    assert published == Published(OUTLINE_URL + "/doc/learning-log-Lg7Kp2Qw9X", "Learning log", LOG_ID)
    assert len(responses.calls) == 3
    assert_outline_call(responses.calls[0], "documents.search_titles",
                        {"query": "Learning log", "collectionId": COLLECTION_ID, "limit": 100, "offset": 0})
    assert_outline_call(responses.calls[1], "documents.info", {"id": LOG_ID})
    assert_outline_call(responses.calls[2], "documents.update", {
        "id": LOG_ID, "append": True,
        "text": f"\n\n## 2026\\-11\\-02 · Ada Lovelace {MARK}\n\nPairing on the VPN setup taught me a lot\\.\n"})


@responses.activate
def test_a_document_that_carries_the_marker_is_not_written_again() -> None:
    """However Outline's editor wrote the marker's link back (here without its zero-width text)."""
    responses.post(f"{API}/documents.search_titles", json=ok([_new_log()]))
    responses.post(f"{API}/documents.info", json=ok(_new_log(text=f"## 2026-11-02 · Ann [](#{MARKER})\n\nEdited.")))
    published = HOST.publish(wiki_config(), space=COLLECTION_ID, page_title="Learning log", heading="h", text="t",
                             marker=MARKER)
    assert published.page_ref == LOG_ID and len(responses.calls) == 2


@responses.activate
def test_a_learning_log_back_in_the_drafts_is_published_again_before_a_reflection_goes_on_it() -> None:
    """Outline's search_titles lists the API user's own drafts, and learnloop made the log: appended to as a draft,
    the reflection would be on a page only learnloop's API user reads."""
    draft = _new_log(publishedAt=None)
    responses.post(f"{API}/documents.search_titles", json=ok([draft]))
    responses.post(f"{API}/documents.info", json=ok({**draft, "text": "## 2026-11-01 · Bo\n\nEarlier."}))
    responses.post(f"{API}/documents.update", json=ok(_new_log()))
    published = HOST.publish(wiki_config(), space=COLLECTION_ID, page_title="Learning log", heading="h", text="t",
                             marker=MARKER)
    assert published == Published(OUTLINE_URL + "/doc/learning-log-Lg7Kp2Qw9X", "Learning log", LOG_ID)
    assert [call.request.url.rsplit("/", 1)[1] for call in responses.calls] == [
        "documents.search_titles", "documents.info", "documents.update", "documents.update"]
    assert_outline_call(responses.calls[2], "documents.update",
                        {"id": LOG_ID, "publish": True, "collectionId": COLLECTION_ID})
    assert json.loads(responses.calls[3].request.body)["append"] is True


@responses.activate
def test_a_reflection_goes_to_the_log_learnloop_last_published_to_wherever_an_admin_moved_it() -> None:
    """Moved to another collection and renamed: a search by title in the configured collection finds nothing."""
    moved = {**_new_log(collectionId=SALES), "title": "Our learning log"}
    responses.post(f"{API}/documents.info", json=ok({**moved, "text": "## 2026-11-01 · Bo\n\nEarlier."}))
    responses.post(f"{API}/documents.update", json=ok(moved))
    published = HOST.publish(wiki_config(), space=COLLECTION_ID, page_title="Learning log", heading="h", text="t",
                             marker=MARKER, last_page=LOG_ID)
    assert published == Published(OUTLINE_URL + "/doc/learning-log-Lg7Kp2Qw9X", "Our learning log", LOG_ID)
    assert [call.request.url.rsplit("/", 1)[1] for call in responses.calls] == ["documents.info", "documents.update"]
    assert_outline_call(responses.calls[0], "documents.info", {"id": LOG_ID})


@responses.activate
def test_a_reflection_goes_to_the_log_learnloop_last_published_to_after_its_collection_was_renamed() -> None:
    """The remembered log needs no collection: none is looked up, so a renamed one stops nothing."""
    responses.post(f"{API}/collections.list", json=ok([{"id": COLLECTION_ID, "name": "Engineering (old)"}]))
    responses.post(f"{API}/documents.info", json=ok(_new_log(text="## 2026-11-01 · Bo\n\nEarlier.")))
    responses.post(f"{API}/documents.update", json=ok(_new_log()))
    published = HOST.publish(wiki_config(), space="Engineering", page_title="Learning log", heading="h", text="t",
                             marker=MARKER, last_page=LOG_ID)
    assert published.page_ref == LOG_ID
    assert [call.request.url.rsplit("/", 1)[1] for call in responses.calls] == ["documents.info", "documents.update"]


@responses.activate
@pytest.mark.parametrize("gone", [{"deletedAt": "2026-11-03T10:00:00.000Z"}, {"archivedAt": "2026-11-03T10:00:00.000Z"},
                                  {"publishedAt": None}, None])
def test_a_log_learnloop_last_published_to_that_is_gone_is_looked_for_by_its_title(
        gone: dict[str, Any] | None) -> None:
    if gone is None:  # emptied from the trash
        responses.post(f"{API}/documents.info", status=404, json={"ok": False, "status": 404})
    else:
        responses.post(f"{API}/documents.info", json=ok(_new_log(collectionId=SALES, **gone)))
    responses.post(f"{API}/documents.search_titles", json=ok([]))
    responses.post(f"{API}/documents.create", json=ok(document(
        "documents.create", id="bbbbbbbb-0000-4000-8000-000000000000", title="Learning log",
        url="/doc/learning-log-Bb7Kp2Qw9X")))
    published = HOST.publish(wiki_config(), space=COLLECTION_ID, page_title="Learning log", heading="h", text="t",
                             marker=MARKER, last_page=LOG_ID)
    assert published.page_ref == "bbbbbbbb-0000-4000-8000-000000000000"
    assert [call.request.url.rsplit("/", 1)[1] for call in responses.calls] == [
        "documents.info", "documents.search_titles", "documents.create"]


@responses.activate
def test_publish_creates_the_page_in_a_collection_named_by_name() -> None:
    responses.post(f"{API}/collections.list", json=ok([
        {"id": "99999999-9999-4999-8999-999999999999", "name": "Sales", "urlId": "sAl3sXyZ12"},
        {"id": COLLECTION_ID, "name": "Engineering", "urlId": "eNg1nEeR12"},
    ]))
    responses.post(f"{API}/documents.search_titles", json=ok([]))
    responses.post(f"{API}/documents.create", json=ok(_new_log()))
    published = HOST.publish(wiki_config(), space="engineering", page_title="Learning log",
                             heading="2026-11-02 · Ada\n## injected", text="Short one.", marker=MARKER)
    assert published.url == OUTLINE_URL + "/doc/learning-log-Lg7Kp2Qw9X" and published.page_ref == LOG_ID
    assert [call.request.url for call in responses.calls] == [
        f"{API}/collections.list", f"{API}/documents.search_titles", f"{API}/documents.create"]
    assert_outline_call(responses.calls[0], "collections.list", {"offset": 0, "limit": 100})
    assert_outline_call(responses.calls[2], "documents.create", {
        "title": "Learning log", "collectionId": COLLECTION_ID, "publish": True,
        "text": f"## 2026\\-11\\-02 · Ada \\#\\# injected {MARK}\n\nShort one\\.\n"})


@responses.activate
def test_publish_to_an_unknown_collection_is_not_retried() -> None:
    responses.post(f"{API}/collections.list", json=ok([{"id": COLLECTION_ID, "name": "Engineering"}]))
    with pytest.raises(WikiError) as raised:
        HOST.publish(wiki_config(), space="Marketing", page_title="Learning log", heading="h", text="t",
                     marker=MARKER)
    assert raised.value.retryable is False


@responses.activate
def test_publish_failure_is_retryable_when_outline_is_down() -> None:
    responses.post(f"{API}/documents.search_titles", json=ok([]))
    responses.post(f"{API}/documents.create", status=502)
    with pytest.raises(OutlineError) as raised:
        HOST.publish(wiki_config(), space=COLLECTION_ID, page_title="Learning log", heading="h", text="t",
                     marker=MARKER)
    assert raised.value.retryable is True


def test_the_authors_markdown_and_html_render_as_written() -> None:
    """Rendered by markdown-it set up as Outline sets it up: only learnloop's heading, paragraphs, line breaks
    and the marker's link are markup; everything the author typed is text."""
    text = ("# heading\n[link](javascript:alert(1)) <script>alert(2)</script> **bold** `code` ```\n"
            "| a | b |\n|---|---|\n| 1 | 2 |\n\n    indented\n1. one\n- item\n> quote\n"
            "![img](https://x.example/i.png) <https://x.example> &amp; \\*esc\\* ~~strike~~ ==mark== :::info\n"
            "Setext\n===")
    section = markdown_section("2026-11-02 · Ann *x* [y](z)", text, MARKER)
    html = OUTLINE_MARKDOWN.render(section)
    tags = sorted(set(re.findall(r"<(/?[a-z0-9]+)", html)))
    assert tags == ["/a", "/h2", "/p", "a", "br", "h2", "p"]
    assert html.count("<a ") == 1 and f'<a href="#{MARKER}">\u200b</a>' in html
    assert html.startswith("<h2>2026-11-02 · Ann *x* [y](z) <a")
    for shown in ("# heading", "[link](javascript:alert(1))", "&lt;script&gt;alert(2)&lt;/script&gt;",
                  "**bold**", "`code` ```", "| a | b |", "|---|---|", "indented", "1. one", "- item", "&gt; quote",
                  "![img](https://x.example/i.png)", "&lt;https://x.example&gt;", "&amp;amp;", "\\*esc\\*",
                  "~~strike~~", "==mark==", ":::info", "Setext", "==="):
        assert shown in html, shown
    assert html.count("<p>") == 2, "the blank line still separates two paragraphs"


def test_a_marker_learnloop_did_not_make_goes_nowhere() -> None:
    with pytest.raises(WikiError) as refused:
        markdown_section("h", "t", "learnloop-reflection-1)](javascript:x)")
    assert refused.value.retryable is False


@responses.activate
@pytest.mark.parametrize("lost", ["documents.create", "documents.update"])
def test_a_retry_after_a_lost_answer_appends_once(lost: str) -> None:
    outline = OutlineStandIn(responses.mock, OUTLINE_URL, API_TOKEN, [{"id": COLLECTION_ID, "name": "Engineering"}])
    if lost == "documents.update":
        outline.add_document("Learning log", "## 2026\\-11\\-01 · Bo\n\nEarlier\\.\n", COLLECTION_ID)
    outline.lose_answer_to(lost)
    with pytest.raises(OutlineError) as failed:
        HOST.publish(wiki_config(), space=COLLECTION_ID, page_title="Learning log", heading="2026-11-02 · Ann",
                     text="Once only.", marker=MARKER)
    assert failed.value.retryable is True and outline.lost == [lost]

    published = HOST.publish(wiki_config(), space=COLLECTION_ID, page_title="Learning log",
                             heading="2026-11-02 · Ann", text="Once only.", marker=MARKER)

    [log] = outline.documents.values()
    assert published == Published(OUTLINE_URL + log["url"], "Learning log", log["id"])
    assert [write for write, _ in outline.writes] == [lost], "the retry found the marker and wrote nothing"
    assert log["text"].count(MARKER) == 1 and log["text"].count("Once only") == 1
    assert outline.rendered(log["id"]).count("<h2>2026-11-02 · Ann") == 1


# remove


def _two_sections(outline: OutlineStandIn) -> Published:
    first = HOST.publish(wiki_config(), space=COLLECTION_ID, page_title="Learning log", heading="2026-11-02 · Ann",
                         text="Ann's [text](x)\nsecond line", marker=MARKER)
    HOST.publish(wiki_config(), space=COLLECTION_ID, page_title="Learning log", heading="2026-11-03 · Bob",
                 text="Bob stays.", marker="learnloop-reflection-43-z9y8x7w6vu")
    return first


@responses.activate
def test_remove_writes_the_document_back_without_the_section() -> None:
    outline = OutlineStandIn(responses.mock, OUTLINE_URL, API_TOKEN, [{"id": COLLECTION_ID, "name": "Engineering"}])
    published = _two_sections(outline)
    [log] = outline.documents.values()
    log["text"] = "Our log, edited in Outline.\n\n```\n## not a heading\n```\n\n" + log["text"]

    assert HOST.remove(wiki_config(), page_ref=published.page_ref, marker=MARKER) == Removed(True)

    assert outline.writes[-1] == ("documents.update", {"id": log["id"], "text": log["text"]})
    assert "Ann" not in log["text"] and MARKER not in log["text"]
    assert log["text"].startswith(
        "Our log, edited in Outline.\n\n```\n## not a heading\n```\n\n## 2026\\-11\\-03 · Bob")
    assert "Bob stays\\." in log["text"]
    assert HOST.remove(wiki_config(), page_ref=published.page_ref, marker=MARKER) == Removed(False)
    assert len(outline.writes) == 3, "removing twice writes nothing the second time"


@responses.activate
def test_remove_from_a_document_outline_no_longer_has_or_has_in_the_trash() -> None:
    outline = OutlineStandIn(responses.mock, OUTLINE_URL, API_TOKEN, [{"id": COLLECTION_ID, "name": "Engineering"}])
    published = _two_sections(outline)
    outline.documents[published.page_ref]["deletedAt"] = "2026-11-04T10:00:00.000Z"
    assert HOST.remove(wiki_config(), page_ref=published.page_ref, marker=MARKER) == Removed(False, gone=True)
    del outline.documents[published.page_ref]
    assert HOST.remove(wiki_config(), page_ref=published.page_ref, marker=MARKER) == Removed(False, gone=True)
    with pytest.raises(WikiError) as refused:
        HOST.remove(wiki_config(), page_ref="../../api/auth.info", marker=MARKER)
    assert refused.value.retryable is False


@responses.activate
def test_a_refused_removal_says_whether_to_try_again() -> None:
    responses.post(f"{API}/documents.info", json=ok(_new_log(text=markdown_section("h", "t", MARKER))))
    responses.post(f"{API}/documents.update", status=403, json={"ok": False, "error": "authorization_error",
                                                                 "status": 403, "message": "Authorization error"})
    with pytest.raises(OutlineError) as refused:
        HOST.remove(wiki_config(), page_ref=LOG_ID, marker=MARKER)
    assert refused.value.retryable is False and "Authorization error" in str(refused.value)


def test_a_section_ends_at_the_next_heading_of_its_level() -> None:
    text = (f"Intro\n\n## Ann {MARK}\n\nText\n\n### Reply someone added\n\nReply\n\n# Top\n\nAfter\n\n"
            f"## Other\n\nMore")
    assert without_markdown_section(text, MARKER) == "Intro\n\n# Top\n\nAfter\n\n## Other\n\nMore"
    assert without_markdown_section(f"## Ann {MARK}\n\nText", MARKER) == ""
    assert without_markdown_section("## Ann\n\nText", MARKER) is None


# end to end: route → outbox → worker → content item, event, announcement posted at once


@pytest.fixture
def runtime(engine: Engine, clock: FakeClock) -> Any:
    return outline_runtime(engine, clock)


@pytest.fixture
def client(runtime: Any) -> FlaskClient:
    app = create_app(runtime)
    app.config["TESTING"] = True
    return app.test_client()


def _run_fetches(runtime: Any) -> list[dict[str, Any]]:
    results = []
    for payload in fetch_jobs(runtime):
        results.append(wiki_jobs_support.fetch(runtime, payload, 1))
    return results


@responses.activate
def test_end_to_end_a_new_page_becomes_an_item_an_event_and_a_pending_announcement(
        client: FlaskClient, runtime: Any, clock: FakeClock) -> None:
    for event in ("documents.create", "documents.publish"):
        body = fixture_body(event)
        assert deliver(client, body, signature(body, clock())).status_code == 200
    stub_reads(responses.mock, document("documents.create"))
    clock.advance(seconds=5)
    assert _run_fetches(runtime) == [{"events": 1, "recorded": 1}, {"events": 1, "recorded": 0}]

    with runtime.uow() as uow:
        item = uow.items.by_url(DOCUMENT_URL)
        assert item is not None and item.kind == "wiki_page" and item.title == "Onboarding guide"
        assert item.community_id is not None
        [recorded] = uow.events.of_kind("wiki_page_created")
        assert recorded.item_id == item.id and recorded.dedupe_key == f"wiki:{WIKI}:{DOCUMENT_ID}:created"
        [announcement] = uow.session.scalars(select(Announcement)).all()
        assert (announcement.status, announcement.item_id, announcement.created_page) == ("queued", item.id, True)
        assert announcement.authors == [{"name": "Ada Lovelace"}]
        assert announcement.due_at > clock()

    # an edit in the same burst joins the announcement posted at once
    body = fixture_body("documents.update")
    assert deliver(client, body, signature(body, clock())).status_code == 200
    responses.replace(responses.POST, f"{API}/documents.info", json=ok(document("documents.update")))
    with runtime.uow() as uow:
        update_job = next(m.payload for m in uow.outbox.pending() if m.payload.get("action") == "updated")
    assert wiki_jobs_support.fetch(runtime, update_job, 1) == {"events": 1, "recorded": 1}
    with runtime.uow() as uow:
        [announcement] = uow.session.scalars(select(Announcement)).all()
        assert announcement.edits == 2
        assert [a["name"] for a in announcement.authors] == ["Ada Lovelace", "Grace Hopper"]
        assert len(uow.session.scalars(select(ContentItem)).all()) == 1
    assert all(call.request.url.startswith(API + "/") for call in responses.calls)


@responses.activate
def test_end_to_end_outline_down_is_retried_by_the_outbox(client: FlaskClient, runtime: Any,
                                                          clock: FakeClock) -> None:
    body = fixture_body("documents.update")
    assert deliver(client, body, signature(body, clock())).status_code == 200
    responses.post(f"{API}/documents.info", status=503)
    [payload] = fetch_jobs(runtime)
    assert payload["wiki"] == WIKI
    with pytest.raises(HostError) as raised:
        wiki_jobs_support.fetch(runtime, payload, 1)
    assert raised.value.retryable is True
    with runtime.uow() as uow:
        assert uow.session.scalars(select(ContentItem)).all() == []


@responses.activate
def test_end_to_end_a_deleted_document_is_retired_and_a_restored_one_is_back(
        client: FlaskClient, runtime: Any, clock: FakeClock) -> None:
    stub_reads(responses.mock)
    for event in ("documents.create", "documents.delete", "documents.restore", "documents.permanent_delete"):
        body = fixture_body(event)
        assert deliver(client, body, signature(body, clock())).status_code == 200
        if event == "documents.permanent_delete":
            responses.replace(responses.POST, f"{API}/documents.info", status=404, json={"ok": False, "status": 404})
        else:
            responses.replace(responses.POST, f"{API}/documents.info", json=ok(document(event)))
        [queued] = [job for job in fetch_jobs(runtime) if job["event_id"] == json.loads(body)["id"]]
        assert wiki_jobs_support.fetch(runtime, queued, 1) == {"events": 1, "recorded": 1}, event
        with runtime.reader() as uow:
            [item] = uow.session.scalars(select(ContentItem)).all()
        assert (item.url, item.page_ref) == (DOCUMENT_URL, DOCUMENT_ID)
        assert (item.retired_at is not None) is event.endswith("delete"), event


def test_a_reflection_for_a_log_back_in_the_drafts_is_told_to_be_in_the_log_once_it_is_published_again(
        runtime: Any) -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        outline = OutlineStandIn(mock, OUTLINE_URL, API_TOKEN, [{"id": COLLECTION_ID, "name": "Engineering"}])
        log = outline.add_document("Learning log: Engineering", "## 2026\\-11\\-01 · Bo\n\nEarlier\\.\n",
                                   COLLECTION_ID)
        log["publishedAt"] = None  # someone moved it back to the drafts (documents.unpublish)
        reflection_id = published(runtime, "ann", "Ann reflects.", channel=CHANNEL)
        url = OUTLINE_URL + log["url"]
        assert wiki_jobs_support.publish(runtime, {"reflection_id": reflection_id}) == {"published": True, "url": url}
    assert log["publishedAt"] and "Ann reflects" in outline.rendered(log["id"])
    assert len(outline.documents) == 1
    with runtime.reader() as uow:
        [told] = uow.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == SEND_DM)).all()
    assert told.payload == {"user_id": uid("ann"), "message": f"Your reflection is in the learning log: {url}"}


def test_a_reflection_goes_to_the_log_its_community_published_to_after_an_admin_moved_and_renamed_it(
        runtime: Any) -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        outline = OutlineStandIn(mock, OUTLINE_URL, API_TOKEN, [{"id": COLLECTION_ID, "name": "Engineering"},
                                                                {"id": SALES, "name": "Sales"}])
        first = wiki_jobs_support.publish(runtime, {"reflection_id": published(runtime, "ann", "Ann.", CHANNEL)})
        [log] = outline.documents.values()
        log.update(collectionId=SALES, title="Our learning log")  # an admin moves and renames it
        second = wiki_jobs_support.publish(runtime, {"reflection_id": published(runtime, "bob", "Bob.", CHANNEL)})
    assert first == second == {"published": True, "url": OUTLINE_URL + log["url"]}
    assert len(outline.documents) == 1 and "Ann" in log["text"] and "Bob" in log["text"]


@pytest.mark.parametrize("access", [None, "read"])
def test_a_log_moved_out_of_the_api_tokens_reach_is_left_for_one_in_the_configured_collection(
        access: str | None, runtime: Any) -> None:
    """Outline answers 403 for a document its API token's user may not read, or update: the log is left as a
    deleted one is, and the reflections after the first in the new log go there too."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        outline = OutlineStandIn(mock, OUTLINE_URL, API_TOKEN, [{"id": COLLECTION_ID, "name": "Engineering"},
                                                                {"id": SALES, "name": "Sales"}])
        wiki_jobs_support.publish(runtime, {"reflection_id": published(runtime, "ann", "Ann.", CHANNEL)})
        [old] = outline.documents.values()
        old["collectionId"] = SALES  # an admin moves it into a collection learnloop's token may not read or write
        outline.access[SALES] = access
        second = wiki_jobs_support.publish(runtime, {"reflection_id": published(runtime, "bob", "Bob.", CHANNEL)})
        third = wiki_jobs_support.publish(runtime, {"reflection_id": published(runtime, "cy", "Cy.", CHANNEL)})
        [new] = [document for document in outline.documents.values() if document is not old]
    assert second == third == {"published": True, "url": OUTLINE_URL + new["url"]}
    assert (new["collectionId"], new["title"]) == (COLLECTION_ID, "Learning log: Engineering")
    assert "Bob" in new["text"] and "Cy" in new["text"] and "Bob" not in old["text"]


@pytest.mark.parametrize("access", [None, "read"])
def test_a_configured_collection_the_api_token_may_not_write_to_fails_saying_so(access: str | None) -> None:
    """Even after the remembered log turned out to be out of the token's reach too."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        outline = OutlineStandIn(mock, OUTLINE_URL, API_TOKEN, [{"id": COLLECTION_ID, "name": "Engineering"},
                                                                {"id": SALES, "name": "Sales"}])
        old = outline.add_document("Learning log", "Earlier\\.", SALES)
        outline.access.update({SALES: None, COLLECTION_ID: access})
        with pytest.raises(WikiError) as raised:
            HOST.publish(wiki_config(), space=COLLECTION_ID, page_title="Learning log", heading="h", text="t",
                         marker=MARKER, last_page=old["id"])
    assert raised.value.retryable is False and outline.writes == []
    assert str(raised.value).startswith(f"learnloop's API token may not write to the Outline collection "
                                        f"'{COLLECTION_ID}' (Outline documents.")
    assert "HTTP 403" in str(raised.value)


@pytest.mark.parametrize(("changed", "collection_id", "title"), [
    ({"space": "Sales"}, SALES, "Learning log: Engineering"),
    ({"learning_log_page": "Learning log 2027"}, COLLECTION_ID, "Learning log 2027")])
def test_a_reflection_goes_to_the_newly_configured_log_once_an_admin_changes_the_space_or_the_title(
        changed: dict[str, str], collection_id: str, title: str, runtime: Any, engine: Engine,
        clock: FakeClock) -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        outline = OutlineStandIn(mock, OUTLINE_URL, API_TOKEN, [{"id": COLLECTION_ID, "name": "Engineering"},
                                                                {"id": SALES, "name": "Sales"}])
        wiki_jobs_support.publish(runtime, {"reflection_id": published(runtime, "ann", "Ann.", CHANNEL)})
        [old] = outline.documents.values()
        configured = outline_runtime(engine, clock, **changed)  # learnloop.toml changed, learnloop restarted
        second = wiki_jobs_support.publish(configured, {"reflection_id": published(configured, "bob", "Bob.",
                                                                                   CHANNEL)})
        [new] = [document for document in outline.documents.values() if document is not old]
    assert second == {"published": True, "url": OUTLINE_URL + new["url"]}
    assert (new["collectionId"], new["title"]) == (collection_id, title) and "Bob" in new["text"]
    assert (old["collectionId"], old["title"]) == (COLLECTION_ID, "Learning log: Engineering")
    assert "Ann" in old["text"] and "Bob" not in old["text"]


@pytest.mark.parametrize("gone", ["deleted", "erased"])
def test_the_log_is_remembered_by_its_page_alone_after_the_reflections_that_went_to_it_are_gone(
        gone: str, runtime: Any, engine: Engine) -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        outline = OutlineStandIn(mock, OUTLINE_URL, API_TOKEN, [{"id": COLLECTION_ID, "name": "Engineering"},
                                                                {"id": SALES, "name": "Sales"}])
        ann = published(runtime, "ann", "Ann.", CHANNEL)
        wiki_jobs_support.publish(runtime, {"reflection_id": ann})
        [log] = outline.documents.values()
        log.update(collectionId=SALES, title="Our learning log")  # an admin moves and renames it
        with runtime.uow() as uow:
            if gone == "deleted":
                reflections.delete(uow, uid("ann"), ann, runtime.clock())
                uow.commit()
            else:
                personal_data.erase(uow, uid("ann"), "ann", runtime.clock(), runtime.signing_key, announcer(runtime))
        with runtime.reader() as uow:
            remembered = [(cursor.name, cursor.position) for cursor in uow.session.scalars(
                select(Cursor).where(Cursor.name.like("learning-log:%")))]
        assert remembered == [(learning_log_cursor(WIKI, "Engineering", "Learning log: Engineering"), log["id"])]
        second = wiki_jobs_support.publish(runtime, {"reflection_id": published(runtime, "bob", "Bob.", CHANNEL)})
    assert second == {"published": True, "url": OUTLINE_URL + log["url"]}
    assert len(outline.documents) == 1 and "Bob" in log["text"]
    assert gone == "deleted" or uid("ann") not in everything_stored(engine)
